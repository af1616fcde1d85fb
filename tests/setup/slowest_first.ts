/**
 * The test files' order: the slowest first, so that the run does not end waiting on one
 * long file that started last. SLOWEST holds those measured slowest (on 2 cores), slowest
 * first; every other file keeps vitest's own order (its cached durations, else file size).
 */
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const SLOWEST = [
  'tests/webgpu_cli.test.ts',
  'tests/demo.test.ts',
  'tests/faults_training.test.ts',
  'tests/package.test.ts',
  'tests/webgpu_training.test.ts',
  'tests/report.test.ts',
  'tests/reproduce.test.ts',
  'tests/deform_type.test.ts',
  'tests/wasm_conv_grads.test.ts',
];

function rank(spec: TestSpecification): number {
  const at = SLOWEST.findIndex((file) => spec.moduleId.endsWith(file));
  return at === -1 ? SLOWEST.length : at;
}

export class SlowestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const theirs = await super.sort(files);
    // Array.prototype.sort is stable: the rest keep vitest's order.
    return theirs.sort((a, b) => rank(a) - rank(b));
  }
}
