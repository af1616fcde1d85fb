import { bundleWebPage } from './scripts/web/bundle';
import { startStaticServer } from './src/demo/static_server';
import puppeteer from 'puppeteer-core';
(async () => {
  await bundleWebPage({ entry: 'tests/browser/ops_page.ts', outDir: '/tmp/opspage' });
  const server = await startStaticServer({ mounts: [{ prefix: '/', dir: '/tmp/opspage' }] });
  const browser = await puppeteer.launch({ executablePath: process.cwd() + '/.tmp/chromium', headless: 'shell', args: ['--no-sandbox','--use-angle=swiftshader','--enable-unsafe-swiftshader','--enable-unsafe-webgpu','--enable-features=Vulkan','--use-webgpu-adapter=swiftshader','--disable-background-networking'] });
  const page = await browser.newPage();
  page.on('console', m => console.log('console', m.type(), m.text().slice(0, 200)));
  await page.goto(server.url);
  await page.waitForFunction(() => 'deformOps' in window);
  const c = { op: 'deformSample', x: [1, 5, 7, 3], spread: 2 };
  for (const b of process.argv.slice(2)) {
    const t0 = Date.now();
    try {
      const r = await page.evaluate((b, c) => (window as any).deformOps.run(b, c), b, c);
      console.log(b, 'ok', Date.now() - t0, (r as any).outputs[0].slice(0, 3));
    } catch (e) { console.log(b, 'failed', String(e).slice(0, 200)); }
  }
  await browser.close(); await server.close();
})();
