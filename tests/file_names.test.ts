/**
 * File names that say what a file holds: one convention (snake_case) in src/, scripts/ and
 * tests/, and no basename twice under src/, so that a name in an import, a stack trace or
 * a search result points at one file.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(__dirname, '..');
const SNAKE_CASE = /^[a-z0-9_]+(\.[a-z0-9_]+)*$/;

/** The files and folders under a top folder, relative to it. */
const entriesUnder = (dir: string): string[] => fs.readdirSync(path.join(ROOT, dir), { recursive: true, encoding: 'utf8' });

describe('file names', () => {
  it('are snake_case in src/, scripts/ and tests/, folders too', () => {
    const entries = ['src', 'scripts', 'tests'].flatMap((dir) => entriesUnder(dir).map((entry) => path.join(dir, entry)));
    expect(entries.filter((entry) => !SNAKE_CASE.test(path.basename(entry)))).toEqual([]);
  });

  it('are each used once under src/', () => {
    const byName = new Map<string, string[]>();
    const files = entriesUnder('src').filter((entry) => fs.statSync(path.join(ROOT, 'src', entry)).isFile());
    for (const file of files) byName.set(path.basename(file), [...(byName.get(path.basename(file)) ?? []), file]);
    expect([...byName.values()].filter((paths) => paths.length > 1)).toEqual([]);
  });
});
