// The rsft command under hostile conditions: full disks, odd output paths, signals during the
// output write, broken standard output, warnings, and small parsing details. Every failure is
// one line on stderr with a nonzero exit, never a stack, never a partial or stray file.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  mkdtempSync, mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync, chmodSync, statSync,
  lstatSync, readlinkSync, symlinkSync, openSync, closeSync, rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, cli } from './helpers/cli.js';
import { AtomicFile, writeError } from '../dist/io/atomic-file.js';
import { UsageError } from '../dist/errors.js';

const T1 = ['--target', 'beta(2,5)', '--proposal', 'uniform(0,1)', '--M', '2.4576', '--seed', '7'];
const dirs = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'rsft-robust-'));
  dirs.push(d);
  return d;
};
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function assertOneLineError(r, re, what = '') {
  assert.equal(r.status, 2, `${what} exit 2: ${r.stderr}`);
  assert.equal(r.stderr.trim().split('\n').length, 1, `${what} one line: ${r.stderr}`);
  assert.match(r.stderr, /^rsft: /, what);
  assert.doesNotMatch(r.stderr, /internal error|\n\s+at /, what);
  if (re) assert.match(r.stderr, re, what);
}

// ---- 1. write errors ---------------------------------------------------------------------

test('write errors map to one-line usage errors naming the destination', () => {
  const reasons = {
    ENOSPC: 'no space left on device', EDQUOT: 'disk quota exceeded', EFBIG: 'file too large', EIO: 'input/output error',
    EROFS: 'read-only file system', EACCES: 'permission denied', EPERM: 'operation not permitted', EISDIR: 'is a directory', ENOTDIR: 'not a directory',
  };
  for (const [code, reason] of Object.entries(reasons)) {
    const e = Object.assign(new Error(`${code}: something, write`), { code });
    const u = writeError('out/x.npy', e);
    assert.ok(u instanceof UsageError, code);
    assert.equal(u.message, `cannot write out/x.npy: ${reason}`);
  }
  const bug = new TypeError('not an errno');
  assert.equal(writeError('x', bug), bug, 'anything else stays a bug');
});

test('a full disk: one line, exit 2, the old file kept, no temporary (tmpfs, root only)', async (t) => {
  if (process.getuid?.() !== 0) return t.skip('needs root to mount a small tmpfs (the mapping is unit-tested above)');
  const small = tempDir();
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]).status !== 0) {
    rmSync(small, { recursive: true, force: true });
    return t.skip('cannot mount a tmpfs here');
  }
  t.after(() => {
    spawnSync('umount', [small]);
    rmSync(small, { recursive: true, force: true });
  });
  writeFileSync(join(small, 'x.npy'), 'old');
  for (const name of ['x.npy', 'x.csv', 'x.f64']) {
    const r = await runCli(['sample', ...T1, '-n', '2e5', '--out', join(small, name)]);
    assertOneLineError(r, new RegExp(`^rsft: error: cannot write ${join(small, name)}: no space left on device$`, 'm'), name);
  }
  // select writes through the same helper
  const input = join(tempDir(), 'in.jsonl');
  writeFileSync(input, Array.from({ length: 12000 }, (_, i) => JSON.stringify({ prompt: `p${i >> 2}`, completion: 'c'.repeat(100), reward: i % 3 })).join('\n') + '\n');
  const s = await runCli(['select', '--in', input, '--policy', 'threshold', '--threshold', '0', '--per-prompt', 'all', '--no-dedup', '--out', join(small, 'o.jsonl')]);
  assertOneLineError(s, /cannot write .*o\.jsonl: no space left on device/, 'select');
  assert.deepEqual(readdirSync(small), ['x.npy'], 'no temporaries, no partial outputs');
  assert.equal(readFileSync(join(small, 'x.npy'), 'utf8'), 'old', 'the old destination is kept');
});

// ---- 2. paths refused up front ------------------------------------------------------------

test('an --out that cannot be a file is refused before sampling', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'b.npy'), 'a regular file');
  // a sampling run that would take minutes: refused before it starts
  const slow = ['--target', 'beta(2,5)', '--proposal', 'uniform(0,1)', '-n', '1e9'];
  const cases = [
    [join(dir, 'foo.npy/'), /cannot write .*foo\.npy\/: a file name cannot end in '\/'/],
    [join(dir, 'b.npy/'), /cannot write .*b\.npy\/: a file name cannot end in '\/'/],
    [join(dir, 'b.npy', 'x.npy'), new RegExp(`cannot write .*x\\.npy: ${join(dir, 'b.npy')} is not a directory`)],
    [join(dir, 'missing', 'x.npy'), /directory .*missing does not exist/],
    [join(dir, 'd.npy/'), /cannot write .*d\.npy\/: it is a directory/],
    [join(dir, 'd.npy'), /cannot write .*d\.npy: it is a directory/],
  ];
  mkdirSync(join(dir, 'd.npy'));
  const results = await Promise.all(cases.map(([out]) => runCli(['sample', ...slow, '--out', out])));
  for (let i = 0; i < cases.length; i++) assertOneLineError(results[i], cases[i][1], cases[i][0]);
  const rel = spawnSync(process.execPath, [cli, 'sample', ...slow, '--out', 'b.npy/x.npy'], { cwd: dir, encoding: 'utf8', timeout: 30000 });
  assertOneLineError(rel, /^rsft: error: cannot write b\.npy\/x\.npy: b\.npy is not a directory$/m, 'relative');
  assert.deepEqual(readdirSync(dir).sort(), ['b.npy', 'd.npy']);
  assert.deepEqual(readdirSync(join(dir, 'd.npy')), []);
});

// ---- 3, 4. signals during the output write; the temporary only exists while writing -------

/** Starts a CSV write of n samples and sends `sig` as soon as bytes reach the temporary file. */
function interruptWrite(sig, n) {
  const dir = tempDir();
  const out = join(dir, 's.csv');
  writeFileSync(out, 'old\n');
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cli, 'sample', '--target', 'beta(2,5)', '--proposal', 'uniform(0,1)', '-n', String(n), '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '', sentAt = 0;
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    const writing = () => readdirSync(dir).some((f) => {
      try {
        return f.endsWith('.tmp') && statSync(join(dir, f)).size > 0;
      } catch {
        return false;
      }
    });
    const poll = setInterval(() => {
      if (writing()) {
        clearInterval(poll);
        sentAt = Date.now();
        p.kill(sig);
      }
    }, 2);
    const guard = setTimeout(() => p.kill('SIGKILL'), 30000);
    p.on('close', (status, signal) => {
      clearInterval(poll);
      clearTimeout(guard);
      resolve({ status, signal, stdout, stderr, sentAt, dir, out });
    });
  });
}

for (const [sig, code] of [['SIGINT', 130], ['SIGHUP', 129], ['SIGTERM', 143]]) {
  test(`${sig} during the output write stops it at once, commits nothing, removes the temporary`, async () => {
    // ~2-3 s of CSV formatting and writing (sampling takes a fraction of a second)
    const r = await interruptWrite(sig, 5e6);
    assert.ok(r.sentAt > 0, `the write started: ${r.stderr}`);
    assert.ok(r.signal === sig || r.status === code, `ended by ${sig}: status ${r.status} signal ${r.signal} ${r.stderr}`);
    // (stopped mid-write, not at the end: no stats and the old file in place; no wall-clock
    // threshold, the machine is shared)
    assert.equal(r.stdout, '', 'no stats printed');
    assert.deepEqual(readdirSync(r.dir), ['s.csv'], 'no temporary left');
    assert.equal(readFileSync(r.out, 'utf8'), 'old\n', 'the old file is not replaced');
  });
}

test('the temporary file is created when the write starts, not when the output is checked', () => {
  const dir = tempDir();
  const f = AtomicFile.open(join(dir, 'a.csv'));
  assert.deepEqual(readdirSync(dir), [], 'nothing on disk while the expensive work runs');
  f.write('x\n1\n');
  assert.equal(readdirSync(dir).filter((n) => n.endsWith('.tmp')).length, 1);
  f.commit();
  assert.deepEqual(readdirSync(dir), ['a.csv']);
  assert.equal(readFileSync(join(dir, 'a.csv'), 'utf8'), 'x\n1\n');
  // committed without a write: an empty file; aborted: nothing
  const e = AtomicFile.open(join(dir, 'empty.csv'));
  e.commit();
  assert.equal(readFileSync(join(dir, 'empty.csv'), 'utf8'), '');
  const g = AtomicFile.open(join(dir, 'gone.csv'));
  g.write('partial');
  g.abort();
  assert.deepEqual(readdirSync(dir).sort(), ['a.csv', 'empty.csv']);
  // still fails fast on an unwritable path
  assert.throws(() => AtomicFile.open(join(dir, 'nope', 'x.csv')), (err) => err instanceof UsageError && /does not exist/.test(err.message));
  if (process.getuid?.() !== 0) {
    const ro = join(dir, 'ro');
    mkdirSync(ro, 0o500);
    assert.throws(() => AtomicFile.open(join(ro, 'x.csv')), (err) => err instanceof UsageError && /permission denied/.test(err.message));
    chmodSync(ro, 0o700);
  }
});

// ---- 5. doctor's flags ----------------------------------------------------------------------

test('doctor: --help documents --json; unknown flags and arguments exit 2', async () => {
  const [help, bogus, extra, json] = await Promise.all([['doctor', '--help'], ['doctor', '--bogus'], ['doctor', 'extra'], ['doctor', '--json']].map(runCli));
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^usage: rsft doctor/);
  assert.match(help.stdout, /--json/);
  assert.doesNotMatch(help.stdout, /^kernel /m, 'no report');
  assertOneLineError(bogus, /--bogus/, '--bogus');
  assertOneLineError(extra, /unexpected argument 'extra'/, 'extra');
  assert.equal(bogus.stdout + extra.stdout, '', 'no report');
  assert.equal(json.status, 0);
  assert.ok(JSON.parse(json.stdout).kernel);
});

// ---- 6. standard output -----------------------------------------------------------------------

test('a full standard output: one line, nonzero exit; a closed pipe stays quiet', async (t) => {
  if (!existsSync('/dev/full')) return t.skip('no /dev/full');
  for (const args of [['sample', ...T1, '-n', '1e5'], ['doctor'], ['--help']]) {
    const fd = openSync('/dev/full', 'w');
    const r = spawnSync(process.execPath, [cli, ...args], { stdio: ['ignore', fd, 'pipe'], encoding: 'utf8', timeout: 30000 });
    closeSync(fd);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.equal(r.stderr, 'rsft: cannot write to standard output: no space left on device\n', args.join(' '));
  }
  // the reader goes away before anything is written: EPIPE, exit 0, nothing on stderr
  const r = await new Promise((resolve) => {
    const p = spawn(process.execPath, [cli, 'sample', ...T1, '-n', '1e5'], { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout.destroy();
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (status) => resolve({ status, stderr }));
  });
  assert.equal(r.status, 0);
  assert.equal(r.stderr, '');
});

// ---- 7. warnings ----------------------------------------------------------------------------------

test("envelope warnings print as 'rsft: warning: ...' lines, without Node's decoration", async () => {
  const r = await runCli(['sample', '--target', 'beta(2,5)', '--proposal', 'uniform(0,1)', '--M', '1.5', '--on-violation', 'warn', '-n', '1000', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.ok(lines.length >= 1 && lines[0] !== '', 'warned');
  for (const l of lines) assert.match(l, /^rsft: warning: \S/);
  assert.doesNotMatch(r.stderr, /\(node:\d+\)|trace-warnings|RsftEnvelopeWarning/);
  assert.ok(JSON.parse(r.stdout).envelopeViolations > 0);
});

test('other warnings keep Node\'s own printing', () => {
  // the CLI module loaded in a process that then emits one warning of each kind
  const code = `process.argv = [process.execPath, ${JSON.stringify(cli)}, '--version'];
    await import(${JSON.stringify(cli)});
    process.emitWarning('something else', 'OtherWarning');
    process.emitWarning('p/q above M', 'RsftEnvelopeWarning');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^\(node:\d+\) OtherWarning: something else$/m);
  assert.match(r.stderr, /^rsft: warning: p\/q above M$/m);
  assert.doesNotMatch(r.stderr, /RsftEnvelopeWarning/);
});

// ---- 8. parsing details -----------------------------------------------------------------------

test('unknown commands list every command; help COMMAND shows that command\'s help', async () => {
  const [unknown, usage, helpSample, sampleHelp, helpBogus] = await Promise.all([['frob'], ['help'], ['help', 'sample'], ['sample', '--help'], ['help', 'bogus']].map(runCli));
  assertOneLineError(unknown, /unknown command 'frob'/);
  const listed = unknown.stderr.match(/\(commands: (.*)\)/)[1].split(', ');
  const inUsage = [...usage.stdout.matchAll(/^ {2}(\S+) {2,}/gm)].map((m) => m[1]);
  assert.deepEqual(listed, inUsage);
  for (const c of ['demo', 'run', 'sample', 'train', 'rft', 'select', 'sample-demo', 'doctor', 'help']) assert.ok(listed.includes(c), c);
  assert.equal(helpSample.status, 0);
  assert.equal(helpSample.stdout, sampleHelp.stdout);
  assert.match(helpSample.stdout, /^usage: rsft sample/);
  assertOneLineError(helpBogus, /unknown command 'bogus'/);
});

test('numbers: too large, decimal only, auto in any case, --flag=value and -n=VALUE', async () => {
  const P = ['--target', 'beta(2,5)', '--proposal', 'uniform(0,1)'];
  const bad = [
    [[...P, '-n', '1e20'], /--n: '1e20' is too large: at most 2\^53-1/],
    [[...P, '-n', '9007199254740992'], /too large/],
    [[...P, '--seed', '1e300'], /--seed: .*too large/],
    [[...P, '--M', '0x10'], /--M: '0x10' is not a number/],
    [[...P, '--M', '0b11'], /not a number/],
    [[...P, '-n', '0o17'], /not a number/],
    [[...P, '-n', ''], /not a number/],
    [[...P, '-n', '1.5'], /must be a positive integer/],
    [[...P, '--json=yes'], /--json/],
  ];
  const good = [
    [...P, '-n=50', '--json'],
    [...P, '--n=50', '--M=AUTO', '--json'],
    ['--target=beta(2,5)', '--proposal=uniform(0,1)', '-n', '5e1', '--M', 'Auto', '--workers', 'AUTO', '--json'],
    [...P, '-n', '50', '--M', '2.4576E0', '--json'],
  ];
  const rs = await Promise.all([...bad.map(([a]) => ['sample', ...a]), ...good.map((a) => ['sample', ...a])].map(runCli));
  bad.forEach(([a, re], i) => assertOneLineError(rs[i], re, a.join(' ')));
  good.forEach((a, i) => {
    const r = rs[bad.length + i];
    assert.equal(r.status, 0, `${a.join(' ')}: ${r.stderr}`);
    assert.ok(JSON.parse(r.stdout).accepted >= 50, a.join(' '));
  });
  // a value that starts with '-' after --flag=, and for -n with '='
  const d = tempDir();
  const r = await runCli(['sample', '--target-logpdf=-x^2/2', '--proposal=normal(0,2)', '-n=20', `--out=${join(d, 'o.csv')}`]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(join(d, 'o.csv'), 'utf8').trim().split('\n').length, 21);
});

// ---- 9. overwriting keeps the mode and symbolic links ----------------------------------------

test('overwriting keeps the file\'s mode, and a symbolic link stays a link to the new content', async () => {
  const dir = tempDir();
  const ex = join(dir, 'ex.npy');
  const a = await runCli(['sample', ...T1, '-n', '100', '--out', ex]);
  assert.equal(a.status, 0, a.stderr);
  chmodSync(ex, 0o600);
  const b = await runCli(['sample', ...T1, '-n', '300', '--out', ex]);
  assert.equal(b.status, 0, b.stderr);
  assert.equal(statSync(ex).mode & 0o777, 0o600, 'mode kept');
  assert.equal(statSync(ex).size, 128 + 300 * 8);

  symlinkSync('ex.npy', join(dir, 'link.npy'));
  const c = await runCli(['sample', ...T1, '-n', '200', '--out', join(dir, 'link.npy')]);
  assert.equal(c.status, 0, c.stderr);
  assert.ok(lstatSync(join(dir, 'link.npy')).isSymbolicLink(), 'still a link');
  assert.equal(readlinkSync(join(dir, 'link.npy')), 'ex.npy');
  assert.equal(statSync(ex).size, 128 + 200 * 8, 'the target has the new content');
  assert.equal(statSync(ex).mode & 0o777, 0o600);

  // a link into another directory: the temporary goes beside the target
  mkdirSync(join(dir, 'sub'));
  symlinkSync(join('..', 'ex.npy'), join(dir, 'sub', 'l.npy'));
  const d = await runCli(['sample', ...T1, '-n', '50', '--out', join(dir, 'sub', 'l.npy')]);
  assert.equal(d.status, 0, d.stderr);
  assert.equal(statSync(ex).size, 128 + 50 * 8);
  // a dangling link: the file it names is created
  symlinkSync('new.csv', join(dir, 'dangling.csv'));
  const e = await runCli(['sample', ...T1, '-n', '10', '--out', join(dir, 'dangling.csv')]);
  assert.equal(e.status, 0, e.stderr);
  assert.ok(lstatSync(join(dir, 'dangling.csv')).isSymbolicLink());
  assert.equal(readFileSync(join(dir, 'new.csv'), 'utf8').split('\n')[0], 'x');
  assert.deepEqual(readdirSync(dir).sort(), ['dangling.csv', 'ex.npy', 'link.npy', 'new.csv', 'sub']);
  assert.deepEqual(readdirSync(join(dir, 'sub')), ['l.npy']);
  // not a regular file (a device, a FIFO): refused, never replaced
  if (existsSync('/dev/null')) {
    const f = await runCli(['select', '--in', ex, '--policy', 'threshold', '--threshold', '0', '--out', '/dev/null']);
    assertOneLineError(f, /cannot write \/dev\/null: not a regular file/);
    assert.ok(statSync('/dev/null').isCharacterDevice());
  }
});
