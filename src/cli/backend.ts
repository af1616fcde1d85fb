/**
 * The start of every long command: activate the backend chosen by the global --backend
 * (or DEFORMCONV_BACKEND) and print it once on stderr.
 */
import { Command } from 'commander';
import { BackendChoice, BackendDescription, formatBackend, useBackend } from '../backend/select';

export async function startBackend(command: Command): Promise<BackendDescription> {
  const { backend } = command.optsWithGlobals<{ backend: BackendChoice }>();
  const description = await useBackend(backend);
  process.stderr.write(`${formatBackend(description)}\n`);
  return description;
}
