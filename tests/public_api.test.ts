/**
 * docs/API.md lists every public name of every entry point: each entry's exports (types
 * included, read from its source) are exactly the names under its heading there, so an
 * export added without a line in the doc, or a line left after its export went, fails.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { entryExports, ENTRY_SOURCES, loadProgram, ROOT } from './helpers/entry_exports';

/** The names listed under each "## `entry`" heading of docs/API.md (lines "- `name`..."). */
function documentedNames(): Map<string, string[]> {
  const listed = new Map<string, string[]>();
  let names: string[] | undefined;
  for (const line of readFileSync(path.join(ROOT, 'docs', 'API.md'), 'utf8').split('\n')) {
    const heading = /^## `([^`]+)`\s*$/.exec(line);
    if (heading) listed.set(heading[1], (names = []));
    const item = /^- `(\w+)`/.exec(line);
    if (item) names?.push(item[1]);
  }
  return listed;
}

describe('docs/API.md', () => {
  const program = loadProgram();
  const exports = entryExports(program, program.getTypeChecker());
  const listed = documentedNames();

  it('has a section for each entry point and no other', () => {
    expect([...listed.keys()].sort()).toEqual(Object.keys(ENTRY_SOURCES).sort());
  });

  // deformconv/node re-exports deformconv/experiment: its section lists only what it adds.
  const inherited = (entry: string) => (entry === 'deformconv/node' ? (listed.get('deformconv/experiment') ?? []) : []);

  it.each(Object.entries(ENTRY_SOURCES))('lists exactly the exports of %s (%s)', (entry, source) => {
    // Namespace members (kernelNames.X) are documented by their namespace's line.
    const exported = exports.filter((e) => e.entry === source && !e.name.includes('.')).map((e) => e.name);
    const documented = [...(listed.get(entry) ?? []), ...inherited(entry)];
    expect(
      exported.filter((name) => !documented.includes(name)),
      `exported by ${source} but not listed in docs/API.md`,
    ).toEqual([]);
    expect(
      documented.filter((name) => !exported.includes(name)),
      `listed in docs/API.md but not exported by ${source}`,
    ).toEqual([]);
    expect(new Set(documented).size, 'names listed twice').toBe(documented.length);
  });
});
