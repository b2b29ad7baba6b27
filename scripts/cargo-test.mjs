#!/usr/bin/env node
// Runs the native crate's own tests (`cargo test`) before the Node suite, when cargo exists.
import { spawnSync } from 'node:child_process';

if (spawnSync('cargo', ['--version']).status !== 0) {
  console.log('cargo not found: skipping the native crate tests');
  process.exit(0);
}
const r = spawnSync('cargo', ['test', '--release', '-q', '-p', 'rsft-native'], { stdio: 'inherit' });
process.exit(r.status ?? 1);
