// The rsft command as a user runs it: output files, --json, help, and every bad input giving a
// one-line error, exit code 2 and no output file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, existsSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const run = (args) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60000 });
const T1 = ['--target', 'beta(2,5)', '--proposal', 'uniform(0,1)', '--M', '2.4576', '--seed', '7'];

function readNpy(path) {
  const buf = readFileSync(path);
  assert.equal(buf.subarray(0, 6).toString('latin1'), '\x93NUMPY');
  const hlen = buf.readUInt16LE(8);
  assert.equal((10 + hlen) % 64, 0, 'header padded to 64 bytes');
  const header = buf.subarray(10, 10 + hlen).toString('latin1');
  const body = buf.subarray(10 + hlen);
  const data = new Float64Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
  return { header, data };
}

test('sample writes .npy, .csv and .f64 with the same samples', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rsft-cli-'));
  const npy = run(['sample', ...T1, '-n', '1e4', '--out', join(dir, 's.npy')]);
  assert.equal(npy.status, 0, npy.stderr);
  assert.match(npy.stdout, /acceptance\s+0\.4\d+ \(expected 1\/M = 0\.4069\)/);
  const { header, data } = readNpy(join(dir, 's.npy'));
  assert.match(header, /'descr': '<f8', 'fortran_order': False, 'shape': \(10000,\)/);
  assert.equal(data.length, 10000);
  assert.ok(data.every((x) => x > 0 && x < 1));

  assert.equal(run(['sample', ...T1, '-n', '1e4', '--out', join(dir, 's.csv')]).status, 0);
  const csv = readFileSync(join(dir, 's.csv'), 'utf8').trim().split('\n');
  assert.equal(csv[0], 'x');
  assert.deepEqual(csv.slice(1).map(Number), Array.from(data));

  assert.equal(run(['sample', ...T1, '-n', '1e4', '--workers', '2', '--out', join(dir, 's.f64')]).status, 0);
  const raw = readFileSync(join(dir, 's.f64'));
  assert.deepEqual(new Float64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)), data);

  // numpy reads it, when a python3 with numpy is around (never required)
  const py = spawnSync('python3', ['-c', `import numpy as np; a = np.load(${JSON.stringify(join(dir, 's.npy'))}); print(a.shape, a.dtype)`], { encoding: 'utf8' });
  if (py.status === 0) assert.equal(py.stdout.trim(), '(10000,) float64');
  assert.deepEqual(readdirSync(dir).sort(), ['s.csv', 's.f64', 's.npy'], 'no temporaries left');
});

test('multi-dimensional samples are [n, d]', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rsft-cli-'));
  const r = run(['sample', '--target-logpdf', '-(x0^2 + x1^2)/2', '--proposal', 'mvnormal([0,0],[2,2])', '-n', '1000', '--out', join(dir, 'm.npy')]);
  assert.equal(r.status, 0, r.stderr);
  const { header, data } = readNpy(join(dir, 'm.npy'));
  assert.match(header, /'shape': \(1000, 2\)/);
  assert.equal(data.length, 2000);
});

test('--target-module runs a JS batch log-density in the workers', () => {
  const mod = fileURLToPath(new URL('./fixtures/logdensity.mjs', import.meta.url));
  const a = run(['sample', '--target-module', `${mod}#beta25`, '--proposal', 'uniform(0,1)', '--M', '2.4576', '-n', '20000', '--workers', '2', '--json']);
  assert.equal(a.status, 0, a.stderr);
  const b = run(['sample', ...T1, '-n', '20000', '--json']);
  const sa = JSON.parse(a.stdout);
  const sb = JSON.parse(b.stdout);
  assert.equal(sa.workers, 2);
  assert.ok(Math.abs(sa.acceptanceRate - sb.acceptanceRate) < 0.02);
  const bad = run(['sample', '--target-module', `${mod}#nope`, '--proposal', 'uniform(0,1)', '-n', '10']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /no function export 'nope'/);
});

test('--json prints the stats object', () => {
  const r = run(['sample', ...T1, '-n', '5000', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  for (const k of ['proposals', 'accepted', 'acceptanceRate', 'expectedRate', 'M', 'envelopeViolations', 'maxRatioSeen', 'seconds', 'kernel', 'workers']) {
    assert.ok(k in s, k);
  }
  assert.equal(s.M, 2.4576);
  assert.ok(s.accepted >= 5000);
});

test('sample --help documents every flag', () => {
  const r = run(['sample', '--help']);
  assert.equal(r.status, 0);
  for (const f of ['--target', '--target-logpdf', '--target-module', '--support', '--proposal', '--M', '-n', '--seed', '--workers', '--out', '--json', '--max-proposals', '--on-violation', '--kernel', '--block-rows']) {
    assert.ok(r.stdout.includes(f), f);
  }
});

test('doctor names the active kernel', () => {
  const r = run(['doctor', '--json']);
  assert.equal(r.status, 0, r.stderr);
  const d = JSON.parse(r.stdout);
  assert.ok(d.kernel === 'native' || d.kernel === 'js');
  assert.ok(Array.isArray(d.cpuFeatures));
});

test('bad input: one line on stderr, exit 2, no output file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rsft-bad-'));
  const out = join(dir, 'out.npy');
  const ro = join(dir, 'ro');
  spawnSync('mkdir', [ro]);
  chmodSync(ro, 0o500);
  const P = ['--proposal', 'uniform(0,1)'];
  const cases = [
    [['--target', 'betta(2,5)', ...P], /unknown distribution 'betta'/],
    [['--target', 'normal(0,-1)', '--proposal', 'normal(0,2)'], /sigma/],
    [['--target', 'normal(nan,1)', '--proposal', 'normal(0,2)'], /nan|NaN|number/i],
    [['--target', 'beta(0,5)', ...P], /alpha/],
    [['--target', 'truncated(normal(0,1), 40, inf)', '--proposal', 'normal(0,1)'], /zero probability/],
    [['--target', 'uniform(2,3)', ...P], /does not overlap/],
    [['--target', 'beta(2,5)', ...P, '--M', '0'], /--M/],
    [['--target', 'beta(2,5)', ...P, '--M', '-3'], /--M/],
    [['--target', 'beta(2,5)', ...P, '--M', '1.5'], /below sup p\/q/],
    [['--target', 'gamma(0.5,1)', '--proposal', 'exponential(1)'], /unbounded/],
    [['--target-logpdf', '-x^2/2 + ', '--proposal', 'normal(0,1)'], /column/],
    [['--target-logpdf', 'sine(x)', '--proposal', 'normal(0,1)'], /unknown function 'sine'/],
    [['--target-logpdf', 'toString(x)', '--proposal', 'normal(0,1)'], /unknown function 'toString'/],
    [['--target-logpdf', '-x^2/2 + constructor', '--proposal', 'normal(0,1)'], /unknown name 'constructor'/],
    [['--target-logpdf', '-x^2/2 + log(\n-1)', '--proposal', 'normal(0,1)'], /log\( -1\) at column 10 is not a number/],
    [['--target', 'beta(2,5)', ...P, '-n', '0'], /-n/],
    [['--target', 'beta(2,5)', ...P, '-n', '1.5'], /-n/],
    [['--target', 'beta(2,5)', ...P, '-n', 'many'], /-n/],
    [['--target', 'beta(200,200)', ...P, '-n', '1e5', '--max-proposals', '1e5'], /budget/],
    [['--target', 'beta(2,5)'], /--proposal is required/],
    [['--target', 'beta(2,5)', ...P, '--frobnicate'], /frobnicate/],
    [['--target', 'beta(2,5)', ...P, '--workers', '0'], /--workers/],
  ];
  for (const [args, re] of cases) {
    const r = run(['sample', ...args, '--out', out]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    assert.match(r.stderr, /^rsft: error: /);
    assert.ok(!existsSync(out), 'no output file');
  }
  for (const [path, re] of [[join(dir, 'missing', 'x.npy'), /does not exist/], [join(ro, 'x.npy'), /cannot write/], [join(dir, 'x.txt'), /unknown format/]]) {
    if (path.startsWith(ro) && process.getuid?.() === 0) continue; // root writes anywhere
    const r = run(['sample', ...T1, '-n', '100', '--out', path]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, re);
  }
  assert.deepEqual(readdirSync(dir), ['ro'], 'nothing left behind');
  const unknown = run(['frob']);
  assert.equal(unknown.status, 2);
});
