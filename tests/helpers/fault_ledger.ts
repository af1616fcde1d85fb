/**
 * The fault suite counts itself. Every fault case records whether it lost or corrupted
 * anything and whether its output held a stack trace, then asserts both are false; the
 * file's afterAll writes the tally (the figures of issue 7) as JSON and prints one line:
 *
 *   faults (data): 27 cases tried, 0 lost or corrupted anything, 0 printed a stack trace
 *
 * The JSON goes to $DEFORMCONV_FAULT_LEDGER (a directory), default <tmpdir>/deformconv-faults/<area>.json.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'vitest';

export interface FaultOutcome {
  /** True when every file the case guards (data, checkpoints) is as it should be. */
  intact: boolean;
  /** Everything the user would see: stderr and stdout of the CLI, or an error's message. */
  output: string;
}

interface Entry {
  name: string;
  lost: boolean;
  stackTrace: boolean;
}

/** A line of a Node stack trace ("    at fn (file:1:2)"). */
export function hasStackTrace(output: string): boolean {
  return /^ {4}at /m.test(output);
}

export class FaultLedger {
  private readonly entries: Entry[] = [];

  constructor(readonly area: string) {}

  /** Records the case, then asserts that nothing was lost and no stack trace was printed. */
  record(name: string, outcome: FaultOutcome): void {
    const entry = { name, lost: !outcome.intact, stackTrace: hasStackTrace(outcome.output) };
    this.entries.push(entry);
    expect(entry.lost, `${name}: lost or corrupted something`).toBe(false);
    expect(entry.stackTrace, `${name}: printed a stack trace:\n${outcome.output}`).toBe(false);
  }

  /** Writes the tally and prints its line (call from afterAll). */
  finish(): void {
    const tally = {
      area: this.area,
      cases: this.entries.length,
      lostOrCorrupted: this.entries.filter((e) => e.lost).length,
      stackTraces: this.entries.filter((e) => e.stackTrace).length,
      finishedAt: new Date().toISOString(),
      entries: this.entries,
    };
    const dir = process.env.DEFORMCONV_FAULT_LEDGER ?? path.join(os.tmpdir(), 'deformconv-faults');
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `${this.area}.json`), `${JSON.stringify(tally, null, 2)}\n`);
    console.log(
      `faults (${this.area}): ${tally.cases} cases tried, ${tally.lostOrCorrupted} lost or corrupted anything, ` +
        `${tally.stackTraces} printed a stack trace`,
    );
  }
}
