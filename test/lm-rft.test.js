// Language-model RFT rounds (src/rft/lm/rounds.ts, `rsft rft`): the round loop improves a tiny
// task, the run folder and summary.json, accepted rows' provenance, reproducibility of round-1
// candidates for a seed, init 'base' with pooling, and bad flags (exit 2, one line).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runRft } from '../dist/rft/lm/rounds.js';
import { tasks } from '../dist/rft/lm/tasks.js';

const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const run = (args) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120000 });
const readJsonl = (path) => readFileSync(path, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));

test('rsft rft --small: pass@1 rises over rounds; run folder, summary shape, accepted rows provenance', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'rsft-rft-')), 'run');
  const r = run(['rft', '--task', 'reverse', '--small', '--rounds', '2', '--k', '8', '--seed', '1', '--json', '--out', dir]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /rsft rft: base: pass@1/);
  const s = JSON.parse(r.stdout);
  assert.deepEqual(s, JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')));
  // shape
  assert.ok(s.base.pass1 >= 0 && s.base.pass1 <= 1 && s.base.passK >= s.base.pass1 - 1e-12);
  assert.equal(s.rounds.length, 2);
  s.rounds.forEach((x, i) => {
    assert.equal(x.round, i + 1);
    for (const key of ['pass1', 'passK', 'acceptanceRate', 'accepted', 'distinct', 'loss']) assert.equal(typeof x[key], 'number', key);
    assert.ok(x.acceptanceRate >= 0 && x.acceptanceRate <= 1);
    assert.ok(x.seconds.total > 0 && x.seconds.generate > 0 && x.seconds.train >= 0);
  });
  assert.equal(s.config.task, 'reverse');
  assert.equal(s.config.k, 8);
  assert.equal(s.config.policy, 'threshold');
  assert.equal(s.config.init, 'continue');
  // improvement on held-out prompts
  const last = s.rounds[s.rounds.length - 1];
  assert.ok(last.pass1 > s.base.pass1 + 0.05, `pass@1 base ${s.base.pass1} -> ${last.pass1}`);
  // folder contents (no temporaries left)
  const files = readdirSync(dir).sort();
  assert.deepEqual(files, ['accepted-round-1.jsonl', 'accepted-round-2.jsonl', 'eval.jsonl', 'model.onnx', 'pairs-round-1.jsonl', 'pairs-round-2.jsonl', 'summary.json', 'tokenizer.json']);
  const tokJson = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  assert.equal(tokJson.type, 'char');
  assert.ok(readFileSync(join(dir, 'model.onnx')).length > 1000);
  // eval.jsonl: one line per held-out prompt, greedy completions of the final model
  const ev = readJsonl(join(dir, 'eval.jsonl'));
  assert.equal(ev.length, s.config.heldoutPrompts);
  const heldout = tasks.reverse.makePrompts(1, s.config.heldoutPrompts, 'heldout');
  ev.forEach((e, i) => {
    assert.deepEqual(Object.keys(e), ['prompt', 'completion', 'correct']);
    assert.equal(e.prompt, heldout[i]);
    assert.equal(e.correct, tasks.reverse.verify(e.prompt, e.completion));
  });
  assert.ok(Math.abs(ev.filter((e) => e.correct).length / ev.length - last.pass1) < 1e-12);
  // accepted rows: SFT fields + provenance, correct completions (threshold 0.5 on 0/1 rewards)
  const train = tasks.reverse.makePrompts(1, s.config.trainPrompts, 'train');
  for (const round of [1, 2]) {
    const rows = readJsonl(join(dir, `accepted-round-${round}.jsonl`));
    assert.equal(rows.length, s.rounds[round - 1].accepted);
    assert.ok(rows.length > 0);
    const perPrompt = new Map();
    for (const row of rows) {
      assert.deepEqual(Object.keys(row), ['prompt', 'completion', 'reward', 'logprob', 'round', 'prompt_index', 'candidate_index', 'seed']);
      assert.equal(row.round, round);
      assert.equal(row.seed, 1);
      assert.equal(row.reward, 1);
      assert.ok(row.logprob <= 0 && Number.isFinite(row.logprob));
      assert.ok(Number.isInteger(row.candidate_index) && row.candidate_index >= 0 && row.candidate_index < 8);
      assert.equal(row.prompt, train[row.prompt_index]);
      assert.ok(tasks.reverse.verify(row.prompt, row.completion));
      perPrompt.set(row.prompt_index, (perPrompt.get(row.prompt_index) ?? 0) + 1);
    }
    for (const n of perPrompt.values()) assert.equal(n, 1, 'per-prompt cap 1 (default)');
    // DPO pairs: a correct accepted completion against a wrong one of the same prompt
    const pairs = readJsonl(join(dir, `pairs-round-${round}.jsonl`));
    assert.equal(pairs.length, s.rounds[round - 1].pairs);
    assert.ok(pairs.length > 0);
    for (const p of pairs) {
      assert.equal(p.chosen_reward, 1);
      assert.equal(p.rejected_reward, 0);
      assert.ok(tasks.reverse.verify(p.prompt, p.chosen) && !tasks.reverse.verify(p.prompt, p.rejected));
      assert.ok(rows.some((row) => row.prompt === p.prompt && row.completion === p.chosen));
    }
  }
});

const TINY = {
  task: 'reverse', rounds: 1, k: 4, policy: 'rso', beta: 0.5, perPrompt: 2, trainPrompts: 48, heldoutPrompts: 16,
  pretrainExamples: 200, pretrainEpochs: 2, fineTuneEpochs: 1, dModel: 16, nHeads: 2, nLayers: 1, batchSize: 32, threads: 1,
};

test('round-1 candidates (and their acceptance) are reproducible for a seed', async () => {
  const base = mkdtempSync(join(tmpdir(), 'rsft-rft-rep-'));
  const a = await runRft({ ...TINY, seed: 5, out: join(base, 'a') });
  const b = await runRft({ ...TINY, seed: 5, out: join(base, 'b') });
  const c = await runRft({ ...TINY, seed: 6, out: join(base, 'c') });
  const file = (d) => readFileSync(join(base, d, 'accepted-round-1.jsonl'), 'utf8');
  assert.ok(file('a').length > 0);
  assert.equal(file('a'), file('b'));
  assert.notEqual(file('a'), file('c'));
  assert.deepEqual(a.rounds.map((r) => [r.pass1, r.passK, r.accepted, r.distinct]), b.rounds.map((r) => [r.pass1, r.passK, r.accepted, r.distinct]));
  assert.equal(c.config.seed, 6);
  // rso with perPrompt 2 and all-equal rewards accepts 2 distinct candidates of (nearly) every prompt
  const rows = readJsonl(join(base, 'a', 'accepted-round-1.jsonl'));
  assert.ok(rows.every((r) => r.round === 1 && r.seed === 5));
});

test("init 'base' with a pool: every round restarts from the base model on the pooled accepted set", async () => {
  const out = mkdtempSync(join(tmpdir(), 'rsft-rft-base-'));
  const s = await runRft({ ...TINY, rounds: 2, seed: 3, init: 'base', out });
  assert.equal(s.config.init, 'base');
  assert.equal(s.config.pool, true);
  assert.equal(s.rounds.length, 2);
  assert.equal(s.rounds[1].trainExamples, s.rounds[0].accepted + s.rounds[1].accepted);
  assert.ok(existsSync(join(out, 'accepted-round-2.jsonl')) && existsSync(join(out, 'model.onnx')));
});

test('bad flags: one-line UsageError, exit code 2, no run folder', () => {
  const base = mkdtempSync(join(tmpdir(), 'rsft-rft-bad-'));
  const out = join(base, 'run');
  const cases = [
    [['--k', '0'], /--k/],
    [['--rounds', 'abc'], /--rounds/],
    [['--policy', 'nope'], /unknown policy 'nope'/],
    [['--init', 'fresh'], /--init/],
    [['--task', 'multiply'], /unknown task 'multiply'/],
    [['--pool', '--no-pool'], /exclusive/],
    [['--policy', 'rso', '--beta', '0'], /--beta: must be a finite number > 0/],
    [['--beta', '5'], /--beta applies to --policy rso only/],
    [['--per-prompt', '1.5'], /--per-prompt/],
    [['--bogus'], /bogus/],
    [['extra'], /unexpected argument/],
  ];
  for (const [args, re] of cases) {
    const r = run(['rft', '--small', '--out', out, ...args]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^rsft: error: .+\n$/);
    assert.match(r.stderr, re);
    assert.equal(r.stdout, '');
    assert.equal(existsSync(out), false);
  }
  const h = run(['rft', '--help']);
  assert.equal(h.status, 0);
  assert.match(h.stdout, /usage: rsft rft/);
});
