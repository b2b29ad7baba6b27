// Which kernel runs: native when the crate could be built here, the TypeScript fallback
// (announced once on stderr, same results up to rounding) when the module is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeInfo, nativeLoadError } from '../dist/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));

test('the native kernel is built and loads when cargo is available', (t) => {
  if (spawnSync('cargo', ['--version']).status !== 0) return t.skip('no cargo on this machine');
  const info = nativeInfo();
  assert.ok(info, `native kernel did not load: ${nativeLoadError()}`);
  assert.match(info.simd, /^(avx512|avx2|scalar)$/);
});

test('without the native module the CLI falls back to the TS kernel and says so once', () => {
  // A copy of the package without native/: the loader finds no module.
  const dir = mkdtempSync(join(tmpdir(), 'rsft-nonative-'));
  cpSync(join(root, 'dist'), join(dir, 'dist'), { recursive: true });
  cpSync(join(root, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  const r = spawnSync(process.execPath, [join(dir, 'dist', 'cli', 'main.js'), 'sample', '--target', 'beta(2,5)', '--proposal', 'uniform(0,1)', '-n', '20000', '--workers', '2', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const notes = r.stderr.split('\n').filter((l) => l.includes('native kernel unavailable'));
  assert.equal(notes.length, 1, r.stderr);
  const stats = JSON.parse(r.stdout);
  assert.equal(stats.kernel, 'js');
  assert.ok(Math.abs(stats.acceptanceRate - 1 / stats.M) < 0.02);
});
