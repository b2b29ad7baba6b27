// `rsft select` end to end: good files, every bad input, --skip-bad, atomic output, streaming 1e6 lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, readdirSync, openSync, writeSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'rsft-select-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const RUN = join(dir, 'run.mjs');
writeFileSync(
  RUN,
  `import { selectCommand } from ${JSON.stringify(new URL('../dist/cli/select-command.js', import.meta.url).href)};
import { UsageError } from ${JSON.stringify(new URL('../dist/errors.js', import.meta.url).href)};
const before = process.memoryUsage().rss;
let peak = before;
const timer = process.env.MEASURE ? setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 20) : null;
try {
  await selectCommand(process.argv.slice(2));
  if (timer) { clearInterval(timer); peak = Math.max(peak, process.memoryUsage().rss); process.stderr.write(JSON.stringify({ rssGrowth: peak - before }) + '\\n'); }
} catch (e) {
  if (timer) clearInterval(timer);
  if (e instanceof UsageError) { process.stderr.write('rsft: error: ' + e.message + '\\n'); process.exitCode = 2; }
  else { process.stderr.write(String(e && e.stack) + '\\n'); process.exitCode = 1; }
}
`,
);

function run(args, env = {}) {
  const r = spawnSync(process.execPath, [RUN, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const rows = (p) => readFileSync(p, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const jsonl = (name, objs) => {
  const p = join(dir, name);
  writeFileSync(p, objs.map((o) => (typeof o === 'string' ? o : JSON.stringify(o))).join('\n') + '\n');
  return p;
};

const good = jsonl('good.jsonl', [
  { prompt: 'p0', completion: 'a', reward: 1, logprob: -2 },
  { prompt: 'p0', completion: 'b', reward: 0.2 },
  { prompt: 'p0', completion: 'a', reward: 1 },
  { prompt: 'p0', completion: 'c', reward: 0.6 },
  { prompt: 'p1', completion: 'x', reward: 0.1 },
  { prompt: 'p1', completion: 'y', reward: 0.9 },
  { prompt: 'p2', completion: 'z', reward: 0.3 },
]);

test('output rows carry the input rows\' other fields (ids, metadata); rsft\'s own names win a clash', () => {
  const inp = jsonl('extra.jsonl', [
    { q: 'p1', a: 'x', r: 1, id: 'c1', meta: { k: [1, 2] }, round: 99, prompt: 'shadowed' },
    { q: 'p1', a: 'y', r: 0, id: 'c2' },
  ]);
  const out = join(dir, 'extra-out.jsonl');
  const r = run(['--in', inp, '--out', out, '--policy', 'threshold', '--threshold', '0.5', '--prompt-field', 'q', '--completion-field', 'a', '--reward-field', 'r', '--seed', '2']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(rows(out), [
    { prompt: 'p1', completion: 'x', reward: 1, id: 'c1', meta: { k: [1, 2] }, round: 0, prompt_index: 0, candidate_index: 0, seed: 2, policy: 'threshold' },
  ]);
});

test('threshold / best-of-n / rso / top-alpha on a good file: rows, provenance, pairs, --json', () => {
  const out = join(dir, 'o.jsonl'), pairs = join(dir, 'p.jsonl');
  let r = run(['--in', good, '--out', out, '--pairs', pairs, '--policy', 'threshold', '--threshold', '0.5', '--per-prompt', 'all', '--seed', '4', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.prompts, 3);
  assert.equal(s.candidates, 7);
  assert.equal(s.duplicates, 1);
  assert.equal(s.accepted, 3);
  assert.ok(Math.abs(s.acceptanceRate - 3 / 7) < 1e-12);
  assert.ok(Math.abs(s.perPromptAcceptanceRate - (2 / 4 + 1 / 2 + 0) / 3) < 1e-12);
  const o = rows(out);
  assert.deepEqual(o.map((x) => [x.prompt_index, x.candidate_index]).sort(), [[0, 0], [0, 3], [1, 1]]);
  const first = o.find((x) => x.candidate_index === 0);
  assert.deepEqual(first, { prompt: 'p0', completion: 'a', reward: 1, logprob: -2, round: 0, prompt_index: 0, candidate_index: 0, seed: 4, policy: 'threshold' });
  const pr = rows(pairs);
  assert.equal(s.pairs, 3);
  assert.deepEqual(pr.find((x) => x.chosen === 'a'), { prompt: 'p0', chosen: 'a', rejected: 'b', chosen_reward: 1, rejected_reward: 0.2 });

  r = run(['--in', good, '--out', out, '--policy', 'best-of-n', '--seed', '1', '--round', '3']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /3 of 7 candidates accepted/);
  assert.deepEqual(rows(out).map((x) => [x.completion, x.round]), [['a', 3], ['y', 3], ['z', 3]]);

  r = run(['--in', good, '--out', out, '--policy', 'rso', '--beta', '0.5', '--per-prompt', '2', '--seed', '1', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const ro = rows(out);
  assert.equal(JSON.parse(r.stdout).accepted, 5);
  for (const x of ro) {
    assert.equal(x.policy, 'rso');
    assert.ok(x.u > 0 && x.u < 1 && Number.isInteger(x.pass));
  }
  // same seed -> identical bytes; --no-dedup changes the candidate set
  const again = join(dir, 'o2.jsonl');
  run(['--in', good, '--out', again, '--policy', 'rso', '--beta', '0.5', '--per-prompt', '2', '--seed', '1']);
  assert.equal(readFileSync(again, 'utf8'), readFileSync(out, 'utf8'));
  r = run(['--in', good, '--out', out, '--policy', 'threshold', '--threshold', '0.5', '--per-prompt', 'all', '--no-dedup', '--json']);
  assert.equal(JSON.parse(r.stdout).accepted, 4);
  r = run(['--in', good, '--out', out, '--policy', 'threshold', '--threshold', '0', '--per-prompt', 'all', '--cap', '1', '--json']);
  assert.equal(JSON.parse(r.stdout).accepted, 3);

  r = run(['--in', good, '--out', out, '--policy', 'top-alpha', '--alpha', '0.5', '--per-prompt', 'all', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).accepted, 3); // ceil(0.5 * 6 non-duplicates)
  assert.deepEqual(rows(out).map((x) => x.reward).sort(), [0.6, 0.9, 1]);
});

test('a prompt\'s decisions do not depend on other prompts; custom field names', () => {
  const a = jsonl('a.jsonl', [
    { q: 'p0', ans: 'a', score: 0.1 }, { q: 'p0', ans: 'b', score: 0.7 },
    { q: 'p1', ans: 'x', score: 0.4 }, { q: 'p1', ans: 'y', score: 0.5 }, { q: 'p1', ans: 'w', score: 0.45 },
  ]);
  const b = jsonl('b.jsonl', [
    { q: 'p0', ans: 'zz', score: 9 },
    { q: 'p1', ans: 'x', score: 0.4 }, { q: 'p1', ans: 'y', score: 0.5 }, { q: 'p1', ans: 'w', score: 0.45 },
  ]);
  const oa = join(dir, 'oa.jsonl'), ob = join(dir, 'ob.jsonl');
  const f = ['--prompt-field', 'q', '--completion-field', 'ans', '--reward-field', 'score', '--policy', 'rso', '--beta', '0.05', '--per-prompt', '2', '--seed', '5'];
  assert.equal(run(['--in', a, '--out', oa, ...f]).code, 0);
  assert.equal(run(['--in', b, '--out', ob, ...f]).code, 0);
  const pa = rows(oa).filter((x) => x.prompt_index === 1), pb = rows(ob).filter((x) => x.prompt_index === 1);
  assert.equal(pa.length, 2);
  assert.deepEqual(pa, pb);
  assert.deepEqual(Object.keys(pa[0]).slice(0, 3), ['prompt', 'completion', 'reward']);
});

const BAD = [
  ['bad JSON', '{"prompt": "p", "completion": "c", "reward": 1', /line 3: bad JSON/],
  ['missing prompt', { completion: 'c', reward: 1 }, /line 3: missing field 'prompt'/],
  ['missing completion', { prompt: 'p', reward: 1 }, /line 3: missing field 'completion'/],
  ['missing reward', { prompt: 'p', completion: 'c' }, /line 3: missing field 'reward'/],
  ['string reward', { prompt: 'p', completion: 'c', reward: 'high' }, /line 3: field 'reward' is not a finite number/],
  ['not an object', '[1, 2]', /line 3: not a JSON object/],
];

for (const [name, line, re] of BAD) {
  test(`bad input (${name}): exit 2, one stderr line naming the line, no output file; --skip-bad counts it`, () => {
    const sub = mkdtempSync(join(dir, 'bad-'));
    const p = join(sub, 'in.jsonl');
    writeFileSync(p, [JSON.stringify({ prompt: 'p', completion: 'a', reward: 0.5 }), JSON.stringify({ prompt: 'p', completion: 'b', reward: 0.7 }), typeof line === 'string' ? line : JSON.stringify(line), JSON.stringify({ prompt: 'q', completion: 'd', reward: 0.1 })].join('\n') + '\n');
    const out = join(sub, 'out.jsonl'), pairs = join(sub, 'pairs.jsonl');
    for (const policy of [['best-of-n'], ['top-alpha', '--alpha', '0.5']]) {
      const r = run(['--in', p, '--out', out, '--pairs', pairs, '--policy', ...policy]);
      assert.equal(r.code, 2, r.stderr);
      const lines = r.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], re);
      assert.deepEqual(readdirSync(sub), ['in.jsonl']); // no output, no temporaries
    }
    const r = run(['--in', p, '--out', out, '--policy', 'best-of-n', '--skip-bad', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout);
    assert.equal(s.badLines, 1);
    assert.equal(s.candidates, 3);
    assert.equal(s.accepted, 2);
  });
}

test('the input is never an output, and top-alpha (three reads) refuses a pipe', () => {
  const sub = mkdtempSync(join(dir, 'same-'));
  const p = join(sub, 'in.jsonl');
  writeFileSync(p, readFileSync(good));
  for (const [flag, extra] of [['--out', []], ['--pairs', ['--out', join(sub, 'o.jsonl')]]]) {
    const r = run(['--in', p, ...extra, flag, join(sub, '.', 'in.jsonl'), '--policy', 'best-of-n']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`${flag} must not be the input file`));
  }
  assert.deepEqual(readFileSync(p), readFileSync(good), 'the input is untouched');
  // (a shell pipe, as a user makes one: spawnSync's own input is a socket)
  const pipe = (args) => spawnSync('sh', ['-c', 'f="$0" node="$1" run="$2"; shift 2; cat "$f" | "$node" "$run" --in /dev/stdin "$@"', good, process.execPath, RUN, ...args], { encoding: 'utf8' });
  const piped = pipe(['--out', join(sub, 't.jsonl'), '--policy', 'top-alpha', '--alpha', '0.5']);
  assert.equal(piped.status, 2, piped.stderr);
  assert.match(piped.stderr, /top-alpha reads its input three times and needs a regular file/);
  const once = pipe(['--out', join(sub, 'b.jsonl'), '--policy', 'best-of-n', '--json']);
  assert.equal(once.status, 0, once.stderr);
  assert.ok(JSON.parse(once.stdout).accepted > 0);
});

test('a UTF-8 byte-order mark before the first line is not an error', () => {
  const sub = mkdtempSync(join(dir, 'bom-'));
  const p = join(sub, 'in.jsonl');
  writeFileSync(p, '\ufeff' + readFileSync(good, 'utf8'));
  const a = run(['--in', p, '--out', join(sub, 'a.jsonl'), '--policy', 'best-of-n', '--json']);
  const b = run(['--in', good, '--out', join(sub, 'b.jsonl'), '--policy', 'best-of-n', '--json']);
  assert.equal(a.code, 0, a.stderr);
  assert.deepEqual(rows(join(sub, 'a.jsonl')), rows(join(sub, 'b.jsonl')));
});

test('usage errors exit 2; --help documents every flag', () => {
  const out = join(dir, 'u.jsonl');
  for (const args of [
    ['--in', good, '--out', out],
    ['--in', good, '--out', out, '--policy', 'rso'],
    ['--in', good, '--out', out, '--policy', 'nope'],
    ['--in', good, '--out', out, '--policy', 'threshold'],
    ['--in', good, '--out', out, '--policy', 'top-alpha', '--alpha', '1.5'],
    ['--in', good, '--out', out, '--policy', 'rso', '--beta', '-1'],
    ['--in', good, '--out', out, '--policy', 'best-of-n', '--per-prompt', '0'],
    ['--in', good, '--out', out, '--policy', 'best-of-n', '--beta', '1'],
    ['--in', join(dir, 'missing.jsonl'), '--out', out, '--policy', 'best-of-n'],
    ['--in', good, '--out', join(dir, 'no-such-dir', 'o.jsonl'), '--policy', 'best-of-n'],
    ['--out', out, '--policy', 'best-of-n'],
    ['--in', good, '--policy', 'best-of-n'],
    ['--in', good, '--out', out, '--policy', 'best-of-n', '--bogus'],
    ['--in', good, '--out', out, '--pairs', out, '--policy', 'best-of-n'],
    ['--in', good, '--out', out, '--policy', 'best-of-n', '--round', String(2 ** 21)],
  ]) {
    const r = run(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
    assert.ok(!existsSync(out));
  }
  const h = run(['--help']);
  assert.equal(h.code, 0);
  for (const flag of ['in', 'out', 'policy', 'threshold', 'beta', 'alpha', 'per-prompt', 'cap', 'no-dedup', 'seed', 'round', 'pairs', 'prompt-field', 'completion-field', 'reward-field', 'skip-bad', 'json', 'help']) {
    assert.ok(h.stdout.includes(`--${flag}`), flag);
  }
});

test('streaming: 1e6 lines in bounded memory and seconds', () => {
  const p = join(dir, 'big.jsonl');
  const fd = openSync(p, 'w');
  let buf = [];
  for (let i = 0; i < 1e6; i++) {
    const q = Math.floor(i / 8);
    buf.push(`{"prompt":"What is ${q} + ${(q * 7) % 1000}?","completion":"answer ${(i * 2654435761) % 1000003}","reward":${((i * 40503) % 997) / 997}}`);
    if (buf.length === 20000) { writeSync(fd, buf.join('\n') + '\n'); buf = []; }
  }
  closeSync(fd);
  const out = join(dir, 'big-out.jsonl');
  const t0 = Date.now();
  const r = run(['--in', p, '--out', out, '--pairs', join(dir, 'big-pairs.jsonl'), '--policy', 'rso', '--beta', '0.5', '--per-prompt', '2', '--seed', '1', '--json'], { MEASURE: '1' });
  const secs = (Date.now() - t0) / 1000;
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.candidates, 1e6);
  assert.equal(s.prompts, 125000);
  assert.equal(s.accepted, 250000);
  const { rssGrowth } = JSON.parse(r.stderr.trim().split('\n').pop());
  assert.ok(rssGrowth < 200 * 2 ** 20, `rss grew ${(rssGrowth / 2 ** 20).toFixed(0)} MB`);
  assert.ok(secs < 30, `took ${secs} s`);
  rmSync(p);
});
