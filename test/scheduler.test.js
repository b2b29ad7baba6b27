// The pooled block scheduler: the calling thread and pool workers claim blocks from a shared
// ring. Output must be the same bytes as one worker however the claims interleave: with a
// slow consumer (the ring fills and pool tasks wait, or return and restart), with a shared
// output that every thread writes its blocks into, after an early stop
// (tasks still finishing when the next run starts), with runs sharing the pool, and when a
// worker fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnSync } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { sample, RejectionSampler, closePools, dist, UsageError } from '../dist/index.js';
import { loadNative } from '../dist/sampling/native.js';

const T2 = { target: 'mixture(0.3*normal(-2,0.5), 0.7*normal(1.5,1))', proposal: 'normal(0,3)', M: 2.42 };
const T1 = { target: 'beta(2,5)', proposal: 'uniform(0,1)', M: 2.4576 };
const bytes = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

test('workers 2, 3 and 5 give the bytes and stats of one worker', async () => {
  for (const [task, n] of [[T1, 200000], [T2, 150000], [T2, 1000]]) {
    const one = await sample({ ...task, n, seed: 11, workers: 1 });
    for (const workers of [2, 3, 5]) {
      const many = await sample({ ...task, n, seed: 11, workers });
      assert.ok(bytes(one.samples).equals(bytes(many.samples)), `workers ${workers}, n ${n}`);
      assert.deepEqual({ ...many.stats, seconds: 0, workers: 0 }, { ...one.stats, seconds: 0, workers: 0 });
    }
  }
});

test('runs handed to the pool without a message (same job and ring) still take their own seed and n', async () => {
  // A standing task gets a message only when the job, ring or output changes (crew.ts); the
  // seed and the layout travel in its mailbox. Alternate them, and the job, call after call.
  const shared = new Float64Array(new SharedArrayBuffer(300000 * 8));
  const calls = [[T1, 1, 300000], [T1, 2, 300000], [T1, 2, 200000], [T2, 2, 200000], [T1, 3, 250000], [T1, 3, 250000]];
  for (const [task, seed, n] of calls) {
    const one = await sample({ ...task, n, seed, workers: 1 });
    for (const out of [undefined, shared.subarray(0, n)]) {
      const two = await sample({ ...task, n, seed, workers: 2, out });
      assert.ok(bytes(one.samples).equals(bytes(two.samples)), `seed ${seed} n ${n} ${out ? 'shared' : 'own'} out`);
    }
  }
});

test('wide rows (fewer ring slots) give the bytes of one worker too', async () => {
  const d = 40;
  const target = dist.mvnormal(Array.from({ length: d }, (_, i) => i / d), Array(d).fill(1));
  const proposal = dist.mvnormal(Array.from({ length: d }, (_, i) => i / d), Array(d).fill(1.02));
  // 65536 rows x 40 numbers = 21 MB per slot: the ring shrinks to workers + 2 = 5 slots
  const opts = { target, proposal, M: 'auto', n: 400000, seed: 4, blockRows: 65536 };
  const one = await sample({ ...opts, workers: 1 });
  const many = await sample({ ...opts, workers: 3 });
  assert.equal(one.stats.dim, d);
  assert.ok(one.stats.blocks > 5, `${one.stats.blocks} blocks`);
  assert.ok(bytes(one.samples).equals(bytes(many.samples)));
});

test('a slow consumer: the ring fills, pool tasks wait or return and restart, output unchanged', async () => {
  const n = 400000;
  const whole = await sample({ ...T1, n, seed: 3, workers: 1 });
  // Workers run 12 slots ahead at most. A pause shorter than their 5 ms wait for the claim
  // limit keeps the tasks waiting; a longer one makes them return and be started again.
  for (const pauseMs of [2, 8]) {
    const parts = [];
    for await (const b of new RejectionSampler({ ...T1, n, seed: 3, workers: 3 }).batches()) {
      parts.push(b);
      await sleep(pauseMs);
    }
    assert.ok(parts.length > 12, `${parts.length} batches`);
    assert.ok(bytes(whole.samples).equals(Buffer.concat(parts.map(bytes))), `pause ${pauseMs} ms`);
  }
});

test('a shared output is filled in place by every thread, with the bytes of one worker', async () => {
  const d40 = {
    target: dist.mvnormal(Array.from({ length: 40 }, (_, i) => i / 40), Array(40).fill(1)),
    proposal: dist.mvnormal(Array.from({ length: 40 }, (_, i) => i / 40), Array(40).fill(1.02)),
    M: 'auto',
  };
  const cases = [[T1, 200000, 'native'], [T2, 150000, 'native'], [T2, 1000, 'native'], [T1, 60000, 'js'], [d40, 100000, 'native']];
  for (const [task, n, kernel] of cases) {
    const one = await sample({ ...task, n, seed: 11, workers: 1, kernel });
    const d = one.stats.dim;
    for (const workers of [2, 3]) {
      // a view into a larger shared buffer: rows go between the sentinels, nowhere else
      const buf = new Float64Array(new SharedArrayBuffer((n * d + 10) * 8));
      buf.fill(-7);
      const out = buf.subarray(3, 3 + n * d + 4);
      const many = await sample({ ...task, n, seed: 11, workers, kernel, out });
      const what = `${kernel} d ${d} n ${n} workers ${workers}`;
      assert.equal(many.samples.buffer, buf.buffer, what);
      assert.ok(bytes(one.samples).equals(bytes(many.samples)), what);
      assert.deepEqual({ ...many.stats, seconds: 0, workers: 0 }, { ...one.stats, seconds: 0, workers: 0 }, what);
      assert.deepEqual([...buf.subarray(0, 3), ...buf.subarray(3 + n * d)], Array(10).fill(-7), `${what}: wrote outside the rows`);
    }
  }
});

test("a stream's batches are arrays of their own, written in place by every thread, and can be kept or transferred", async (t) => {
  const m = loadNative();
  if (!m) return t.skip('native kernel unavailable');
  const n = 300000; // 10 blocks
  const whole = await sample({ ...T1, n, seed: 4, workers: 1 });
  for (const workers of [1, 2, 3]) {
    const [lentBefore] = m.leaseCounts();
    const parts = [];
    let i = 0;
    for await (const b of new RejectionSampler({ ...T1, n, seed: 4, workers }).batches()) {
      // an array of its own: nothing else in its buffer, no buffer shared with another batch
      assert.ok(b.byteOffset === 0 && b.buffer.byteLength === b.byteLength, `workers ${workers}: batch ${i} shares its buffer`);
      assert.ok(!parts.some((p) => p.buffer === b.buffer));
      // the consumer may transfer a batch (or keep it): later batches are not touched
      parts.push(i++ % 3 === 1 ? structuredClone(b, { transfer: [b.buffer] }) : b);
      if (i % 3 === 2) assert.equal(b.byteLength, 0, 'transferred');
    }
    assert.ok(bytes(whole.samples).equals(Buffer.concat(parts.map(bytes))), `workers ${workers}`);
    const [lentAfter, active] = m.leaseCounts();
    assert.equal(active, 0, `workers ${workers}: leases left out`);
    // pooled: every block went into an array lent to the ring's slot (none through a slot copy)
    if (workers > 1) assert.ok(lentAfter - lentBefore >= 10, `workers ${workers}: ${lentAfter - lentBefore} leases`);
  }
});

test('a stream dropped mid-run without being ended: its lent arrays outlive the pool threads\' writes, then are let go', (t) => {
  if (!loadNative()) return t.skip('native kernel unavailable');
  // (a child process: it needs --expose-gc) An endless stream of slow blocks, one batch taken,
  // the iterator dropped while pool threads write into arrays lent to its slots; then garbage
  // collections. The lent arrays must stay alive until the pool threads are out, and the
  // leases must end once the stream is collected, also when it follows a long-lived signal
  // (whose listener must not keep the run alive, and is removed).
  const code = `
    import { RejectionSampler, closePools } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
    import { loadNative } from ${JSON.stringify(new URL('../dist/sampling/native.js', import.meta.url).href)};
    import { getEventListeners } from 'node:events';
    const m = loadNative();
    const shutdown = new AbortController();
    const CUSTOM = { target: { logpdf: '-x^2/2 + log(1 + sin(3*x)^2)' }, proposal: 'normal(0,1)', M: 5.02 };
    await (async () => {
      for (const seed of [1, 2, 3]) {
        const it = new RejectionSampler({ ...CUSTOM, seed, workers: 2 }).batches({ signal: shutdown.signal })[Symbol.asyncIterator]();
        const first = await it.next();
        if (first.value.length !== 32768) throw new Error('first batch: ' + first.value.length);
      }
    })();
    if (m.leaseCounts()[1] === 0) throw new Error('no lease out while the stream runs');
    for (let k = 0; k < 60 && m.leaseCounts()[1] > 0; k++) {
      globalThis.gc();
      const junk = []; for (let j = 0; j < 40; j++) junk.push(new Float64Array(32768).fill(j));
      await new Promise((r) => setTimeout(r, 20));
    }
    const left = m.leaseCounts()[1];
    await closePools();
    if (left !== 0) throw new Error(left + ' leases still out after the stream was collected');
    const listening = getEventListeners(shutdown.signal, 'abort').length;
    if (listening !== 0) throw new Error(listening + ' abort listeners left on the signal');
    console.log('ok');
  `;
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'ok');
});

test("a caller's signal is followed through the engine's own methods, one listener for every run", async () => {
  // overrides on the signal never run (a throwing one used to skip stopping the run)
  const ac = new AbortController();
  ac.signal.addEventListener = () => assert.fail('the caller\'s addEventListener ran');
  ac.signal.removeEventListener = () => assert.fail('the caller\'s removeEventListener ran');
  const CUSTOM = { target: { logpdf: '-x^2/2 + log(1 + sin(3*x)^2)' }, proposal: 'normal(0,1)', M: 5.02 };
  setTimeout(() => ac.abort(new Error('stop now')), 20);
  await assert.rejects(sample({ ...CUSTOM, n: 4e6, seed: 1, workers: 2, signal: ac.signal }), /stop now/);
  // twelve concurrent streams on one long-lived signal: one listener, no warning, none left
  const shutdown = new AbortController();
  const warnings = [];
  const onWarning = (w) => warnings.push(w.name);
  process.on('warning', onWarning);
  try {
    const its = Array.from({ length: 12 }, (_, i) => new RejectionSampler({ ...T1, n: 100000, seed: i, workers: 2 }).batches({ signal: shutdown.signal })[Symbol.asyncIterator]());
    await Promise.all(its.map((it) => it.next()));
    assert.equal(getEventListeners(shutdown.signal, 'abort').length, 1);
    await Promise.all(its.map(async (it) => { for (let r = await it.next(); !r.done; r = await it.next()); }));
    await sleep(10);
  } finally {
    process.off('warning', onWarning);
  }
  assert.deepEqual(warnings, []);
  assert.equal(getEventListeners(shutdown.signal, 'abort').length, 0);
  // not a signal: a UsageError, whatever its prototype says
  const fake = Object.create(AbortSignal.prototype);
  await assert.rejects(sample({ ...T1, n: 10, signal: fake }), UsageError);
  for (const signal of [{}, fake]) {
    await assert.rejects((async () => { for await (const b of new RejectionSampler({ ...T1, n: 10, workers: 2 }).batches({ signal })) assert.ok(b); })(), UsageError);
  }
});

test('an early stop, then at once another run on the same pool', async () => {
  const ref = await sample({ ...T2, n: 300000, seed: 5, workers: 1 });
  for (let i = 0; i < 3; i++) {
    for await (const b of new RejectionSampler({ ...T2, seed: 99, workers: 2 }).batches()) {
      assert.ok(b.length > 0);
      break; // pool tasks are still claiming blocks of the endless stream
    }
    const again = await sample({ ...T2, n: 300000, seed: 5, workers: 2 });
    assert.ok(bytes(ref.samples).equals(bytes(again.samples)));
  }
});

test('concurrent runs share the pool and each gets its own output', async () => {
  const seeds = [21, 22, 23];
  const refs = await Promise.all(seeds.map((seed) => sample({ ...T1, n: 150000, seed, workers: 1 })));
  const runs = await Promise.all(seeds.map((seed) => sample({ ...T1, n: 150000, seed, workers: 2 })));
  runs.forEach((r, i) => assert.ok(bytes(refs[i].samples).equals(bytes(r.samples)), `seed ${seeds[i]}`));
  // Callers' plain outputs, each lent only between its run's awaits, and runs long enough
  // (~20 ms) to yield several times: a pool thread holding a block of one run waits for that
  // run's next lease while the others go on.
  const CUSTOM = { target: { logpdf: '-x^2/2 + log(1 + sin(3*x)^2)' }, proposal: 'normal(0,1)', M: 2 * Math.sqrt(2 * Math.PI) * 1.001 };
  const n = 400000;
  const crefs = await Promise.all(seeds.map((seed) => sample({ ...CUSTOM, n, seed, workers: 1 })));
  const outs = seeds.map(() => new Float64Array(n));
  await Promise.all(seeds.map((seed, i) => sample({ ...CUSTOM, n, seed, workers: 3, out: outs[i] })));
  outs.forEach((o, i) => assert.ok(bytes(crefs[i].samples).equals(bytes(o)), `plain out, seed ${seeds[i]}`));
});

test('a pool worker that throws fails the run with its error; the pool still works after', async () => {
  const mod = new URL('./fixtures/logdensity.mjs', import.meta.url).href;
  const base = { proposal: 'uniform(0,1)', M: 2.4576, n: 2_000_000, seed: 8 };
  await assert.rejects(sample({ ...base, target: { module: mod, export: 'failsInWorkers' }, workers: 2 }), /worker density exploded/);
  await assert.rejects(sample({ ...base, target: { module: mod, export: 'failsUncloneably' }, workers: 2 }), /unsendable density failure/);
  const a = await sample({ ...base, target: { module: mod, export: 'beta25' }, workers: 2 });
  const b = await sample({ ...base, target: { module: mod, export: 'beta25' }, workers: 1 });
  assert.ok(bytes(a.samples).equals(bytes(b.samples)));
});

test('abort mid-run rejects with the reason and leaves the pool usable', async () => {
  for (const out of [undefined, new Float64Array(new SharedArrayBuffer(5_000_000 * 8)), new Float64Array(5_000_000)]) {
    const ac = new AbortController();
    const run = sample({ ...T2, n: 5_000_000, seed: 1, workers: 2, signal: ac.signal, out });
    setTimeout(() => ac.abort(new Error('stop now')), 5);
    await assert.rejects(run, /stop now/);
  }
  const ref = await sample({ ...T2, n: 100000, seed: 6, workers: 1 });
  const again = await sample({ ...T2, n: 100000, seed: 6, workers: 2 });
  assert.ok(bytes(ref.samples).equals(bytes(again.samples)));
});

test('after an abort, pool threads no longer write into a shared output, nor the calling thread into a plain one', async () => {
  // A custom expression: slow enough (~90 ms for n) that every abort below lands mid-run.
  const CUSTOM = { target: { logpdf: '-x^2/2 + log(1 + sin(3*x)^2)' }, proposal: 'normal(0,1)', M: 2 * Math.sqrt(2 * Math.PI) * 1.001 };
  await sample({ ...CUSTOM, n: 100000, seed: 1, workers: 2 }); // the pool thread is up and parked
  const n = 4_000_000;
  const K = 32768; // rows per block: block b fills rows [b K, (b + 1) K), front to back
  const outs = [new Float64Array(new SharedArrayBuffer(n * 8)), new Float64Array(n)];
  for (let i = 0; i < 16; i++) {
    const out = outs[i % 2]; // a caller's plain output is lent to the pool thread between yields (lease.test.js)
    out.fill(-7); // -7 marks what is not written yet
    const ac = new AbortController();
    const run = sample({ ...CUSTOM, n, seed: 1, workers: 2, signal: ac.signal, out, blockRows: K });
    setTimeout(() => ac.abort(new Error('stop now')), 8 + (i >> 1) * 2);
    await assert.rejects(run, /stop now/);
    // At once (a pool thread's block takes ~1 ms): every block is written whole or not at
    // all, i.e. no block was still being written when the run rejected.
    const lasts = [];
    for (let b = 0; b * K < n; b++) {
      const first = out[b * K], last = out[Math.min(n, (b + 1) * K) - 1];
      assert.ok(first === -7 || last !== -7, `round ${i}: block ${b} was still being written when the run rejected`);
      lasts.push(last);
    }
    await sleep(20);
    lasts.forEach((last, b) => assert.equal(out[Math.min(n, (b + 1) * K) - 1], last, `round ${i}: block ${b} was written after the run rejected`));
  }
});

test('into an output, pool threads do not wait for a stalled calling thread: they run to the end of the run', async () => {
  // The calling thread stalls in onProgress after the first block (as when the VM takes its
  // vCPU away for milliseconds); meanwhile the pool thread must go on to the last block. With
  // a claim limit a few blocks ahead of the calling thread (as a stream's consumer gets), it
  // stopped there, and the call took as long as the stall plus the calling thread's share.
  const T1 = { target: 'beta(2,5)', proposal: 'uniform(0,1)', M: 2.4576 };
  const K = 32768, n = 40 * K;
  const ref = await sample({ ...T1, n, seed: 4, workers: 1 });
  const out = new Float64Array(new SharedArrayBuffer(n * 8)).fill(-7);
  // (the last row's high word, read with Atomics so that every check reads memory again)
  const words = new Int32Array(out.buffer), unwritten = new Int32Array(Float64Array.of(-7).buffer)[1];
  let reached = null;
  const onProgress = () => {
    if (reached !== null) return;
    const until = Date.now() + 10_000; // (only a failing run waits this long)
    while (Atomics.load(words, 2 * n - 1) === unwritten && Date.now() < until);
    reached = out[n - 1] !== -7;
  };
  await sample({ ...T1, n, seed: 4, workers: 2, out, onProgress });
  assert.equal(reached, true, 'the pool thread stopped a few blocks ahead of the stalled calling thread');
  assert.ok(bytes(out).equals(bytes(ref.samples)));
});

test('closePools() while a pooled call is still making its plan: the call completes on a new pool', async () => {
  // A run long enough (~40 ms) to still need its pool thread when the old pool goes down.
  const CUSTOM = { target: { logpdf: '-x^2/2 + log(1 + sin(3*x)^2)' }, proposal: 'normal(0,1)', M: 2 * Math.sqrt(2 * Math.PI) * 1.001 };
  const ref = await sample({ ...CUSTOM, n: 1e6, seed: 3, workers: 1 });
  for (let i = 0; i < 4; i++) {
    await sample({ ...CUSTOM, n: 1e5, workers: 2 }); // a standing task is up and parked
    const run = sample({ ...CUSTOM, n: 1e6, seed: 3, workers: 2 });
    const closing = closePools(); // (before, the run's hand-over could land on the pool being destroyed)
    const { samples } = await run;
    await closing;
    assert.ok(Buffer.from(samples.buffer).equals(Buffer.from(ref.samples.buffer)), `round ${i}`);
  }
});

test('pool threads that idled out are started again; a process that never calls closePools still exits', async () => {
  const ref = await sample({ ...T1, n: 300000, seed: 12, workers: 1 });
  for (let i = 0; i < 2; i++) {
    const again = await sample({ ...T1, n: 300000, seed: 12, workers: 2 });
    assert.ok(bytes(ref.samples).equals(bytes(again.samples)), `run ${i}`);
    await sleep(250); // past the standing tasks' 100 ms idle time: they return
  }
  const script = `import { sample } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
const r = await sample({ target: 'beta(2,5)', proposal: 'uniform(0,1)', M: 2.4576, n: 300000, seed: 1, workers: 2 });
console.log(r.samples.length);`;
  const { spawnSync } = await import('node:child_process');
  const t0 = performance.now();
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20000 });
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stdout.trim(), '300000');
  assert.ok(performance.now() - t0 < 15000, 'the process did not exit by itself');
});

test('a process started with a flag workers refuse (--single-threaded-gc) still samples on the pool', async () => {
  const script = `import { sample, closePools } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
const o = { target: 'beta(2,5)', proposal: 'uniform(0,1)', M: 2.4576, n: 300000, seed: 1 };
const [a, b] = [await sample({ ...o, workers: 2 }), await sample({ ...o, workers: 1 })];
console.log(a.stats.workers, Buffer.from(a.samples.buffer).equals(Buffer.from(b.samples.buffer)));
await closePools();`;
  const { spawnSync } = await import('node:child_process');
  const child = spawnSync(process.execPath, ['--single-threaded-gc', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20000 });
  assert.equal(child.status, 0, child.stderr);
  assert.equal(child.stdout.trim(), '2 true');
});

test('teardown', async () => {
  await closePools();
});
