/**
 * The typed graph builder: values, nodes, inputs, outputs, initializers.
 *
 * A Graph holds two parallel records:
 *  - `nodes`: the ONNX nodes to serialize, in topological (creation) order;
 *  - `tape`: the differentiable operations autodiff walks backwards. A primitive op
 *    puts one node and one tape entry; a composite op (LayerNorm) puts several nodes
 *    but one tape entry with its own backward, so autodiff never sees its insides.
 */
import { type DType, type TensorData, typedFrom, isFloat } from './dtype.js';
import { type Shape, type Dim, fmtShape, numel } from './shape.js';

export type Attr =
  | { kind: 'int'; v: number }
  | { kind: 'float'; v: number }
  | { kind: 'ints'; v: number[] }
  | { kind: 'floats'; v: number[] }
  | { kind: 'string'; v: string }
  | { kind: 'tensor'; v: Tensor };

export const attr = {
  int: (v: number): Attr => ({ kind: 'int', v }),
  float: (v: number): Attr => ({ kind: 'float', v }),
  ints: (v: number[]): Attr => ({ kind: 'ints', v }),
  floats: (v: number[]): Attr => ({ kind: 'floats', v }),
  string: (v: string): Attr => ({ kind: 'string', v }),
  tensor: (v: Tensor): Attr => ({ kind: 'tensor', v }),
};

/** A concrete tensor (initializer or attribute value). */
export interface Tensor {
  dtype: DType;
  shape: number[];
  data: TensorData;
}

/** A typed handle on a tensor flowing through the graph. */
export class Value {
  /** Serialized name; auto-generated unless set by an input/output/initializer. */
  name: string;
  constructor(
    readonly graph: Graph,
    readonly id: number,
    readonly dtype: DType,
    readonly shape: Shape,
    name?: string,
  ) {
    this.name = name ?? `_v${id}`;
  }
  get rank(): number {
    return this.shape.length;
  }
  toString(): string {
    return `${this.name}:${this.dtype}${fmtShape(this.shape)}`;
  }
}

export interface Node {
  op: string;
  inputs: (Value | null)[]; // null = omitted optional input
  outputs: Value[];
  attrs: Record<string, Attr>;
}

/** Context a backward function gets: the forward node and the graph to build in. */
export type Backward = (dOut: Value, needs: boolean[]) => (Value | undefined)[];

export interface TapeEntry {
  op: string;
  inputs: (Value | null)[];
  output: Value;
  backward?: Backward; // custom rule (composites); otherwise looked up by op
  node?: Node; // primitive: the node itself (rules read its attrs)
}

export interface GraphInput {
  value: Value;
}

export class Graph {
  readonly nodes: Node[] = [];
  readonly tape: TapeEntry[] = [];
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  readonly initializers: { value: Value; tensor: Tensor }[] = [];
  private nextId = 0;
  private recording = 0; // > 0 inside a composite: nodes are not taped
  private names = new Set<string>();
  private constCache = new Map<string, Value>();

  constructor(readonly name = 'rsft') {}

  /** Fresh value of the graph (internal; ops call this). */
  newValue(dtype: DType, shape: Shape, name?: string): Value {
    if (name !== undefined) this.claim(name);
    return new Value(this, this.nextId++, dtype, shape, name);
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`graph: duplicate name '${name}'`);
    if (name.startsWith('_v') || name.startsWith('_c')) throw new Error(`graph: names starting with _v/_c are reserved ('${name}')`);
    this.names.add(name);
  }

  /** Declare a graph input. Shape dims may be symbols ('B') or numbers. */
  input(name: string, dtype: DType, shape: Shape): Value {
    const v = this.newValue(dtype, shape, name);
    this.inputs.push(v);
    return v;
  }

  /** A named initializer (a weight baked into the model). */
  initializer(name: string, tensor: Tensor): Value {
    checkTensor(tensor, name);
    const v = this.newValue(tensor.dtype, tensor.shape, name);
    this.initializers.push({ value: v, tensor });
    return v;
  }

  /** Unnamed constant (deduplicated by content for small tensors). */
  constant(dtype: DType, shape: number[], values: ArrayLike<number>): Value {
    const small = values.length <= 16;
    const key = small ? `${dtype}|${shape.join(',')}|${Array.from(values).join(',')}` : '';
    if (small) {
      const hit = this.constCache.get(key);
      if (hit) return hit;
    }
    const tensor: Tensor = { dtype, shape, data: typedFrom(dtype, values) };
    checkTensor(tensor, 'constant');
    const v = this.newValue(dtype, shape);
    v.name = `_c${v.id}`;
    this.initializers.push({ value: v, tensor });
    if (small) this.constCache.set(key, v);
    return v;
  }

  /** Scalar constant with the dtype of `like` (how numbers enter float math). */
  scalar(like: Value | DType, x: number): Value {
    const dt = typeof like === 'string' ? like : like.dtype;
    return this.constant(dt, [], [x]);
  }

  /** 1-D int64 constant (axes, shapes, pads). */
  ints(values: number[]): Value {
    return this.constant('int64', [values.length], values);
  }

  /**
   * Mark `v` as a graph output called `name`. The producing value is renamed when it
   * can be (no copy); an Identity is inserted when `v` is an input, initializer, or
   * already an output.
   */
  output(name: string, v: Value): Value {
    if (v.graph !== this) throw new Error(`graph: output '${name}' belongs to another graph`);
    const isSource = this.inputs.includes(v) || this.initializers.some((i) => i.value === v);
    const taken = this.outputs.includes(v) || this.names.has(v.name);
    let out = v;
    if (isSource || taken) {
      out = this.newValue(v.dtype, v.shape, name);
      this.nodes.push({ op: 'Identity', inputs: [v], outputs: [out], attrs: {} });
    } else {
      this.claim(name);
      v.name = name;
    }
    this.outputs.push(out);
    return out;
  }

  /**
   * Emit a node. `shapes`/`dtypes` describe the outputs (ops compute them). Returns the
   * output values. The node is taped for autodiff unless inside `composite`.
   */
  node(op: string, inputs: (Value | null)[], outs: { dtype: DType; shape: Shape }[], attrs: Record<string, Attr> = {}): Value[] {
    for (const i of inputs) if (i && i.graph !== this) throw new Error(`${op}: input ${i.name} belongs to another graph`);
    const outputs = outs.map((o) => this.newValue(o.dtype, o.shape));
    const node: Node = { op, inputs, outputs, attrs };
    this.nodes.push(node);
    if (this.recording === 0 && outputs.length === 1 && isFloat(outputs[0].dtype)) {
      this.tape.push({ op, inputs, output: outputs[0], node });
    }
    return outputs;
  }

  /**
   * Build a composite: `forward` emits primitive nodes (not taped); the result is
   * taped as one entry whose gradient is `backward`. The backward closure may use
   * values computed in forward (saved activations).
   */
  composite(op: string, inputs: Value[], forward: () => { output: Value; backward: Backward }): Value {
    this.recording++;
    let r: { output: Value; backward: Backward };
    try {
      r = forward();
    } finally {
      this.recording--;
    }
    if (this.recording === 0) this.tape.push({ op, inputs, output: r.output, backward: r.backward });
    return r.output;
  }
}

function checkTensor(t: Tensor, what: string): void {
  const n = numel(t.shape as Dim[]);
  if (n === null || t.shape.some((d) => !Number.isInteger(d) || d < 0)) throw new Error(`${what}: bad tensor shape ${fmtShape(t.shape)}`);
  if (t.data.length !== n) throw new Error(`${what}: ${t.data.length} elements for shape ${fmtShape(t.shape)} (${n} expected)`);
}
