// Output leases (native/src/lease.rs): the calling thread lends a plain Float64Array to other
// threads, which write blocks into it by lease id, bounds-checked. Checked on the bare native
// module, from a worker thread, and through sample(), which lends the output it allocates
// itself for the whole run, and a caller's buffer only while no other code can run: a
// caller's buffer may be transferred, and its memory freed, mid-call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { sample, closePools, getKernel, UsageError } from '../dist/index.js';
import { loadNative } from '../dist/sampling/native.js';
import { makePlan } from '../dist/sampling/resolve.js';

const T1 = { target: 'beta(2,5)', proposal: 'uniform(0,1)', M: 2.4576 };
const CUSTOM = { target: { logpdf: '-x^2/2 + log(1 + sin(3*x)^2)' }, proposal: 'normal(0,1)', M: 2 * Math.sqrt(2 * Math.PI) * 1.001 };
const bytes = (a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** The native module and T1's job, or null (the test skipped) without a native kernel. */
async function nativeAndJob(t) {
  const m = loadNative();
  if (!m) {
    t.skip('native kernel unavailable');
    return null;
  }
  return { m, job: (await makePlan({ ...T1 }, getKernel('native'))).job };
}

test('a lent output gets exactly the rows sampleRows writes, only where asked; an ended lease writes nothing; bad ranges throw', async (t) => {
  const nj = await nativeAndJob(t);
  if (!nj) return;
  const { m, job } = nj;
  const rows = 5000;
  const ref = new Float64Array(rows);
  const refStats = m.sampleRows(job, 7, 3, rows, 1e6, ref);
  const out = new Float64Array(rows + 20).fill(-7);
  const lease = m.lendOut(out.subarray(10, 10 + rows + 5));
  try {
    const st = m.sampleRowsLent(job, 7, 3, rows, 1e6, lease, 2);
    assert.deepEqual(Array.from(st), Array.from(refStats));
    assert.ok(bytes(out.subarray(12, 12 + rows)).equals(bytes(ref)));
    assert.deepEqual([...out.subarray(0, 12), ...out.subarray(12 + rows)], Array(20).fill(-7));
    assert.throws(() => m.sampleRowsLent(job, 7, 3, rows, 1e6, lease, 6), /outside the lent output/);
    assert.equal(m.sampleRowsLent(job, 7, 3, rows, 1e6, lease + 1000, 0), null); // an id never lent
    assert.throws(() => m.sampleRowsLent(job, 7, 3, rows, 1e6, lease, -1), RangeError);
    assert.throws(() => m.lendOut(new Float32Array(4)), TypeError);
  } finally {
    m.endLease(lease);
  }
  // Through an ended lease: null, and nothing written (the pool thread waits for the next lease).
  const before = out.slice();
  assert.equal(m.sampleRowsLent(job, 7, 4, rows, 1e6, lease, 0), null);
  assert.ok(bytes(out).equals(bytes(before)));
  m.endLease(lease); // ending twice is harmless
});

test('another thread writes a block into a plain buffer of this thread through a lease', async (t) => {
  const nj = await nativeAndJob(t);
  if (!nj) return;
  const { m, job } = nj;
  const rows = 40000;
  const ref = new Float64Array(rows);
  m.sampleRows(job, 9, 1, rows, 1e7, ref);
  const out = new Float64Array(rows); // plain memory: no other thread can see it from JS
  const lease = m.lendOut(out);
  try {
    const native = new URL('../dist/sampling/native.js', import.meta.url).href;
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      import(workerData.native).then(({ loadNative }) => {
        const st = loadNative().sampleRowsLent(workerData.job, 9, 1, workerData.rows, 1e7, workerData.lease, 0);
        parentPort.postMessage(Array.from(st));
      });`;
    const w = new Worker(code, { eval: true, workerData: { native, job, rows, lease } });
    const st = await new Promise((resolve, reject) => { w.once('message', resolve); w.once('error', reject); });
    await w.terminate();
    assert.ok(st[0] >= rows, `accepted ${st[0]}`);
  } finally {
    m.endLease(lease);
  }
  assert.ok(bytes(out).equals(bytes(ref)));
});

/** Leases lent so far and active now, from the native lease table (the kernel object is frozen). */
function leases() {
  const c = loadNative().leaseCounts();
  return { lent: c[0], active: c[1] };
}

test('sample() lends its own output for the whole run, a caller\'s only while no other code runs; every lease ends with the call', async (t) => {
  if (!loadNative()) { t.skip('native kernel unavailable'); return; }
  for (const n of [300000, 70000]) {
    const one = await sample({ ...T1, n, seed: 5, workers: 1 });
    assert.equal(leases().lent, leases().lent); // (the counter is there)
    let from = leases().lent;
    const own = await sample({ ...T1, n, seed: 5, workers: 2 });
    assert.ok(bytes(one.samples).equals(bytes(own.samples)), `n ${n}`);
    assert.deepEqual({ ...own.stats, seconds: 0, workers: 0 }, { ...one.stats, seconds: 0, workers: 0 });
    assert.equal(leases().lent - from, 1, 'one lease of its own output');
    // A caller's plain buffer: lent (again after every turn of the event loop), rows in place.
    from = leases().lent;
    const buf = new Float64Array(n + 10).fill(-7);
    const out = buf.subarray(4, 4 + n);
    const two = await sample({ ...T1, n, seed: 5, workers: 2, out });
    assert.equal(two.samples, out);
    assert.ok(bytes(one.samples).equals(bytes(out)), `n ${n}`);
    assert.deepEqual([...buf.subarray(0, 4), ...buf.subarray(4 + n)], Array(10).fill(-7));
    assert.ok(leases().lent > from);
    assert.equal(leases().active, 0, 'every lease ended before the call resolved');
    // With onProgress (caller code after every block) it is never lent: rows go through slots.
    from = leases().lent;
    out.fill(0);
    let calls = 0;
    await sample({ ...T1, n, seed: 5, workers: 2, out, onProgress: () => calls++ });
    assert.ok(bytes(one.samples).equals(bytes(out)) && calls > 1);
    assert.equal(leases().lent, from);
  }
  // A resizable buffer too: it can shrink only from caller code, which runs only while no lease is out.
  const n = 70000;
  const one = await sample({ ...T1, n, seed: 5, workers: 1 });
  const out = new Float64Array(new ArrayBuffer(n * 8, { maxByteLength: n * 16 }), 0, n);
  const from = leases().lent;
  await sample({ ...T1, n, seed: 5, workers: 2, out });
  assert.ok(bytes(one.samples).equals(bytes(out)));
  assert.ok(leases().lent > from);
  assert.equal(leases().active, 0);
  // The kernel object handed out by getKernel cannot be wrapped: a wrapper would run inside a lent run.
  const k = getKernel('auto');
  assert.throws(() => { k.sampleRows = () => null; }, TypeError);
  assert.throws(() => { k.leases.endLease = () => undefined; }, TypeError);
});

test('no caller code runs while a caller\'s buffer is lent: not in timers, not in microtasks between them', async (t) => {
  if (!loadNative()) { t.skip('native kernel unavailable'); return; }
  // A run of ~50-100 ms on two workers: the calling thread yields to the event loop every few
  // milliseconds, and between yields lends the buffer again. Caller code runs at every
  // yield (a setImmediate chain, each turn followed by a burst of microtasks) and looks at
  // the leases out.
  const n = 2_000_000;
  const ref = await sample({ ...CUSTOM, n, seed: 8, workers: 1 });
  const out = new Float64Array(n);
  const seen = [];
  let running = true;
  const look = () => {
    if (!running) return;
    seen.push(leases().active);
    void (async () => {
      for (let i = 0; i < 20; i++) {
        await null;
        seen.push(leases().active);
      }
    })();
    setImmediate(look);
  };
  setImmediate(look);
  const from = leases().lent;
  await sample({ ...CUSTOM, n, seed: 8, workers: 2, out });
  running = false;
  assert.ok(bytes(ref.samples).equals(bytes(out)));
  assert.ok(leases().lent - from >= 3, `lent ${leases().lent - from} times: the run yielded at least twice`);
  assert.ok(seen.length > 40, `caller code ran ${seen.length} times`);
  assert.deepEqual(seen.filter((o) => o !== 0), [], 'caller code ran while a lease was out');
  assert.equal(leases().active, 0);
});

const MOVED = /output buffer was transferred, detached or resized during sampling/;

test('an output transferred mid-run and freed fails the run with a clear error; the process and the pool survive', async () => {
  // The transferred memory is dropped and garbage is made, so it is freed while pool threads
  // still run: nothing may write into it (a lent caller's buffer crashed the process here).
  const n = 4_000_000;
  for (const workers of [2, 1]) {
    for (let rep = 0; rep < 3; rep++) {
      const out = new Float64Array(n);
      const timer = setTimeout(() => {
        structuredClone(out.buffer, { transfer: [out.buffer] });
        for (let i = 0; i < 10; i++) new Float64Array(n);
      }, 5 + 5 * rep);
      await assert.rejects(sample({ ...CUSTOM, n, seed: 1, workers, out }), MOVED);
      clearTimeout(timer);
    }
  }
  const ref = await sample({ ...T1, n: 100000, seed: 6, workers: 1 });
  const again = await sample({ ...T1, n: 100000, seed: 6, workers: 2, out: new Float64Array(100000) });
  assert.ok(bytes(ref.samples).equals(bytes(again.samples)));
});

test('an output transferred or shrunk from onProgress fails with the same error; a growable one is filled to n*d', async () => {
  const n = 200000;
  for (const workers of [1, 2]) {
    const out = new Float64Array(n);
    const onProgress = () => { if (out.buffer.byteLength) structuredClone(out.buffer, { transfer: [out.buffer] }); };
    await assert.rejects(sample({ ...T1, n, seed: 2, workers, out, onProgress }), MOVED);
    const rbuf = new ArrayBuffer(n * 8, { maxByteLength: n * 8 });
    const shrink = () => rbuf.resize(8);
    await assert.rejects(sample({ ...T1, n, seed: 2, workers, out: new Float64Array(rbuf), onProgress: shrink }), MOVED);
    // A length-tracking view of a buffer that grows mid-run: the samples are still n rows.
    const gbuf = new ArrayBuffer(n * 8, { maxByteLength: n * 16 });
    const grow = () => { if (gbuf.byteLength === n * 8) gbuf.resize(n * 16); };
    const { samples } = await sample({ ...T1, n, seed: 2, workers, out: new Float64Array(gbuf), onProgress: grow });
    const ref = await sample({ ...T1, n, seed: 2, workers: 1 });
    assert.equal(samples.length, n);
    assert.ok(bytes(ref.samples).equals(bytes(samples)));
  }
});

test('no getter, trap or callback of the caller\'s runs while its buffer is lent: own properties of out, an out getter, the signal, a Proxy abort reason', async (t) => {
  if (!loadNative()) { t.skip('native kernel unavailable'); return; }
  const n = 1_000_000;
  const ref = await sample({ ...T1, n, seed: 3, workers: 1 });
  {
    // Own getters on the array: the run reads it through the engine's getters and a view of its own.
    const out = new Float64Array(n);
    let reads = 0;
    for (const key of ['length', 'buffer', 'byteOffset', 'subarray', 'constructor']) {
      const real = out[key];
      Object.defineProperty(out, key, { get() { reads++; return real; } });
    }
    const r = await sample({ ...T1, n, seed: 3, workers: 2, out });
    assert.equal(reads, 0, 'an own property of out was read');
    assert.equal(r.samples, out);
    assert.ok(bytes(ref.samples).equals(bytes(new Float64Array(out.buffer))));
    // An options getter for out is read once: the caller's array cannot turn into the run's own.
    let outReads = 0;
    const arr = new Float64Array(n);
    const opts = { ...T1, n, seed: 3, workers: 2, get out() { outReads++; return outReads === 1 ? arr : undefined; } };
    assert.equal((await sample(opts)).samples, arr);
    assert.equal(outReads, 1);
    assert.ok(bytes(ref.samples).equals(bytes(arr)));
    // The signal's own getters: read at the start only, never while a lease is out.
    const ac = new AbortController();
    const openAtRead = [];
    Object.defineProperty(ac.signal, 'aborted', { get() { openAtRead.push(leases().active); return false; } });
    await sample({ ...T1, n, seed: 3, workers: 2, out: new Float64Array(n), signal: ac.signal });
    assert.deepEqual(openAtRead.filter((o) => o > 0), [], 'signal.aborted read with a lease out');
    // A Proxy as the abort reason: its traps run once the lease is back.
    const trapOpen = [];
    const reason = new Proxy(new Error('stop now'), { getPrototypeOf(target) { trapOpen.push(leases().active); return Object.getPrototypeOf(target); } });
    const ac2 = new AbortController();
    setTimeout(() => ac2.abort(reason), 3);
    await assert.rejects(sample({ ...CUSTOM, n, seed: 3, workers: 2, out: new Float64Array(n), signal: ac2.signal }), (e) => e === reason);
    assert.ok(trapOpen.length > 0 && trapOpen.every((o) => o === 0), `lease out in the reason's trap: ${trapOpen}`);
    // A Proxy of an array is not one: a one-line UsageError, not a TypeError from a getter.
    await assert.rejects(sample({ ...T1, n: 100, workers: 2, out: new Proxy(new Float64Array(100), {}) }), (e) => e instanceof UsageError && /out must be a Float64Array/.test(e.message));
    assert.equal(leases().active, 0);
  }
});

test('no async hook, promise hook or wrapped host function runs while a caller\'s buffer is lent, on a cold or a warm pool', async (t) => {
  if (!loadNative()) { t.skip('native kernel unavailable'); return; }
  const { createHook } = await import('node:async_hooks');
  const n = 1_000_000;
  const ref = await sample({ ...CUSTOM, n, seed: 4, workers: 1 });
  const open = [];
  const hook = createHook({ init() { open.push(leases().active); } });
  const { emitWarning, nextTick } = process;
  process.emitWarning = function (...a) { open.push(leases().active); return emitWarning.apply(this, a); };
  process.nextTick = function (...a) { open.push(leases().active); return nextTick.apply(this, a); };
  let warned = 0;
  const onWarning = (w) => { if (w.name === 'RsftEnvelopeWarning' && /envelope violated/.test(w.message)) warned++; };
  process.on('warning', onWarning);
  try {
    await closePools(); // a cold pool: its worker, ports and promises are made during the call
    hook.enable();
    for (const cold of [true, false]) {
      const out = new Float64Array(n);
      await sample({ ...CUSTOM, n, seed: 4, workers: 2, out });
      assert.ok(bytes(ref.samples).equals(bytes(out)), `cold ${cold}`);
    }
    // onViolation 'warn' with an M below the sup: the warning is emitted once the run is over
    const out = new Float64Array(n);
    const r = await sample({ ...CUSTOM, M: 2, onViolation: 'warn', n, seed: 4, workers: 2, out });
    assert.ok(r.stats.envelopeViolations > 0);
    hook.disable();
    await new Promise((res) => setImmediate(res));
    assert.equal(warned, 1);
  } finally {
    hook.disable();
    Object.assign(process, { emitWarning, nextTick });
    process.off('warning', onWarning);
  }
  assert.ok(open.length > 20, `hooks ran ${open.length} times`);
  assert.deepEqual(open.filter((o) => o !== 0), [], 'a hook or wrapper ran while a lease was out');
});

test('a transfer is reported as such even after calls into resizable buffers (optimized code kept a detached array\'s length)', async () => {
  const n = 400_000;
  for (let i = 0; i < 3; i++) await sample({ ...T1, n, workers: 2, out: new Float64Array(new ArrayBuffer(n * 8, { maxByteLength: 2 * n * 8 })) });
  const seen = {};
  for (let i = 0; i < 40; i++) {
    const out = new Float64Array(n);
    // (a custom expression: ~10-20 ms per call, so most transfers land mid-run)
    const timer = setTimeout(() => structuredClone(out.buffer, { transfer: [out.buffer] }), 1 + (i % 4));
    try {
      await sample({ ...CUSTOM, n, seed: i, workers: i % 2 ? 2 : 1, out });
      seen.resolved = (seen.resolved ?? 0) + 1;
    } catch (e) {
      const k = e instanceof UsageError && MOVED.test(e.message) ? 'moved' : `${e.name}: ${e.message}`;
      seen[k] = (seen[k] ?? 0) + 1;
    }
    clearTimeout(timer);
  }
  assert.deepEqual(Object.keys(seen).filter((k) => k !== 'moved' && k !== 'resolved'), [], JSON.stringify(seen));
  assert.ok(seen.moved > 0, JSON.stringify(seen));
});

test('a plain buffer given SharedArrayBuffer\'s prototype is still written as a plain one', async () => {
  const n = 400_000;
  const ref = await sample({ ...CUSTOM, n, seed: 5, workers: 1 });
  const buf = new ArrayBuffer(n * 8);
  Object.setPrototypeOf(buf, SharedArrayBuffer.prototype);
  Object.defineProperty(buf, 'growable', { value: false });
  const out = new Float64Array(buf);
  await sample({ ...CUSTOM, n, seed: 5, workers: 2, out });
  assert.ok(bytes(ref.samples).equals(bytes(Float64Array.from(out))), 'pool threads wrote into a copy of it');
});

test('a debugger pausing on every exception never pauses while a caller\'s buffer is lent: the run throws only once the lease is back', async (t) => {
  if (!loadNative()) { t.skip('native kernel unavailable'); return; }
  const inspector = await import('node:inspector');
  const session = new inspector.Session();
  session.connect();
  const open = [];
  session.on('Debugger.paused', () => {
    open.push(leases().active);
    session.post('Debugger.resume');
  });
  session.post('Debugger.enable');
  session.post('Debugger.setPauseOnExceptions', { state: 'all' });
  try {
    const n = 400_000;
    // a block runs out of its share of the proposal budget: the run's UsageError
    await assert.rejects(sample({ ...T1, n, seed: 1, workers: 2, out: new Float64Array(n), blockRows: 2048, maxProposals: 2 * n }), /proposal budget/);
    // an abort mid-run
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('stop now')), 3);
    await assert.rejects(sample({ ...CUSTOM, n: 4 * n, seed: 1, workers: 2, out: new Float64Array(4 * n), signal: ac.signal }), /stop now/);
  } finally {
    session.post('Debugger.disable');
    session.disconnect();
  }
  assert.ok(open.length >= 2, `paused ${open.length} times`);
  assert.deepEqual(open.filter((o) => o !== 0), [], 'paused with a lease out');
});

test('a worker thread terminated mid-run leaves no lease out (its environment ends them as it is torn down)', async (t) => {
  const m = loadNative();
  if (!m) return t.skip('native kernel unavailable');
  const before = m.leaseCounts()[1];
  for (const kind of ['stream', 'sample']) {
    // (a thread with a pool of its own: a stream lends its slots' arrays, sample() its output)
    const w = new Worker(
      `
      const { parentPort } = require('node:worker_threads');
      import(${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)}).then(async ({ sample, RejectionSampler }) => {
        const CUSTOM = { target: { logpdf: '-x^2/2 + log(1 + sin(3*x)^2)' }, proposal: 'normal(0,1)', M: 5.02 };
        if (${JSON.stringify(kind)} === 'stream') {
          for await (const b of new RejectionSampler({ ...CUSTOM, seed: 1, workers: 3 }).batches()) parentPort.postMessage(b.length);
        } else {
          parentPort.postMessage(0);
          for (;;) await sample({ ...CUSTOM, n: 2e6, seed: 1, workers: 3 });
        }
      });
      `,
      { eval: true },
    );
    await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    await sleep(30); // mid-run: pool threads in blocks
    await w.terminate();
    assert.equal(m.leaseCounts()[1], before, `${kind}: leases left out by a terminated thread`);
  }
});

test('teardown', async () => {
  await closePools();
});
