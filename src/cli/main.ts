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
import { errnoReason } from '../io/atomic-file.js';

interface Command {
  name: string;
  summary: string;
  run(argv: string[]): Promise<void> | void;
}

// The one list of commands: the usage text, the dispatch and the unknown-command error all
// come from it.
const commands: Command[] = [
  { name: 'demo', summary: 'classifier RSFT on a built-in manufacturing scenario (rsft demo --help)', run: async (a) => (await import('./rft-demo-command.js')).rftDemoCommand(a) },
  { name: 'run', summary: 'classifier RSFT on your data from a config file (rsft run --help)', run: async (a) => (await import('./run-command.js')).runCommand(a) },
  { name: 'sample', summary: 'draw exact samples by rejection (rsft sample --help)', run: sampleCommand },
  // Loaded on demand: the other commands never load ONNX Runtime.
  { name: 'train', summary: 'train a classifier on .npy data and export ONNX (rsft train --help)', run: async (a) => (await import('./train-command.js')).trainCommand(a) },
  { name: 'rft', summary: 'language-model RFT on a built-in task: pretrain, sample, verify, accept, fine-tune (rsft rft --help)', run: async (a) => (await import('./rft-command.js')).rftCommand(a) },
  { name: 'select', summary: 'accept LM candidates from a JSONL file: threshold, best-of-n, top-alpha, RSO (rsft select --help)', run: async (a) => (await import('./select-command.js')).selectCommand(a) },
  { name: 'sample-demo', summary: 'run the reference sampling tasks (T1-T3 of the README, a custom target) on all cores and print their stats', run: demoCommand },
  { name: 'doctor', summary: 'show the active kernel, CPU features and runtime versions (rsft doctor --help)', run: doctorCommand },
  { name: 'help', summary: "show this help; 'rsft help COMMAND' shows that command's help", run: helpCommand },
];

const width = Math.max(...commands.map((c) => c.name.length)) + 2;
const usage = `usage: rsft <command> [options]\n\ncommands:\n${commands.map((c) => `  ${c.name.padEnd(width)} ${c.summary}\n`).join('')}`;

function find(name: string): Command {
  const c = commands.find((k) => k.name === name);
  if (c === undefined) throw new UsageError(`unknown command '${name}' (commands: ${commands.map((k) => k.name).join(', ')})`);
  return c;
}

function helpCommand(argv: string[]): Promise<void> | void {
  if (argv.length > 1) throw new UsageError(`help: expected at most one command, got '${argv.join(' ')}'`);
  if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
    process.stdout.write(usage);
    return;
  }
  return find(argv[0]).run(['--help']);
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case undefined:
    case '--help':
    case '-h':
      process.stdout.write(usage);
      return;
    case '--version':
    case '-v':
      process.stdout.write('rsft 0.1.0\n');
      return;
    default:
      return find(cmd).run(rest);
  }
}

/** A typed array or buffer too large to allocate (V8's RangeErrors for it). */
function isAllocationFailure(e: unknown): e is Error {
  // (by name: an error from a worker thread may arrive rebuilt as a plain Error)
  return e instanceof Error && (e instanceof RangeError || e.name === 'RangeError') &&
    /Invalid typed array length|Array buffer allocation failed|Invalid array buffer length|Invalid array length/.test(e.message);
}

/** One line, whatever the message holds. */
function oneLine(msg: string): string {
  return msg.trim().replace(/\s*\n\s*/g, ' ');
}

// `rsft ... | head` closes stdout early: that is the reader's choice, not an error to report.
// Any other failure to write stdout (a full disk, an I/O error) is reported in one line.
let stdoutFailed = false;
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  if (stdoutFailed) return;
  stdoutFailed = true;
  process.stderr.write(`rsft: cannot write to standard output: ${errnoReason(e) ?? e.code ?? oneLine(e.message)}\n`);
  process.exit(2);
});
// Nowhere left to report a failure to write stderr; the exit code still tells.
process.stderr.on('error', () => undefined);

// The library reports envelope violations (onViolation: 'warn') with
// process.emitWarning(msg, 'RsftEnvelopeWarning'): print those as rsft's own one-line warnings
// and hand every other warning to Node's own printer, unchanged.
const nodeWarningListeners = process.listeners('warning');
process.removeAllListeners('warning');
process.on('warning', (w: Error) => {
  if (w.name === 'RsftEnvelopeWarning') {
    process.stderr.write(`rsft: warning: ${oneLine(w.message)}\n`);
    return;
  }
  for (const l of nodeWarningListeners) l.call(process, w);
});

main(process.argv.slice(2))
  .then(() => closePools())
  .catch(async (e: unknown) => {
    await closePools().catch(() => undefined);
    if (e instanceof UsageError) {
      process.stderr.write(`rsft: error: ${oneLine(e.message)}\n`);
      process.exitCode = 2;
    } else if (isAllocationFailure(e)) {
      // Sizes come from the user (a batch of 3e9, hidden layers of 100000): too big to allocate
      // is theirs to change, not a bug to report with a stack.
      process.stderr.write(`rsft: error: out of memory: ${oneLine(e.message)}; choose smaller sizes (batch, model, samples)\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`rsft: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exitCode = 1;
    }
  });
