// .npy reading and writing: round trips through our writer and (when a python3 with numpy is
// around; never required) through numpy itself, and every malformed file giving a one-line
// UsageError that names the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNpy, parseNpy, writeNpy, encodeNpy, npyHeaderFor } from '../dist/io/npy-read.js';
import { UsageError } from '../dist/errors.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'rsft-npy-'));

function pythonWithNumpy() {
  for (const py of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, ['-c', 'import numpy'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return null;
}
const PY = pythonWithNumpy();

/** Raw .npy bytes with an arbitrary header dict text and body (for malformed files). */
function rawNpy(dict, body = new Uint8Array(0), { major = 1, pad = true } = {}) {
  const pre = major === 1 ? 10 : 12;
  let text = dict;
  if (pad) {
    const total = Math.ceil((pre + text.length + 1) / 64) * 64;
    text = text.padEnd(total - pre - 1, ' ') + '\n';
  }
  const h = Buffer.alloc(pre);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]).copy(h);
  if (major === 1) h.writeUInt16LE(Buffer.byteLength(text, major === 3 ? 'utf8' : 'latin1'), 8);
  else h.writeUInt32LE(Buffer.byteLength(text, major === 3 ? 'utf8' : 'latin1'), 8);
  return Buffer.concat([h, Buffer.from(text, major === 3 ? 'utf8' : 'latin1'), Buffer.from(body)]);
}

test('round trips every written dtype and shape', () => {
  const dir = tmp();
  const cases = [
    [new Float32Array([1.5, -2, 3.25, Infinity, -0, 7, 8, 9, 10, 11, 12, 13]), [3, 4]],
    [new Float64Array([Math.PI, -1e300, 5e-324]), [3]],
    [new Int32Array([-5, 0, 2147483647, -2147483648]), [2, 2]],
    [new BigInt64Array([-(2n ** 63n), 0n, 2n ** 63n - 1n]), [3]],
    [new Uint8Array([0, 255, 7]), [3, 1]],
    [new Int16Array([-300, 300]), [2]],
    [new Uint16Array([65535]), [1]],
    [new Uint32Array([4e9]), [1]],
    [new Int8Array([-128, 127]), [2]],
    [new BigUint64Array([2n ** 64n - 1n]), [1]],
    [new Float64Array(0), [0, 5]],
    [new Float64Array([42]), []],
  ];
  for (const [k, [data, shape]] of cases.entries()) {
    const p = join(dir, `a${k}.npy`);
    writeNpy(p, data, shape);
    const r = readNpy(p);
    assert.deepEqual(r.shape, shape);
    assert.equal(r.data.constructor, data.constructor);
    assert.deepEqual(Array.from(r.data), Array.from(data));
    assert.equal(readFileSync(p).length % 64, (data.byteLength) % 64, 'data starts on a 64-byte boundary');
  }
  writeNpy(join(dir, 'b.npy'), new Uint8Array([1, 0, 1]), [3], { bool: true });
  const b = readNpy(join(dir, 'b.npy'));
  assert.equal(b.dtype, 'bool');
  assert.deepEqual(Array.from(b.data), [1, 0, 1]);
  assert.ok(readdirSync(dir).every((f) => f.endsWith('.npy') && !f.startsWith('.')), 'no temporaries left');
});

test('format 2.0 and 3.0 headers, misaligned data and extra header keys', () => {
  const body = new Float32Array([1, 2, 3, 4]);
  const v2 = rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", new Uint8Array(body.buffer), { major: 2 });
  assert.deepEqual(Array.from(parseNpy(v2, 'v2.npy').data), [1, 2, 3, 4]);
  const v3 = rawNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), 'note': 'é', }", new Uint8Array(body.buffer), { major: 3 });
  assert.deepEqual(parseNpy(v3, 'v3.npy').shape, [4]);
  // numpy < 1.9 padded to 16 bytes and wrote no trailing comma; the data may be misaligned
  const odd = rawNpy('{"descr":"<f8","fortran_order":False,"shape":(2L,)}   \n', new Uint8Array(new Float64Array([6, 7]).buffer), { pad: false });
  const r = parseNpy(odd, 'odd.npy');
  assert.equal(r.dtype, 'float64');
  assert.deepEqual(Array.from(r.data), [6, 7]);
  // a sliced, misaligned buffer is copied
  const shifted = Buffer.concat([Buffer.alloc(1), encodeNpy(new Float64Array([1.25, 2.5]), [2])]).subarray(1);
  assert.deepEqual(Array.from(parseNpy(shifted, 's.npy').data), [1.25, 2.5]);
});

test('header writer switches to format 2.0 only when the header exceeds 64 KiB', () => {
  assert.equal(npyHeaderFor('float32', [10, 20])[6], 1);
  const many = Array.from({ length: 25000 }, () => 1);
  const h = npyHeaderFor('float32', many);
  assert.equal(h[6], 2);
  assert.equal(h.length % 64, 0);
  assert.deepEqual(parseNpy(encodeNpy(new Float32Array([5]), many), 'big.npy').shape.length, 25000);
});

test('files written by numpy read back identically', { skip: PY ? false : 'no python3 with numpy' }, () => {
  const dir = tmp();
  const script = `
import numpy as np, sys, os
d = sys.argv[1]
r = np.random.default_rng(3)
np.save(os.path.join(d, 'f4.npy'), r.standard_normal((5, 3)).astype('<f4'))
np.save(os.path.join(d, 'f8.npy'), r.standard_normal(7))
np.save(os.path.join(d, 'i4.npy'), np.arange(-3, 9, dtype='<i4').reshape(3, 4))
np.save(os.path.join(d, 'i8.npy'), np.array([-(2**62), 0, 2**62], dtype='<i8'))
np.save(os.path.join(d, 'u1.npy'), np.arange(250, 256, dtype='u1'))
np.save(os.path.join(d, 'b1.npy'), np.array([True, False, True]))
np.save(os.path.join(d, 'scalar.npy'), np.float64(2.5))
np.save(os.path.join(d, 'empty.npy'), np.zeros((0, 4), dtype='<f4'))
np.lib.format.write_array(open(os.path.join(d, 'v2.npy'), 'wb'), np.arange(6, dtype='<f8').reshape(2, 3), version=(2, 0))
np.lib.format.write_array(open(os.path.join(d, 'v3.npy'), 'wb'), np.arange(4, dtype='<i8'), version=(3, 0))
np.save(os.path.join(d, 'fortran.npy'), np.asfortranarray(np.ones((3, 2))))
np.save(os.path.join(d, 'be.npy'), np.arange(3, dtype='>f8'))
np.save(os.path.join(d, 'obj.npy'), np.array([{'a': 1}, None], dtype=object), allow_pickle=True)
np.save(os.path.join(d, 'str.npy'), np.array(['ab', 'c']))
np.save(os.path.join(d, 'rec.npy'), np.zeros(2, dtype=[('a', '<f4'), ('b', '<i4')]))
np.save(os.path.join(d, 'f2.npy'), np.ones(2, dtype='<f2'))
for name in ['f4', 'f8', 'i4', 'i8', 'u1', 'b1']:
    a = np.load(os.path.join(d, name + '.npy'))
    np.savetxt(os.path.join(d, name + '.txt'), a.reshape(-1).astype('f8'), fmt='%.17g')
`;
  const r = spawnSync(PY, ['-c', script, dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const expect = (name) => readFileSync(join(dir, `${name}.txt`), 'utf8').trim().split('\n').map(Number);
  const f4 = readNpy(join(dir, 'f4.npy'));
  assert.equal(f4.dtype, 'float32');
  assert.deepEqual(f4.shape, [5, 3]);
  assert.deepEqual(Array.from(f4.data), expect('f4'));
  assert.deepEqual(Array.from(readNpy(join(dir, 'f8.npy')).data), expect('f8'));
  const i4 = readNpy(join(dir, 'i4.npy'));
  assert.deepEqual([i4.dtype, i4.shape], ['int32', [3, 4]]);
  assert.deepEqual(Array.from(i4.data), expect('i4'));
  assert.deepEqual(Array.from(readNpy(join(dir, 'i8.npy')).data), [-(2n ** 62n), 0n, 2n ** 62n]);
  assert.deepEqual(Array.from(readNpy(join(dir, 'u1.npy')).data), [250, 251, 252, 253, 254, 255]);
  const b1 = readNpy(join(dir, 'b1.npy'));
  assert.deepEqual([b1.dtype, Array.from(b1.data)], ['bool', [1, 0, 1]]);
  const s = readNpy(join(dir, 'scalar.npy'));
  assert.deepEqual([s.shape, Array.from(s.data)], [[], [2.5]]);
  assert.deepEqual(readNpy(join(dir, 'empty.npy')).shape, [0, 4]);
  assert.deepEqual(Array.from(readNpy(join(dir, 'v2.npy')).data), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(Array.from(readNpy(join(dir, 'v3.npy')).data), [0n, 1n, 2n, 3n]);
  const refusals = {
    fortran: /fortran\.npy: Fortran-order arrays are not supported/,
    be: /be\.npy: big-endian dtype '>f8' is not supported/,
    obj: /obj\.npy: object arrays .* not supported/,
    str: /str\.npy: string dtype '<U2' is not supported/,
    rec: /rec\.npy: structured \(record\) dtypes are not supported/,
    f2: /f2\.npy: float16 .* not supported/,
  };
  for (const [name, re] of Object.entries(refusals)) {
    assert.throws(() => readNpy(join(dir, `${name}.npy`)), (e) => e instanceof UsageError && re.test(e.message) && !e.message.includes('\n'), name);
  }

  // and numpy reads what we write
  writeNpy(join(dir, 'ours.npy'), new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
  writeNpy(join(dir, 'ours64.npy'), new BigInt64Array([7n, -8n]), [2]);
  const back = spawnSync(PY, ['-c', `import numpy as np, sys; a = np.load(sys.argv[1]); b = np.load(sys.argv[2]); print(a.dtype, a.shape, a.tolist(), b.dtype, b.tolist())`, join(dir, 'ours.npy'), join(dir, 'ours64.npy')], { encoding: 'utf8' });
  assert.equal(back.status, 0, back.stderr);
  assert.equal(back.stdout.trim(), 'float32 (2, 3) [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]] int64 [7, -8]');
});

test('every malformed file is a one-line UsageError naming the file', () => {
  const dir = tmp();
  const f8 = (n) => new Uint8Array(new Float64Array(n).buffer);
  const good = encodeNpy(new Float64Array([1, 2, 3, 4]), [2, 2]);
  const cases = {
    'empty.npy': [new Uint8Array(0), /not a \.npy file/],
    'text.npy': [Buffer.from('x,y\n1,2\n'), /not a \.npy file \(missing \\x93NUMPY magic\)/],
    'short.npy': [good.subarray(0, 7), /truncated \.npy file \(incomplete header\)/],
    'cut-header.npy': [good.subarray(0, 40), /truncated \.npy file \(header says \d+ bytes/],
    'cut-data.npy': [good.subarray(0, good.length - 3), /truncated \.npy file \(shape \(2, 2\) needs 32 data bytes, found 29\)/],
    'extra.npy': [Buffer.concat([good, Buffer.alloc(8)]), /8 unexpected bytes after the data/],
    'version.npy': [Buffer.concat([good.subarray(0, 6), Buffer.from([4, 0]), good.subarray(8)]), /unsupported \.npy format version 4\.0/],
    'garbage-header.npy': [rawNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (2,) <oops>"), /malformed \.npy header/],
    'not-dict.npy': [rawNpy('(1, 2)'), /malformed \.npy header \(not a dict\)/],
    'missing-key.npy': [rawNpy("{'descr': '<f8', 'shape': (2,), }", f8(2)), /needs 'descr', 'fortran_order' and 'shape'/],
    'bad-shape.npy': [rawNpy("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }"), /'shape' is not a tuple of non-negative integers/],
    'fortran.npy': [rawNpy("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }", f8(4)), /Fortran-order arrays are not supported/],
    'bigendian.npy': [rawNpy("{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }", new Uint8Array(8)), /big-endian dtype '>i4' is not supported/],
    'object.npy': [rawNpy("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", new Uint8Array(16)), /object arrays \(pickled Python objects\) are not supported/],
    'complex.npy': [rawNpy("{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(16)), /complex dtype '<c16' is not supported/],
    'record.npy': [rawNpy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", new Uint8Array(4)), /structured \(record\) dtypes are not supported/],
    'weird.npy': [rawNpy("{'descr': '<q9', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(4)), /unsupported dtype '<q9'/],
    'nobyteorder.npy': [rawNpy("{'descr': '|f8', 'fortran_order': False, 'shape': (1,), }", new Uint8Array(8)), /malformed dtype '\|f8'/],
    'badbool.npy': [rawNpy("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", new Uint8Array([1, 9])), /corrupt bool array/],
  };
  for (const [name, [bytes, re]] of Object.entries(cases)) {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    assert.throws(
      () => readNpy(p),
      (e) => e instanceof UsageError && e.message.startsWith(p + ': ') && re.test(e.message) && !e.message.includes('\n'),
      name,
    );
  }
  assert.throws(() => readNpy(join(dir, 'nope.npy')), (e) => e instanceof UsageError && /cannot read .*nope\.npy: no such file/.test(e.message));
  mkdirSync(join(dir, 'sub.npy'));
  assert.throws(() => readNpy(join(dir, 'sub.npy')), (e) => e instanceof UsageError && /cannot read .*sub\.npy: is a directory/.test(e.message));
  assert.throws(() => writeNpy(join(dir, 'missing', 'x.npy'), new Float32Array(1), [1]), (e) => e instanceof UsageError && /directory .* does not exist/.test(e.message));
  assert.throws(() => writeNpy(join(dir, 'x.npy'), new Float32Array(3), [2]), RangeError);
});
