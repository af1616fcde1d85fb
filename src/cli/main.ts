#!/usr/bin/env node
/**
 * The deformconv command line. This file only wires the program together: each subcommand
 * lives in commands/<name>.ts as a function returning a commander Command, added below.
 * Errors are reported by exit_codes.ts (one line; exit 1 bad input, 2 environment).
 */
import { Command, Option } from 'commander';
import { BACKEND_CHOICES, BACKEND_ENV_VAR } from '../backend/select';
import { VULKAN_ICD_ENV_VAR } from '../backend/webgpu_node';
import { deformconvVersion } from '../version';
import { demoCommand } from './commands/demo_command';
import { downloadCommand } from './commands/download_command';
import { evalCommand } from './commands/eval_command';
import { finetuneDeformCommand } from './commands/finetune_deform_command';
import { infoCommand } from './commands/info_command';
import { reportCommand } from './commands/report_command';
import { reproduceCommand } from './commands/reproduce_command';
import { trainRegularCommand } from './commands/train_regular_command';
import { visualizeCommand } from './commands/visualize_command';
import { debugEnabled, reportError } from './exit_codes';

const SUBCOMMANDS: ReadonlyArray<() => Command> = [
  downloadCommand,
  infoCommand,
  trainRegularCommand,
  finetuneDeformCommand,
  evalCommand,
  reproduceCommand,
  visualizeCommand,
  reportCommand,
  demoCommand,
];

export function buildProgram(): Command {
  const program = new Command('deformconv')
    .description('Deformable convolution for TensorFlow.js, and the scaled-MNIST experiment that shows it')
    .version(deformconvVersion(), '-V, --version', 'print the version')
    .addOption(
      new Option(
        '--backend <name>',
        'compute backend; auto takes the first that works of webgpu (a GPU through the npm package webgpu; never a software adapter), ' +
          'tensorflow-gpu, tensorflow, wasm, cpu; webgpu by name runs on a software Vulkan driver where no GPU answers ' +
          `(${VULKAN_ICD_ENV_VAR}, else SwiftShader in a clone)`,
      )
        .choices(BACKEND_CHOICES)
        .default('auto')
        .env(BACKEND_ENV_VAR),
    )
    .option('--verbose', 'show stack traces of errors (also DEBUG=deformconv)', false)
    .helpOption('-h, --help', 'show help')
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showSuggestionAfterError()
    // Commander puts its "(Did you mean ...?)" hint on a second line: keep errors to one.
    .configureOutput({ outputError: (text, write) => write(`${text.trimEnd().replace(/\s*\n\s*/g, ' ')}\n`) })
    .addHelpText('after', `\nRun 'deformconv <command> --help' for the flags of a command.`);
  for (const makeCommand of SUBCOMMANDS) {
    const command = makeCommand();
    command.copyInheritedSettings(program);
    program.addCommand(command);
  }
  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = reportError(err, program.opts<{ verbose?: boolean }>().verbose === true || debugEnabled());
  }
}

if (require.main === module) void main();
