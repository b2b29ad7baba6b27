/**
 * Job buffers (native/PROTOCOL.md §4): one Float64Array that says everything a kernel needs to
 * run a block: dimension, log M, target program or expression, proposal program, support box.
 */

export const enum TargetKind {
  Dist = 0,
  Expr = 1,
  External = 2,
}

export interface JobParts {
  d: number;
  logM: number;
  targetKind: TargetKind;
  target: Float64Array;
  proposal: Float64Array;
  lo: number[];
  hi: number[];
}

export function encodeJob(p: JobParts): Float64Array {
  const n = 4 + 1 + p.target.length + 1 + p.proposal.length + 2 * p.d;
  const buf = new Float64Array(n);
  let i = 0;
  buf[i++] = 1;
  buf[i++] = p.d;
  buf[i++] = p.logM;
  buf[i++] = p.targetKind;
  buf[i++] = p.target.length;
  buf.set(p.target, i);
  i += p.target.length;
  buf[i++] = p.proposal.length;
  buf.set(p.proposal, i);
  i += p.proposal.length;
  for (let k = 0; k < p.d; k++) buf[i++] = p.lo[k];
  for (let k = 0; k < p.d; k++) buf[i++] = p.hi[k];
  return buf;
}

export function decodeJob(buf: Float64Array): JobParts {
  const fail = (why: string): never => {
    throw new Error(`malformed job: ${why}`);
  };
  if (buf.length < 6) fail('too short');
  if (buf[0] !== 1) fail(`version ${buf[0]} is not 1`);
  const d = buf[1];
  if (!Number.isInteger(d) || d < 1) fail(`dimension ${d}`);
  const logM = buf[2];
  if (!Number.isFinite(logM)) fail('log M is not finite');
  const kind = buf[3];
  if (kind !== 0 && kind !== 1 && kind !== 2) fail(`target kind ${kind}`);
  let i = 4;
  const l1 = buf[i++];
  if (!Number.isInteger(l1) || l1 < 0 || i + l1 >= buf.length) fail('target length');
  const target = buf.subarray(i, i + l1);
  i += l1;
  const l2 = buf[i++];
  if (!Number.isInteger(l2) || l2 < 1 || i + l2 + 2 * d !== buf.length) fail('proposal length');
  const proposal = buf.subarray(i, i + l2);
  i += l2;
  const lo = Array.from(buf.subarray(i, i + d));
  const hi = Array.from(buf.subarray(i + d, i + 2 * d));
  return { d, logM, targetKind: kind as TargetKind, target, proposal, lo, hi };
}
