// Character-level tokenizer: ids, special tokens, encode/decode round trips, JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CharTokenizer, DEFAULT_ALPHABET, SPECIALS } from '../dist/rft/lm/tokenizer.js';

test('tokenizer: specials first, then the alphabet in order', () => {
  const t = new CharTokenizer('0123456789+=');
  assert.deepEqual([t.pad, t.bos, t.eos], [0, 1, 2]);
  assert.equal(t.vocabSize, 15);
  assert.deepEqual(t.encode('10+2=12'), [4, 3, 13, 5, 14, 4, 5]);
  assert.deepEqual(t.encode('7', { bos: true, eos: true }), [1, 10, 2]);
  assert.equal(t.token(0), '<pad>');
  assert.equal(t.token(14), '=');
  assert.deepEqual(SPECIALS, ['<pad>', '<bos>', '<eos>']);
});

test('tokenizer: round trips over the default alphabet (digits, operators, letters, space)', () => {
  const t = new CharTokenizer();
  for (const s of ['', '123+456=579', 'sort 3142 = 1234', 'reverse hello = olleh', DEFAULT_ALPHABET]) {
    assert.equal(t.decode(t.encode(s)), s);
    assert.equal(t.decode(t.encode(s, { bos: true, eos: true })), s);
  }
});

test('tokenizer: decode stops at EOS, skips PAD/BOS, accepts bigint ids, rejects bad ids', () => {
  const t = new CharTokenizer('ab');
  assert.equal(t.decode([1, 3, 4, 2, 3, 0]), 'ab');
  assert.equal(t.decode([0, 0, 1, 3, 2, 4], { stopAtEos: false }), 'ab');
  assert.equal(t.decode(BigInt64Array.from([1n, 4n, 3n, 2n])), 'ba');
  assert.throws(() => t.decode([5]), /outside the vocabulary/);
  assert.throws(() => t.decode([-1]), /outside the vocabulary/);
  assert.throws(() => t.encode('abc'), /"c" at position 2/);
  assert.throws(() => new CharTokenizer('aba'), /duplicate/);
});

test('tokenizer: toJSON / fromJSON (object and string) reproduce the same ids', () => {
  const t = CharTokenizer.fromTexts(['12+7=19', 'olleh', 'é✓']);
  assert.deepEqual(t.alphabet, ['+', '1', '2', '7', '9', '=', 'e', 'h', 'l', 'o', 'é', '✓']);
  const json = JSON.stringify(t);
  const u = CharTokenizer.fromJSON(JSON.parse(json));
  const v = CharTokenizer.fromJSON(json);
  for (const x of [u, v]) {
    assert.equal(x.vocabSize, t.vocabSize);
    assert.deepEqual(x.encode('hello✓', { bos: true, eos: true }), t.encode('hello✓', { bos: true, eos: true }));
  }
  assert.throws(() => CharTokenizer.fromJSON({ type: 'bpe' }), /char/);
  assert.throws(() => CharTokenizer.fromJSON({ type: 'char', version: 2 }), /version/);
  assert.throws(() => CharTokenizer.fromJSON({ type: 'char', version: 1, specials: ['<eos>', '<bos>', '<pad>'], alphabet: [] }), /specials/);
});

test('tokenizer: saveTokenizer / loadTokenizer through a file', async () => {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { saveTokenizer, loadTokenizer } = await import('../dist/rft/lm/tokenizer.js');
  const dir = await mkdtemp(join(tmpdir(), 'rsft-tok-'));
  try {
    const t = new CharTokenizer('0123456789+= ');
    await saveTokenizer(t, join(dir, 'tokenizer.json'));
    const u = await loadTokenizer(join(dir, 'tokenizer.json'));
    assert.deepEqual(u.toJSON(), t.toJSON());
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
