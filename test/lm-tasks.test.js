// Built-in LM tasks: verifiers, determinism, held-out disjointness, pretraining noise,
// and encodeExamples' masking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tasks, addition, reverse, getTask, encodeExamples, DEFAULT_NOISE } from '../dist/rft/lm/tasks.js';
import { CharTokenizer } from '../dist/rft/lm/tokenizer.js';
import { IGNORE_INDEX } from '../dist/train/gpt-model.js';
import { UsageError } from '../dist/errors.js';

test('addition verifier: correct, incorrect and malformed completions and prompts', () => {
  assert.equal(addition.verify('123+45=', '168'), true);
  assert.equal(addition.verify('0+0=', '0'), true);
  assert.equal(addition.verify('999+999=', '1998'), true);
  for (const bad of ['167', '0168', ' 168', '168 ', '16', '1680', '', '+168', '16a', '1.68e2']) assert.equal(addition.verify('123+45=', bad), false, bad);
  for (const p of ['123+45', '1234+5=', '01+2=', 'a+b=', '', '1+2+3=']) assert.equal(addition.verify(p, '3'), false, p);
  assert.equal(addition.verify(null, '1'), false);
  assert.equal(addition.verify('1+2=', undefined), false);
  assert.equal(addition.answer('7+8='), '15');
  assert.throws(() => addition.answer('7+8'), UsageError);
});

test('reverse verifier', () => {
  assert.equal(reverse.verify('abcd=', 'dcba'), true);
  assert.equal(reverse.verify('aa=', 'aa'), true);
  for (const bad of ['abcd', 'dcb', 'dcbaa', ' dcba', 'DCBA', '']) assert.equal(reverse.verify('abcd=', bad), false, bad);
  for (const p of ['abcd', 'a=', 'abcdef=', 'xyz=', 'ab=c=']) assert.equal(reverse.verify(p, 'x'), false, p);
});

test('prompts are well formed, distinct, deterministic by seed and held-out disjoint from training', () => {
  for (const task of Object.values(tasks)) {
    const tr = task.makePrompts(1, 2000, 'train');
    assert.deepEqual(task.makePrompts(1, 2000, 'train'), tr);
    assert.notDeepEqual(task.makePrompts(2, 2000, 'train'), tr);
    assert.deepEqual(task.makePrompts(1, 50, 'train'), tr.slice(0, 50), 'a prefix of the same stream');
    assert.equal(new Set(tr).size, tr.length);
    const ho = new Set([...task.makePrompts(1, 500, 'heldout'), ...task.makePrompts(7, 500, 'heldout')]);
    for (const p of ho) assert.ok(!tr.includes(p), `${task.name}: held-out prompt ${p} is a training prompt`);
    // Disjoint across seeds too, and pretraining data only uses training prompts.
    const tr2 = new Set(task.makePrompts(9, 2000, 'train'));
    for (const p of ho) assert.ok(!tr2.has(p));
    for (const ex of task.pretrainData(3, 1000)) assert.ok(!ho.has(ex.prompt));
    const tok = new CharTokenizer(task.alphabet);
    for (const p of [...tr, ...ho]) {
      assert.ok(p.length <= task.maxPromptLength);
      tok.encode(p + task.answer(p)); // only alphabet characters
      assert.ok(task.answer(p).length <= task.maxCompletionLength);
      assert.equal(task.verify(p, task.answer(p)), true);
    }
  }
  assert.equal(getTask('addition'), addition);
  assert.throws(() => getTask('nope'), /unknown task 'nope' \(known: addition, reverse\)/);
  assert.throws(() => getTask('toString'), UsageError);
  assert.throws(() => addition.makePrompts(-1, 3, 'train'), UsageError);
  assert.throws(() => addition.makePrompts(1, 3, 'test'), UsageError);
  assert.throws(() => reverse.makePrompts(1, 1e6, 'heldout'), UsageError);
});

test('addition operands cover 1..3 digits', () => {
  const lens = new Set(addition.makePrompts(4, 300, 'train').flatMap((p) => p.slice(0, -1).split('+').map((s) => s.length)));
  assert.deepEqual([...lens].sort(), [1, 2, 3]);
});

test('pretraining data: deterministic, noise fraction of wrong but well-formed answers', () => {
  for (const task of Object.values(tasks)) {
    const d = task.pretrainData(5, 4000);
    assert.deepEqual(task.pretrainData(5, 4000), d);
    const wrong = d.filter((e) => !task.verify(e.prompt, e.completion));
    const frac = wrong.length / d.length;
    assert.ok(Math.abs(frac - DEFAULT_NOISE) < 0.03, `${task.name}: wrong fraction ${frac}`);
    const tok = new CharTokenizer(task.alphabet);
    for (const e of wrong) {
      tok.encode(e.completion);
      assert.ok(e.completion.length > 0 && e.completion.length <= task.maxCompletionLength);
    }
    assert.ok(task.pretrainData(5, 500, { noise: 0 }).every((e) => task.verify(e.prompt, e.completion)));
    assert.ok(task.pretrainData(5, 500, { noise: 1 }).every((e) => !task.verify(e.prompt, e.completion)));
    assert.throws(() => task.pretrainData(5, 10, { noise: 1.5 }), UsageError);
  }
  // Wrong addition answers have no leading zeros (well-formed numbers).
  for (const e of addition.pretrainData(2, 2000, { noise: 1 })) assert.match(e.completion, /^(0|[1-9][0-9]*)$/);
});

test('encodeExamples: BOS + prompt + completion + EOS, PAD, targets only on completion and EOS', () => {
  const tok = new CharTokenizer(addition.alphabet);
  const ex = [{ prompt: '12+5=', completion: '17' }, { prompt: '999+999=', completion: '1998' }];
  const { tokens, targets, n, T } = encodeExamples(tok, ex, 14);
  assert.equal(n, 2);
  assert.equal(T, 14);
  const id = (c) => BigInt(tok.encode(c)[0]);
  const row0 = [1n, ...[...'12+5=17'].map(id), 2n, 0n, 0n, 0n, 0n, 0n];
  assert.deepEqual([...tokens.subarray(0, 14)], row0);
  const I = BigInt(IGNORE_INDEX);
  // Position 5 holds '=' (last prompt char) -> predicts '1'; 6 -> '7'; 7 -> EOS.
  assert.deepEqual([...targets.subarray(0, 14)], [I, I, I, I, I, id('1'), id('7'), 2n, I, I, I, I, I, I]);
  const r1 = [...tokens.subarray(14)], t1 = [...targets.subarray(14)];
  assert.equal(r1[13], 2n);
  assert.equal(t1[13], I);
  assert.equal(t1.filter((v) => v !== I).length, 5);
  // A sequence of context + 1 tokens fits: the final EOS is only a target.
  const e13 = encodeExamples(tok, [ex[1]], 13);
  assert.equal(e13.tokens[12], id('8'));
  assert.equal(e13.targets[12], 2n);
  assert.throws(() => encodeExamples(tok, ex, 12), /needs 13 positions/);
  assert.throws(() => encodeExamples(tok, [{ prompt: 'x=', completion: '1' }], 14), UsageError);
  assert.throws(() => encodeExamples(tok, [{ prompt: '1=' }], 14), UsageError);
});
