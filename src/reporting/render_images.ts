/**
 * Figures to image files with sharp: SVG rendered to PNG, and frames joined into an
 * animated GIF. Files are written to a temporary sibling and renamed into place, so a
 * picture on disk is always complete.
 */

import type SharpModule from 'sharp';
import { EnvironmentError, UserError } from '../errors';
import { writeFileSafely } from '../files/atomic';
import { Figure } from './svg';

/**
 * sharp, loaded on first use: it is an optional dependency (a library-only install skips
 * it), so only drawing a picture needs it.
 */
function sharp(...args: Parameters<typeof SharpModule>): ReturnType<typeof SharpModule> {
  let module: typeof SharpModule;
  try {
    module = require('sharp') as typeof SharpModule;
  } catch (err) {
    throw new EnvironmentError(
      `drawing pictures needs the optional package sharp, which failed to load (${(err as Error).message.split('\n')[0]}); run npm install sharp`,
    );
  }
  return module(...args);
}

/** The figure as PNG bytes. */
export async function renderPng(figure: Figure): Promise<Buffer> {
  return sharp(Buffer.from(figure.svg)).png().toBuffer();
}

/**
 * Frames as one looping animated GIF. All frames must have the same size; `delaysMs`
 * gives each frame's display time (one value for all, or one per frame).
 */
export async function renderGif(frames: readonly Figure[], delaysMs: number | readonly number[]): Promise<Buffer> {
  if (frames.length === 0) throw new UserError('an animation needs at least one frame');
  const { width, height } = frames[0];
  const odd = frames.findIndex((f) => f.width !== width || f.height !== height);
  if (odd >= 0) {
    throw new UserError(`animation frame ${odd} is ${frames[odd].width}x${frames[odd].height}, frame 0 is ${width}x${height}`);
  }
  const delay = typeof delaysMs === 'number' ? frames.map(() => delaysMs) : [...delaysMs];
  if (delay.length !== frames.length) throw new UserError(`${delay.length} frame delays given for ${frames.length} frames`);
  const pngs = await Promise.all(frames.map(renderPng));
  return sharp(pngs, { join: { animated: true } })
    .gif({ delay, loop: 0 })
    .toBuffer();
}

/** Renders `figure` to a PNG file; returns the path. */
export async function writePng(file: string, figure: Figure): Promise<string> {
  return writeImage(file, await renderPng(figure));
}

/** Renders `frames` to an animated GIF file; returns the path. */
export async function writeGif(file: string, frames: readonly Figure[], delaysMs: number | readonly number[]): Promise<string> {
  return writeImage(file, await renderGif(frames, delaysMs));
}

function writeImage(file: string, data: Buffer): string {
  writeFileSafely(file, data);
  return file;
}
