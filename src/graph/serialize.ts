/**
 * Graph -> ONNX ModelProto bytes (opset 17, IR version 8: loads in ORT 1.30 and
 * passes onnx.checker of onnx 1.12). Tensors go out as raw_data, little-endian.
 */
import onnxProto from 'onnx-proto';
import { ONNX_DTYPE, type DType } from './dtype.js';
import type { Attr, Graph, Tensor, Value } from './graph.js';

const { onnx } = onnxProto;

export const OPSET = 17;
export const IR_VERSION = 8;

function tensorProto(name: string, t: Tensor): onnxProto.onnx.ITensorProto {
  const d = t.data;
  // Copy the exact byte range; typed arrays may be views on larger buffers.
  const raw = new Uint8Array(d.buffer.slice(d.byteOffset, d.byteOffset + d.byteLength));
  return { name, dims: t.shape, dataType: ONNX_DTYPE[t.dtype], rawData: raw };
}

function valueInfo(v: Value): onnxProto.onnx.IValueInfoProto {
  return {
    name: v.name,
    type: {
      tensorType: {
        elemType: ONNX_DTYPE[v.dtype as DType],
        shape: {
          dim: v.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : typeof d === 'string' ? { dimParam: d } : {})),
        },
      },
    },
  };
}

function attrProto(name: string, a: Attr): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  switch (a.kind) {
    case 'int': return { name, type: T.INT, i: a.v };
    case 'float': return { name, type: T.FLOAT, f: a.v };
    case 'ints': return { name, type: T.INTS, ints: a.v };
    case 'floats': return { name, type: T.FLOATS, floats: a.v };
    case 'string': return { name, type: T.STRING, s: new TextEncoder().encode(a.v) };
    case 'tensor': return { name, type: T.TENSOR, t: tensorProto('', a.v) };
  }
}

export interface SerializeOptions {
  producer?: string;
  docString?: string;
}

/** Only nodes needed for the outputs are emitted (dead code from unused gradient branches is dropped). */
function liveNodes(g: Graph): { nodes: Graph['nodes']; used: Set<Value> } {
  const need = new Set<Value>(g.outputs);
  const keep: boolean[] = new Array(g.nodes.length).fill(false);
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i];
    if (n.outputs.some((o) => need.has(o))) {
      keep[i] = true;
      for (const x of n.inputs) if (x) need.add(x);
    }
  }
  return { nodes: g.nodes.filter((_, i) => keep[i]), used: need };
}

export function toModelProto(g: Graph, opts: SerializeOptions = {}): onnxProto.onnx.ModelProto {
  if (g.outputs.length === 0) throw new Error('serialize: graph has no outputs');
  const { nodes, used } = liveNodes(g);
  const graph: onnxProto.onnx.IGraphProto = {
    name: g.name,
    node: nodes.map((n, i) => ({
      name: `n${i}_${n.op}`,
      opType: n.op,
      // Omitted optional inputs are empty names.
      input: n.inputs.map((x) => (x ? x.name : '')),
      output: n.outputs.map((o) => o.name),
      attribute: Object.entries(n.attrs).map(([k, a]) => attrProto(k, a)),
    })),
    // Inputs are kept even when unused so the model's signature is stable.
    input: g.inputs.map(valueInfo),
    output: g.outputs.map(valueInfo),
    initializer: g.initializers.filter((i) => used.has(i.value)).map((i) => tensorProto(i.value.name, i.tensor)),
  };
  return onnx.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: OPSET }],
    producerName: opts.producer ?? 'rsft',
    docString: opts.docString ?? '',
    graph,
  });
}

export function serialize(g: Graph, opts: SerializeOptions = {}): Uint8Array {
  return onnx.ModelProto.encode(toModelProto(g, opts)).finish();
}
