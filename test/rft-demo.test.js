// rsft demo (classifier RSFT on the built-in scenario) at the reduced --small size: RSFT beats
// the pretrained model and the uniform baseline on line B, and the run folder is complete.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoTable, rftDemoCommand } from '../dist/cli/rft-demo-command.js';

const cmd = new URL('../dist/cli/rft-demo-command.js', import.meta.url).href;

/** Run rftDemoCommand(args) in a fresh process (a script file: trainer workers inherit execArgv); its stdout. */
function demo(dir, args) {
  const script = join(dir, 'demo.mjs');
  writeFileSync(script, `import(${JSON.stringify(cmd)}).then((m) => m.rftDemoCommand(${JSON.stringify(args)})).catch((e) => { process.stderr.write(String(e.stack)); process.exitCode = 1; });\n`);
  return execFileSync(process.execPath, [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

test('rsft demo --small --json: RSFT beats pretrained and uniform on line B; complete run folder', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'rsft-demo-'));
  const dir = join(tmp, 'run');
  const out = demo(tmp, ['--small', '--json', '--quiet', '--seed', '2', '--threads', '2', '--out', dir]);
  const s = JSON.parse(out);
  const pre = s.pretrained.accuracy, rsft = s.rsft.accuracy, uni = s.baselines.uniform.accuracy;
  assert.ok(rsft > pre + 0.1, `RSFT ${rsft} vs pretrained ${pre}`);
  assert.ok(rsft > uni + 0.1, `RSFT ${rsft} vs uniform ${uni}`);
  assert.ok(Number.isFinite(s.baselines.weighted.accuracy));
  assert.equal(s.acceptance.accepted, 6000);
  assert.ok(s.acceptance.M > 1 && s.acceptance.rate > 0 && s.acceptance.rate < 1);
  assert.equal(s.config.seed, 2);
  assert.deepEqual(readdirSync(dir).sort(), ['accepted.jsonl', 'model.onnx', 'pretrained.onnx', 'report.html', 'summary.json']);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')), s, '--json prints summary.json');
  const html = readFileSync(join(dir, 'report.html'), 'utf8');
  assert.match(html, /<svg/);
  assert.doesNotMatch(html, /https?:/);
  assert.ok(html.includes(`${(100 * rsft).toFixed(2)}%`));
  const lines = readFileSync(join(dir, 'accepted.jsonl'), 'utf8').trim().split('\n');
  assert.equal(lines.length, 6000);

  const table = demoTable(s, dir);
  for (const k of ['pretrained', 'RSFT', 'uniform pool sample', 'importance-weighted', 'acceptance rate', 'envelope M', 'violations', 'time per stage', 'pretrain', 'total']) {
    assert.ok(table.includes(k), `table shows ${k}`);
  }
  assert.ok(table.includes(`${(100 * rsft).toFixed(2)}%`));
});

test('rsft demo: bad flags are usage errors', async () => {
  await assert.rejects(rftDemoCommand(['--seed', 'x']), { name: 'UsageError' });
  await assert.rejects(rftDemoCommand(['--nope']), { name: 'UsageError' });
  await assert.rejects(rftDemoCommand(['extra']), { name: 'UsageError' });
});
