/**
 * Reading a caller's Float64Array without running the caller's code. The TypedArray getters
 * are taken from the engine once, when this module loads, and called on the caller's object,
 * so an own property, a subclass getter or a Proxy trap of the caller's is never consulted
 * (a getter that transferred the buffer mid-call could otherwise let a pool thread write into
 * freed memory: scheduler.ts PoolWrites). As in any library, the built-ins themselves are
 * assumed unmodified.
 */
import { types } from 'node:util';

const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object;

/** An engine getter of `proto`, callable on any object, or null when this engine has none. */
function getterOn(proto: object, key: string | symbol): ((self: unknown) => unknown) | null {
  const get = Object.getOwnPropertyDescriptor(proto, key)?.get;
  return get ? (Function.prototype.call.bind(get) as (self: unknown) => unknown) : null;
}

/** An engine getter of `proto` that every engine this runs on has. */
export function getter<T>(proto: object, key: string | symbol): (self: unknown) => T {
  const get = getterOn(proto, key);
  if (!get) throw new Error(`internal: no getter ${String(key)}`);
  return get as (self: unknown) => T;
}

const tagOf = getter<string | undefined>(TypedArrayPrototype, Symbol.toStringTag);
const bufferOf = getter<ArrayBufferLike>(TypedArrayPrototype, 'buffer');
const byteOffsetOf = getter<number>(TypedArrayPrototype, 'byteOffset');
const lengthOf = getter<number>(TypedArrayPrototype, 'length');

/** Whether x is a Float64Array itself (not a Proxy of one, nor anything else). */
export function isFloat64Array(x: unknown): x is Float64Array {
  return tagOf(x) === 'Float64Array';
}

/** The numbers x holds now, read by the engine's own getter. */
export function float64Length(x: Float64Array): number {
  return lengthOf(x);
}

/**
 * A Float64Array of this module's own over the first `length` numbers of x: its buffer and
 * offset read by the engine's getters, so no property of the caller's object is read again.
 */
export function ownView(x: Float64Array, length: number): Float64Array {
  return new Float64Array(bufferOf(x), byteOffsetOf(x), length);
}

/** x's buffer, read by the engine's getter. */
export function float64Buffer(x: Float64Array): ArrayBufferLike {
  return bufferOf(x);
}

const resizableOf = getterOn(ArrayBuffer.prototype, 'resizable');
const growableOf = getterOn(SharedArrayBuffer.prototype, 'growable');
// The engine's own brand check (a plain buffer given SharedArrayBuffer's prototype is not one),
// taken once like the getters. Not SharedArrayBuffer's byteLength getter, which decides the
// same by throwing: a TypeError with its stack trace cost ~1 us on every plain output.
const isSharedArrayBuffer = types.isSharedArrayBuffer;

/** Whether b is a SharedArrayBuffer, as the engine sees it. */
export function isSharedBuffer(b: unknown): b is SharedArrayBuffer {
  return isSharedArrayBuffer(b);
}

/** Whether b can change size: a resizable ArrayBuffer or a growable SharedArrayBuffer. */
export function isResizable(b: ArrayBufferLike): boolean {
  if (isSharedBuffer(b)) return growableOf?.(b) === true;
  return resizableOf?.(b) === true;
}
