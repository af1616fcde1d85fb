/**
 * Builds the demo page into dist/web (run by `npm run build`): src/web bundled with every
 * dependency (tfjs, its webgl, webgpu and wasm backends, and this package's modules) into
 * one script, with tfjs's wasm binaries and the HTML beside it, so that the page needs
 * nothing from outside its server.
 */
import * as path from 'node:path';
import { packageRoot } from '../src/version';
import { bundleWebPage } from './web/bundle';

async function main(): Promise<void> {
  const root = packageRoot();
  await bundleWebPage({
    entry: path.join(root, 'src', 'web', 'main.ts'),
    html: path.join(root, 'src', 'web', 'index.html'),
    outDir: path.join(root, 'dist', 'web'),
    minify: true,
  });
}

main().catch((err) => {
  process.stderr.write(`build_web: ${(err as Error).message}\n`);
  process.exitCode = 1;
});
