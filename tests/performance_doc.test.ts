/**
 * Benchmark runs as data: docs/PERFORMANCE.md's tables are what scripts/render_performance.ts
 * renders from docs/bench/*.json (each a `npm run bench -- --json` run with its date,
 * commit and machine inside), so a figure on the page is a figure in a committed run.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BENCH_DIR, loadRuns, PAGE, renderPage, renderTables } from '../scripts/render_performance';

const page = fs.readFileSync(PAGE, 'utf8');
const runs = loadRuns();

describe('docs/bench and docs/PERFORMANCE.md', () => {
  it('docs/bench holds at least one run, each with its date, commit and machine', () => {
    expect(runs.length).toBeGreaterThan(0);
    for (const { file, run } of runs) {
      expect(Number.isNaN(Date.parse(run.date)), `${file}: date`).toBe(false);
      expect(run.commit, `${file}: commit`).toMatch(/^[0-9a-f]{40}$/);
      expect(typeof run.commit_dirty, `${file}: commit_dirty`).toBe('boolean');
      expect(run.machine.cpu, `${file}: machine.cpu`).toBeTruthy();
      expect(run.machine.cores, `${file}: machine.cores`).toBeGreaterThan(0);
      expect(run.machine.node, `${file}: machine.node`).toMatch(/^v\d+/);
      expect(typeof run.regular_train_ms_1thread, `${file}: a figure`).toBe('number');
      // The file's name says when and at which commit it ran.
      expect(path.basename(file), file).toBe(`${run.date.slice(0, 10)}-${run.commit!.slice(0, 7)}.json`);
    }
    expect(fs.readdirSync(BENCH_DIR).filter((f) => !f.endsWith('.json'))).toEqual([]);
  });

  it('the page has every rendered table, and each agrees with docs/bench (npm run docs:performance)', () => {
    for (const name of Object.keys(renderTables(runs))) {
      expect(page, name).toContain(`<!-- bench:${name} -->`);
      expect(page, name).toContain(`<!-- /bench:${name} -->`);
    }
    expect(renderPage(page, runs) === page, 'docs/PERFORMANCE.md differs from what docs/bench/ renders: run npm run docs:performance').toBe(
      true,
    );
  });

  it('every run in docs/bench is a column of the figures, and a changed figure changes the page', () => {
    const figures = /<!-- bench:figures -->([\s\S]*?)<!-- \/bench:figures -->/.exec(page)![1];
    for (const { file } of runs) expect(figures, file).toContain(`\`${path.basename(file, '.json')}\``);
    const [first, ...rest] = runs;
    const changed = { ...first, run: { ...first.run, regular_train_ms_1thread: 12345.6 } };
    const rendered = renderPage(page, [changed, ...rest]);
    expect(rendered).not.toBe(page);
    expect(rendered).toContain('12345.6');
  });

  it('an unknown or unclosed table is an error, not silently left as written', () => {
    expect(() => renderPage('<!-- bench:nonsense -->\n<!-- /bench:nonsense -->', runs)).toThrow(/unknown table/);
    expect(() => renderPage('<!-- bench:figures -->\n', runs)).toThrow(/not closed/);
  });
});
