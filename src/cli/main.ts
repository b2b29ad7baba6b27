#!/usr/bin/env node
/**
 * The rsft command. Thin: parses and validates, then calls the library. User mistakes print one
 * line and exit 2; anything else is a bug and prints its stack (exit 1).
 */
import { UsageError } from '../errors.js';
import { closePools } from '../sampling/crew.js';
import { sampleCommand } from './sample-command.js';
import { doctorCommand } from './doctor-command.js';
import { demoCommand } from './demo-command.js';

const usage = `usage: rsft <command> [options]

commands:
  demo         classifier RSFT on a built-in manufacturing scenario (rsft demo --help)
  run          classifier RSFT on your data from a config file (rsft run --help)
  sample       draw exact samples by rejection (rsft sample --help)
  train        train a classifier on .npy data and export ONNX (rsft train --help)
  rft          language-model RFT on a built-in task: pretrain, sample, verify, accept, fine-tune (rsft rft --help)
  select       accept LM candidates from a JSONL file: threshold, best-of-n, top-alpha, RSO (rsft select --help)
  sample-demo  run the reference sampling tasks (DESIGN.md T1-T3, a custom target) and print their stats
  doctor       show the active kernel, CPU features and runtime versions
  help         show this help
`;

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'sample':
      return sampleCommand(rest);
    case 'train':
      // Loaded on demand: the other commands never load ONNX Runtime.
      return (await import('./train-command.js')).trainCommand(rest);
    case 'demo':
      return (await import('./rft-demo-command.js')).rftDemoCommand(rest);
    case 'rft':
      return (await import('./rft-command.js')).rftCommand(rest);
    case 'select':
      return (await import('./select-command.js')).selectCommand(rest);
    case 'sample-demo':
      return demoCommand(rest);
    case 'run':
      return (await import('./run-command.js')).runCommand(rest);
    case 'doctor':
      return doctorCommand(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(usage);
      return;
    case '--version':
    case '-v':
      process.stdout.write('rsft 0.1.0\n');
      return;
    default:
      throw new UsageError(`unknown command '${cmd}' (commands: demo, run, sample, train, select, sample-demo, doctor, help)`);
  }
}

// `rsft ... | head` closes stdout early: that is the reader's choice, not an error to report.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

main(process.argv.slice(2))
  .then(() => closePools())
  .catch(async (e: unknown) => {
    await closePools().catch(() => undefined);
    if (e instanceof UsageError) {
      process.stderr.write(`rsft: error: ${e.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`rsft: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    }
  });
