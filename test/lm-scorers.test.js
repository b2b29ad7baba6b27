// Scorers for LM RFT (src/rft/lm/scorers.ts): JS verifiers (functions and modules) and ONNX
// reward models under the documented contract, their errors, and their use in rounds
// (rewards in accepted rows, DPO pairs per round, unfinished candidates never accepted).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Graph, ops, serialize } from '../dist/graph/index.js';
import { verifierScorer, loadVerifierModule, onnxRewardModel } from '../dist/rft/lm/scorers.js';
import { CharTokenizer } from '../dist/rft/lm/tokenizer.js';
import { runRft } from '../dist/rft/lm/rounds.js';
import { runCli } from './helpers/cli.js';
import { tasks } from '../dist/rft/lm/tasks.js';

const fixture = fileURLToPath(new URL('./fixtures/verifier.mjs', import.meta.url));
const readJsonl = (path) => readFileSync(path, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
const items = [{ prompt: 'ab=', completion: 'ba' }, { prompt: 'abc=', completion: 'cab' }, { prompt: '7=', completion: '77' }];

test('verifier functions: booleans score 1 / 0, numbers themselves, async works; bad returns and throws are one-line UsageErrors', async () => {
  const rev = (p, c) => c === p.slice(0, -1).split('').reverse().join('');
  assert.deepEqual(Array.from(await verifierScorer(rev).score(items)), [1, 0, 0]);
  assert.deepEqual(Array.from(await verifierScorer(async (p, c) => c.length / 2).score(items)), [1, 1.5, 1]);
  await assert.rejects(verifierScorer(() => NaN).score(items), (e) => e.name === 'UsageError' && /returned NaN for prompt "ab="/.test(e.message) && !e.message.includes('\n'));
  await assert.rejects(verifierScorer(() => 'yes').score(items), /returned string .*expected a boolean or a finite number/);
  await assert.rejects(verifierScorer(() => { throw new Error('boom'); }).score(items), /verifier threw on prompt "ab=": boom/);
  assert.throws(() => verifierScorer(42), /expected a function/);
});

test('verifier modules: default export, #name, and clear errors for a missing file or export', async () => {
  const d = await loadVerifierModule(fixture);
  assert.match(d.name, /#default$/);
  assert.deepEqual(Array.from(await d.score(items)), [1, 0, 0]);
  assert.deepEqual(Array.from(await (await loadVerifierModule(`${fixture}#sevens`)).score(items)), [0, 0, 2]);
  await assert.rejects(loadVerifierModule(`${fixture}#value`), /has no function export 'value' \(function exports: default, length, notANumber, sevens\)/);
  await assert.rejects(loadVerifierModule('/nonexistent/check.mjs'), /no such file/);
  const bad = join(mkdtempSync(join(tmpdir(), 'rsft-ver-')), 'bad.mjs');
  writeFileSync(bad, 'export default (\n');
  await assert.rejects(loadVerifierModule(bad), (e) => e.name === 'UsageError' && /cannot load/.test(e.message) && !e.message.includes('\n'));
});

/**
 * A reward model under the contract: reward = sum over unmasked positions of table[id], where
 * table[PAD] = 5 (so ignoring the mask would be visible) and table['7'] = 1, 0 elsewhere.
 * Variants: int32 ids without a mask (pads then count 5 each), output [B, 1] named 'logits'.
 */
function rewardModel(tok, { int32 = false, mask = true, outShape = 'flat', inputName = 'input_ids', extraInput = false } = {}) {
  const g = new Graph('rm');
  const dt = int32 ? 'int32' : 'int64';
  const ids = g.input(inputName, dt, ['B', 'T']);
  const table = new Float32Array(tok.vocabSize);
  table[tok.pad] = 5;
  table[tok.encode('7')[0]] = 1;
  const per = ops.gather(g.initializer('table', { dtype: 'float32', shape: [tok.vocabSize], data: table }), ids);
  let weighted = per;
  if (mask) weighted = ops.mul(per, ops.cast(g.input('attention_mask', dt, ['B', 'T']), 'float32'));
  if (extraInput) g.input('position_ids', dt, ['B', 'T']);
  if (outShape === 'flat') g.output('reward', ops.reduceSum(weighted, [1]));
  else if (outShape === 'col') g.output('logits', ops.reduceSum(weighted, [1], true));
  else g.output('reward', ops.concat([ops.reduceSum(weighted, [1], true), ops.reduceSum(weighted, [1], true)], 1));
  return serialize(g);
}

test('ONNX reward model: BOS + prompt + completion + EOS, right-padded, mask honoured; int32 / [B, 1] variants; bad models fail clearly', async () => {
  const tok = new CharTokenizer('0123456789+=abc');
  const dir = mkdtempSync(join(tmpdir(), 'rsft-rm-'));
  const write = (name, bytes) => { const p = join(dir, name); writeFileSync(p, bytes); return p; };
  const many = Array.from({ length: 300 }, (_, i) => ({ prompt: `${i}+7=`, completion: String(i + 7) }));
  const sevens = (it) => [...(it.prompt + it.completion)].filter((c) => c === '7').length;

  const rm = await onnxRewardModel(write('rm.onnx', rewardModel(tok)), tok, { batchSize: 64 });
  const r = await rm.score(many);
  assert.deepEqual(Array.from(r), many.map(sevens));
  await rm.release();

  // no mask input: the model sees the pads (5 each) up to the batch's longest sequence
  const nm = await onnxRewardModel(write('nomask.onnx', rewardModel(tok, { int32: true, mask: false, outShape: 'col' })), tok);
  const two = [{ prompt: '7=', completion: '1' }, { prompt: '17=', completion: '777' }];
  assert.deepEqual(Array.from(await nm.score(two)), [1 + 5 * 3, 4]); // lengths 4 and 7 tokens
  await nm.release();

  await assert.rejects(onnxRewardModel(write('wide.onnx', rewardModel(tok, { outShape: 'wide' })), tok).then((m) => m.score(items.slice(0, 1))),
    /output reward must be float \[batch\] or \[batch, 1\], got float32 \[1, 2\]/);
  await assert.rejects(onnxRewardModel(write('extra.onnx', rewardModel(tok, { extraInput: true })), tok), /expected inputs input_ids .* got input_ids, attention_mask, position_ids/);
  await assert.rejects(onnxRewardModel(join(dir, 'missing.onnx'), tok), /no such file/);
  await assert.rejects(onnxRewardModel(write('garbage.onnx', Buffer.from('not a model')), tok), (e) => /cannot load/.test(e.message) && !e.message.includes('\n'));
  const okay = await onnxRewardModel(join(dir, 'rm.onnx'), tok);
  await assert.rejects(okay.score([{ prompt: 'xyz=', completion: '1' }]), /character "x" at position 0 is not in the alphabet/);
  await okay.release();
});

const TINY = {
  task: 'reverse', rounds: 1, k: 6, trainPrompts: 48, heldoutPrompts: 16, pretrainExamples: 200, pretrainEpochs: 2,
  fineTuneEpochs: 1, dModel: 16, nHeads: 2, nLayers: 1, batchSize: 32, threads: 1, seed: 2,
};

test('rounds with a JS verifier: rewards in accepted rows, best-of-n keeps the best finished candidate, DPO pairs per round', async () => {
  const out = mkdtempSync(join(tmpdir(), 'rsft-rft-ver-'));
  const length = (p, c) => c.length;
  const s = await runRft({ ...TINY, policy: 'best-of-n', scorer: length, out });
  assert.equal(s.config.scorer, 'verifier');
  const round = s.rounds[0];
  const rows = readJsonl(join(out, 'accepted-round-1.jsonl'));
  const pairs = readJsonl(join(out, 'pairs-round-1.jsonl'));
  assert.equal(rows.length, round.accepted);
  assert.equal(pairs.length, round.pairs);
  assert.ok(rows.length > 0 && pairs.length > 0);
  for (const row of rows) assert.equal(row.reward, row.completion.length);
  // unfinished candidates (no EOS within maxCompletionLength + 1 tokens) would be the longest, so
  // best-of-n on length would pick them if they were eligible: they are counted and never accepted
  assert.ok(round.unfinished > 0, 'the tiny model leaves some candidates unfinished');
  for (const row of rows) assert.ok(row.completion.length <= tasks.reverse.maxCompletionLength, row.completion);
  assert.ok(Number.isFinite(round.meanReward));
  // pairs: chosen is an accepted completion of that prompt, strictly better than rejected
  const acceptedBy = new Map(rows.map((r) => [r.prompt, r]));
  for (const p of pairs) {
    assert.deepEqual(Object.keys(p), ['prompt', 'chosen', 'rejected', 'chosen_reward', 'rejected_reward']);
    assert.equal(acceptedBy.get(p.prompt)?.completion, p.chosen);
    assert.equal(p.chosen_reward, p.chosen.length);
    assert.equal(p.rejected_reward, p.rejected.length);
    assert.ok(p.chosen_reward > p.rejected_reward);
  }
  // a verifier that throws stops the run with a UsageError before any file is left behind
  const out2 = join(mkdtempSync(join(tmpdir(), 'rsft-rft-ver-')), 'run');
  await assert.rejects(runRft({ ...TINY, scorer: () => { throw new Error('nope'); }, out: out2 }), /verifier threw on prompt .*: nope/);
});

test('rounds with an ONNX reward model and the threshold policy: accepted rows are exactly the rewards >= tau', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rsft-rft-rm-'));
  const tok = new CharTokenizer(tasks.reverse.alphabet);
  // for 'reverse' the alphabet is a..j: reward = number of 'a' tokens (reuse the builder with 'a' as the scored char)
  const g = new Graph('rm');
  const ids = g.input('input_ids', 'int64', ['B', 'T']);
  const table = new Float32Array(tok.vocabSize);
  table[tok.encode('a')[0]] = 1;
  const per = ops.gather(g.initializer('table', { dtype: 'float32', shape: [tok.vocabSize], data: table }), ids);
  g.output('reward', ops.reduceSum(ops.mul(per, ops.cast(g.input('attention_mask', 'int64', ['B', 'T']), 'float32')), [1]));
  const rmPath = join(dir, 'rm.onnx');
  writeFileSync(rmPath, serialize(g));
  const out = join(dir, 'run');
  const s = await runRft({ ...TINY, policy: 'threshold', threshold: 2, perPrompt: 10, scorer: { onnx: rmPath }, out });
  assert.match(s.config.scorer, /reward model .*rm\.onnx/);
  const rows = readJsonl(join(out, 'accepted-round-1.jsonl'));
  const count = (t) => [...t].filter((c) => c === 'a').length;
  assert.ok(rows.length > 0);
  for (const row of rows) {
    assert.equal(row.reward, count(row.prompt) + count(row.completion));
    assert.ok(row.reward >= 2);
  }
});

test('rsft rft: --verifier / --reward-model errors exit 2 with one line and leave no run folder', async () => {
  const base = mkdtempSync(join(tmpdir(), 'rsft-rft-sc-'));
  const out = join(base, 'run');
  const cases = [
    [['--verifier', fixture, '--reward-model', 'x.onnx'], /exclusive/],
    [['--verifier', join(base, 'none.mjs')], /no such file/],
    [['--verifier', `${fixture}#value`], /has no function export 'value'/],
    [['--reward-model', join(base, 'none.onnx')], /no such file/],
    [['--verifier', ''], /must not be empty/],
  ];
  for (const [args, re] of cases) {
    const r = await runCli(['rft', '--small', '--out', out, ...args]);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(existsSync(out), false);
  }
});

test("the package root ('rsft') exports the RFT library API", async () => {
  const m = await import('rsft');
  for (const name of ['runRft', 'runPipeline', 'selectFile', 'encodeExamples', 'selectAll', 'decidePrompt', 'dpoPairs', 'verifierScorer', 'loadVerifierModule', 'onnxRewardModel', 'createGenerator', 'CharTokenizer', 'sample', 'Trainer']) {
    assert.equal(typeof m[name], 'function', name);
  }
  assert.deepEqual(Object.keys(m.tasks).sort(), ['addition', 'reverse']);
  assert.equal(typeof m.models.gpt, 'function');
});
