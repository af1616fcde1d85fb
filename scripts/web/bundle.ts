/**
 * Bundles a browser page (a TypeScript entry) for serving as static files: page.js
 * (esbuild, every dependency included, no CDN), tfjs's wasm binaries beside it (the page
 * points setWasmPaths at './'), and an index.html that loads the script unless the
 * caller brings its own.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as esbuild from 'esbuild';

export interface WebPageOptions {
  /** The page's TypeScript entry. */
  entry: string;
  outDir: string;
  /** index.html to copy; default: a bare page that loads page.js. */
  html?: string;
  /** Other static files to copy beside it (styles, icons). */
  assets?: readonly string[];
  minify?: boolean;
}

/** The wasm binaries of @tensorflow/tfjs-backend-wasm, which its JavaScript fetches at run time (the GPU kit ships them too). */
export function wasmBinaries(): string[] {
  const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  const dist = path.join(dir, 'dist');
  return fs
    .readdirSync(dist)
    .filter((name) => name.endsWith('.wasm'))
    .map((name) => path.join(dist, name));
}

/** Writes the page into outDir (created; files of the same names replaced). */
export async function bundleWebPage(options: WebPageOptions): Promise<void> {
  fs.mkdirSync(options.outDir, { recursive: true });
  await esbuild.build({
    entryPoints: [options.entry],
    outfile: path.join(options.outDir, 'page.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: options.minify ?? false,
    sourcemap: false,
    logLevel: 'silent',
  });
  for (const file of [...wasmBinaries(), ...(options.assets ?? [])]) fs.copyFileSync(file, path.join(options.outDir, path.basename(file)));
  const html =
    options.html === undefined
      ? '<!doctype html><meta charset="utf-8"><script type="module" src="page.js"></script>\n'
      : fs.readFileSync(options.html, 'utf8');
  fs.writeFileSync(path.join(options.outDir, 'index.html'), html);
}
