/**
 * Builds the demo page into dist/web (run by `npm run build`): src/web bundled with every
 * dependency (tfjs, its webgl, webgpu and wasm backends, and this package's modules) into
 * one script, with tfjs's wasm binaries and the HTML beside it, so that the page needs
 * nothing from outside its server.
 *
 * The page is bundled into a staging folder beside dist/web, then each file is renamed
 * over its final name (a demo server running meanwhile serves the old file or the new
 * one, whole; identical files are left alone). Prints the paths it placed, one a line,
 * relative to the package root: scripts/build.js records them as outputs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../../src/version';
import { bundleWebPage } from './bundle';

async function main(): Promise<void> {
  const root = packageRoot();
  const outDir = path.join(root, 'dist', 'web');
  const staging = path.join(root, 'dist', `.web-staging-${process.pid}`);
  fs.rmSync(staging, { recursive: true, force: true });
  try {
    await bundleWebPage({
      entry: path.join(root, 'src', 'web', 'demo_page.ts'),
      html: path.join(root, 'src', 'web', 'index.html'),
      outDir: staging,
      minify: true,
    });
    fs.mkdirSync(outDir, { recursive: true });
    for (const name of fs.readdirSync(staging).sort()) {
      const from = path.join(staging, name);
      const to = path.join(outDir, name);
      if (fs.existsSync(to) && fs.readFileSync(to).equals(fs.readFileSync(from))) fs.rmSync(from);
      else fs.renameSync(from, to);
      process.stdout.write(`${path.relative(root, to).split(path.sep).join('/')}\n`);
    }
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`build_web: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
