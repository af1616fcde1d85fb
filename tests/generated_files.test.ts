/**
 * The generated files committed under src/ (the package loads them, so it needs no
 * assembler): each is what `npm run build:kernels` makes from the committed sources,
 * regenerated here in memory, and says on its first line that it is generated, by what
 * command, and not to be edited. No other file under src/ says it is generated.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generatedFiles } from '../scripts/build_kernels';

const ROOT = path.resolve(__dirname, '..');
const HEADER = /^(\/\/|;;) Generated .*by `npm run build:kernels`.*: do not edit\./;

/** Made once for both tests: assembling the modules is the slow part. */
const generated = generatedFiles();
const firstLine = (file: string): string => fs.readFileSync(file, 'utf8').split('\n', 1)[0];

describe('generated files', () => {
  it('each committed one is what npm run build:kernels makes (run it after editing a .wat or a generator)', async () => {
    for (const { file, text } of await generated) {
      const name = path.relative(ROOT, file);
      expect(text, name).toMatch(HEADER);
      expect(fs.readFileSync(file, 'utf8') === text, `${name} is stale: run npm run build:kernels`).toBe(true);
    }
  });

  it('are all made by npm run build:kernels: no other file under src/ says it is generated', async () => {
    const made = (await generated).map(({ file }) => path.relative(ROOT, file)).sort();
    const files = fs.readdirSync(path.join(ROOT, 'src'), { recursive: true, encoding: 'utf8' }).map((entry) => path.join('src', entry));
    const marked = files.filter(
      (file) => fs.statSync(path.join(ROOT, file)).isFile() && /generated/i.test(firstLine(path.join(ROOT, file))),
    );
    expect(marked.sort()).toEqual(made);
  });
});
