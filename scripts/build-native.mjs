#!/usr/bin/env node
// Builds the native kernel with @napi-rs/cli. A failed build is not fatal: rsft then runs on
// its TypeScript fallback kernel (and says so once at run time), so `npm ci` still succeeds on
// machines without cargo. Set RSFT_REQUIRE_NATIVE=1 to make a failed build an error (CI).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require_ = process.env.RSFT_REQUIRE_NATIVE === '1';

if (process.env.RSFT_SKIP_NATIVE === '1') {
  console.error('rsft: RSFT_SKIP_NATIVE=1, not building the native kernel');
  process.exit(0);
}
const cargo = spawnSync('cargo', ['--version'], { encoding: 'utf8' });
if (cargo.status !== 0) {
  const msg = 'rsft: cargo not found; the native kernel is not built (the TypeScript fallback will be used)';
  console.error(msg);
  process.exit(require_ ? 1 : 0);
}
const napi = join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js');
const args = existsSync(napi) ? [napi] : [];
const cmd = existsSync(napi) ? process.execPath : 'napi';
const r = spawnSync(cmd, [...args, 'build', '--release', '--platform', '--no-js',
  '--manifest-path', 'native/Cargo.toml', '--output-dir', 'native'], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  console.error('rsft: building the native kernel failed; the TypeScript fallback will be used');
  process.exit(require_ ? 1 : 0);
}
