/**
 * Element types the graph layer knows, and their ONNX TensorProto codes.
 * Only what training needs: float32/float64 for math, int64/int32 for labels and
 * indices, bool for masks.
 */
export type DType = 'float32' | 'float64' | 'int64' | 'int32' | 'bool';

/** TensorProto.DataType codes (onnx.proto). */
export const ONNX_DTYPE: Record<DType, number> = {
  float32: 1,
  int32: 6,
  int64: 7,
  bool: 9,
  float64: 11,
};

export type FloatDType = 'float32' | 'float64';

export function isFloat(d: DType): d is FloatDType {
  return d === 'float32' || d === 'float64';
}

export type FloatArray = Float32Array | Float64Array;
export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

/** Bytes per element (bool is one byte in ONNX raw_data). */
export function byteSize(d: DType): number {
  switch (d) {
    case 'float32': case 'int32': return 4;
    case 'float64': case 'int64': return 8;
    case 'bool': return 1;
  }
}

/** Build a typed array of the right kind for `d` from plain numbers. */
export function typedFrom(d: DType, values: ArrayLike<number>): TensorData {
  switch (d) {
    case 'float32': return Float32Array.from(values);
    case 'float64': return Float64Array.from(values);
    case 'int32': return Int32Array.from(values);
    case 'int64': return BigInt64Array.from(Array.from(values, (v) => BigInt(Math.trunc(v))));
    case 'bool': return Uint8Array.from(values, (v) => (v ? 1 : 0));
  }
}
