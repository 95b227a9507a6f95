// What `ternion inspect` (and later `engine.info()`) reports about a model file: architecture,
// hyper-parameters, tokenizer, every tensor, and for ternary tensors the fraction of zero weights per tensor
// and per layer (TernaryLM's layer-wise sparsity analysis), and per ternary matrix the fraction of its weights
// kept in a salient side matrix and its total bits per weight, counted from the bytes of every tensor that holds
// the matrix (codes, DLT scales, the four side-matrix tensors) over its m·k weights (docs/ARCHITECTURE.md section 3).
import type { ByteSource } from "./gguf/source.ts";
import type { GgufModel } from "./gguf/split.ts";
import type { GgufHeader, GgufTensorInfo } from "./gguf/types.ts";
import { GgufValueType } from "./gguf/types.ts";
import { GgufError } from "./errors.ts";
import { readGgufHeader } from "./gguf/reader.ts";
import { describeValue, metaArray, metaNumber, metaString, plainScalar } from "./gguf/metadata.ts";
import { isKnownTensorType, isTernaryTraits, tensorTypeName, tensorTypeTraits } from "./tensor-types/table.ts";
import { modelConfigFromGguf } from "./model/config.ts";
import { dltScaleNames, expectedTensors, salientNames } from "./model/tensors.ts";

export interface TensorReport {
  name: string;
  type: string;
  /** ggml order: shape[0] is the row length. */
  shape: number[];
  elements: number;
  bytes: number;
  /** Fraction of weights that are exactly zero; only for ternary types. */
  zeroFraction?: number;
  /** Ternary types: the fraction of the matrix's weights in its salient side matrix (0 without one). */
  salientFraction?: number;
  /** Ternary types: bits of every tensor holding the matrix (codes, DLT scales, side matrix) per weight. */
  bitsPerWeight?: number;
}

export interface LayerSparsity {
  layer: number;
  ternaryElements: number;
  zeroFraction: number;
}

export interface ModelReport {
  ggufVersion: number;
  fileSize: number;
  name?: string;
  architecture?: string;
  /** Every `<architecture>.*` key without the prefix, plus a few derived values. */
  hyperParameters: Record<string, string | number | boolean>;
  tokenizer: {
    model?: string;
    pre?: string;
    vocabSize?: number;
    bos?: number;
    eos?: number;
    hasChatTemplate: boolean;
  };
  /** Every metadata key with a short rendering of its value. */
  metadata: Record<string, string>;
  tensors: TensorReport[];
  tensorBytes: number;
  elements: number;
  /** Per `blk.N.` layer, over its ternary tensors. */
  layerSparsity: LayerSparsity[];
  /** Over all ternary tensors; undefined when the model has none. */
  ternaryZeroFraction?: number;
  /** Over all ternary matrices: salient weights per weight, and bits per weight (as TensorReport's). */
  ternarySalientFraction?: number;
  ternaryBitsPerWeight?: number;
}

export interface InspectOptions {
  /** Count zero weights of ternary tensors (reads every ternary tensor once). Default true. */
  sparsity?: boolean;
}

/** `model`: a file's source, or a model opened by source and header (a split model's parts, gguf/split.ts). */
export async function inspectModel(model: ByteSource | GgufModel, options: InspectOptions = {}): Promise<ModelReport> {
  const { source, header } = "header" in model ? model : { source: model, header: await readGgufHeader(model) };
  const meta = header.metadata;
  const architecture = metaString(meta, "general.architecture");

  const hyperParameters: ModelReport["hyperParameters"] = {};
  const metadata: Record<string, string> = {};
  for (const [key, value] of meta) {
    metadata[key] = describeValue(value);
    if (architecture && key.startsWith(architecture + ".") && value.type !== GgufValueType.ARRAY) {
      const plain = plainScalar(value);
      hyperParameters[key.slice(architecture.length + 1)] = typeof plain === "bigint" ? String(plain) : plain;
    }
  }

  const tokens = metaArray(meta, "tokenizer.ggml.tokens");
  const tokenizer = {
    model: metaString(meta, "tokenizer.ggml.model"),
    pre: metaString(meta, "tokenizer.ggml.pre"),
    vocabSize: tokens ? (tokens.values as ArrayLike<unknown>).length : undefined,
    bos: metaNumber(meta, "tokenizer.ggml.bos_token_id"),
    eos: metaNumber(meta, "tokenizer.ggml.eos_token_id"),
    hasChatTemplate: meta.has("tokenizer.chat_template"),
  };

  const tensors: TensorReport[] = [];
  const layers = new Map<number, { elements: number; zeros: number }>();
  let ternaryElements = 0;
  let ternaryZeros = 0;
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  const trueRowLength = matrixRowLengths(header);
  const cost = { weights: 0, salient: 0, bits: 0 };
  for (const info of header.tensors) {
    const elements = info.dims.reduce((a, b) => a * b, 1);
    const report: TensorReport = { name: info.name, type: tensorTypeName(info.type), shape: info.dims, elements, bytes: info.byteLength };
    if (isKnownTensorType(info.type) && tensorTypeTraits(info.type).ternary && info.dims.length >= 2) {
      const m = info.dims.slice(1).reduce((a, b) => a * b, 1);
      const weights = m * (trueRowLength.get(info.name) ?? info.dims[0]!);
      const side = salientNames(info.name);
      const scales = dltScaleNames(info.name);
      const nnz = byName.get(side.idx)?.dims[0] ?? 0;
      let bytes = info.byteLength;
      for (const n of [scales.alpha, scales.gamma, ...Object.values(side)]) bytes += byName.get(n)?.byteLength ?? 0;
      report.salientFraction = nnz / weights;
      report.bitsPerWeight = (8 * bytes) / weights;
      cost.weights += weights;
      cost.salient += nnz;
      cost.bits += 8 * bytes;
    }
    if (options.sparsity !== false && isKnownTensorType(info.type) && tensorTypeTraits(info.type).ternary) {
      const zeros = await countZeroWeights(source, header, info);
      report.zeroFraction = zeros / elements;
      ternaryElements += elements;
      ternaryZeros += zeros;
      const layer = layerIndex(info.name);
      if (layer !== undefined) {
        const acc = layers.get(layer) ?? { elements: 0, zeros: 0 };
        acc.elements += elements;
        acc.zeros += zeros;
        layers.set(layer, acc);
      }
    }
    tensors.push(report);
  }

  return {
    ggufVersion: header.version,
    fileSize: header.fileSize,
    name: metaString(meta, "general.name"),
    architecture,
    hyperParameters,
    tokenizer,
    metadata,
    tensors,
    tensorBytes: tensors.reduce((a, t) => a + t.bytes, 0),
    elements: tensors.reduce((a, t) => a + t.elements, 0),
    layerSparsity: [...layers.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([layer, acc]) => ({ layer, ternaryElements: acc.elements, zeroFraction: acc.zeros / acc.elements })),
    ternaryZeroFraction: ternaryElements > 0 ? ternaryZeros / ternaryElements : undefined,
    ternarySalientFraction: cost.weights > 0 ? cost.salient / cost.weights : undefined,
    ternaryBitsPerWeight: cost.weights > 0 ? cost.bits / cost.weights : undefined,
  };
}

/**
 * The true row length of every matrix the model's configuration names (a DLT matrix pads its code rows to 256,
 * so the stored length overstates it); empty when the metadata is not a model configuration ternion knows.
 */
function matrixRowLengths(header: GgufHeader): Map<string, number> {
  try {
    const config = modelConfigFromGguf(header.metadata, header.tensors);
    return new Map(expectedTensors(config).map((t) => [t.name, t.dims[0]!]));
  } catch {
    return new Map();
  }
}

/** `blk.12.attn_q.weight` → 12. */
export function layerIndex(tensorName: string): number | undefined {
  const m = /^blk\.(\d+)\./.exec(tensorName);
  return m ? Number(m[1]) : undefined;
}

/**
 * Zero codes of a ternary tensor, counted from the codes themselves (scale-free), read and decoded a slice of
 * blocks at a time so that memory stays bounded whatever the tensor's size (a header may claim a 1 TiB tensor in
 * a sparse file). I2_S groups carry no per-block scale, so its blocks can be sliced like the others.
 */
async function countZeroWeights(source: ByteSource, header: GgufHeader, info: GgufTensorInfo): Promise<number> {
  const traits = tensorTypeTraits(info.type);
  if (!isTernaryTraits(traits)) return 0;
  const totalBlocks = info.dims.reduce((a, b) => a * b, 1) / traits.blockSize;
  const chunkBlocks = Math.max(1, Math.floor((1 << 20) / traits.blockSize));
  const codes = new Int8Array(Math.min(totalBlocks, chunkBlocks) * traits.blockSize);
  const start = header.dataOffset + info.offset;
  let zeros = 0;
  for (let block = 0; block < totalBlocks; block += chunkBlocks) {
    const n = Math.min(chunkBlocks, totalBlocks - block);
    const length = n * traits.bytesPerBlock;
    const src = await source.read(start + block * traits.bytesPerBlock, length);
    if (src.length !== length) {
      throw new GgufError("TRUNCATED", `tensor "${info.name}": the file ends inside its data`, start + block * traits.bytesPerBlock + src.length);
    }
    const dst = traits.ternaryCodes(src, codes.subarray(0, n * traits.blockSize));
    for (let i = 0; i < dst.length; i++) if (dst[i] === 0) zeros++;
  }
  return zeros;
}
