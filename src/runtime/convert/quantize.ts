// Ternarizes a float model: every linear weight (a 2-D `blk.*.weight`, and `output.weight` on request) is
// replaced by BitNet b1.58's absmean ternarization, γ = mean|W| over the tensor, W' = γ·round(clip(W/γ,
// −1, 1)), packed as TQ2_0, TQ1_0 or I2_S. Embeddings, norms and everything else keep their type and bytes.
//
// Packing W' is lossless for I2_S (its f32 tensor scale is γ) and exact up to the f16 rounding of γ for the
// TQ types (each block's f16 scale is its absmax, γ, or 0 for an all-zero block).
//
// A tensor whose row length the type cannot hold (TQ types need a multiple of 256, I2_S of 128) falls back
// to F16 holding the same ternarized values W'. Why not keep the source type: the point of the tool is a
// model whose linear layers are all ternary, so that it measures (and runs) the ternarized network; a
// float layer left in the middle would silently mix the two. F16 stores ±γ with the same f16 rounding the
// TQ types apply to their scale, every runtime (llama.cpp included) runs it, and it is half the size of F32.
// (|γ| must lie in f16's range, 6e-8..65504, as it must for the TQ types' scale too.)
//
// Tensor data is produced lazily as the writer reaches each tensor: one tensor's source bytes, its f32 values
// and its packed output are in memory at a time.
import { OptionError } from "../errors.ts";
import { readTensorData } from "../gguf/reader.ts";
import type { ByteSource } from "../gguf/source.ts";
import { type GgufHeader, type GgufTensorInfo, type GgufValue, GgufValueType as T } from "../gguf/types.ts";
import type { GgufWriteInput, GgufWriteTensor } from "../gguf/writer.ts";
import { absmeanTernarize } from "../tensor-types/i2_s.ts";
import { GgmlType, tensorTypeName, tensorTypeTraits } from "../tensor-types/table.ts";

export type QuantizeType = "tq2_0" | "tq1_0" | "i2_s";
export const QUANTIZE_TYPES: readonly QuantizeType[] = ["tq2_0", "tq1_0", "i2_s"];

const TARGET: Record<QuantizeType, { type: GgmlType; fileType: number }> = {
  // llama.cpp's LLAMA_FTYPE_MOSTLY_TQ1_0 / _TQ2_0, and bitnet.cpp's LLAMA_FTYPE_MOSTLY_I2_S.
  tq1_0: { type: GgmlType.TQ1_0, fileType: 36 },
  tq2_0: { type: GgmlType.TQ2_0, fileType: 37 },
  i2_s: { type: GgmlType.I2_S, fileType: 40 },
};

/** The type holding ternarized values whose rows the target type cannot hold. */
export const FALLBACK_TYPE = GgmlType.F16;

export interface QuantizeOptions {
  type: QuantizeType;
  /** Ternarize `output.weight` too (default false: the output head is kept as it is, as BitNet does). */
  includeOutput?: boolean;
  /** Called as each tensor's data is produced (done counts from 1). */
  onTensor?: (done: number, total: number, name: string) => void;
}

export interface QuantizedTensor {
  name: string;
  dims: number[];
  sourceType: string;
  type: string;
  /** Replaced by its absmean ternarization (in the target type or the fallback type). */
  ternarized: boolean;
  /** Why the target type could not hold it; set when it went to the fallback type. */
  fallback?: string;
}

export interface QuantizePlan {
  input: GgufWriteInput;
  tensors: QuantizedTensor[];
  fallbacks: QuantizedTensor[];
}

export function isQuantizeType(s: string): s is QuantizeType {
  return (QUANTIZE_TYPES as readonly string[]).includes(s);
}

/** Which tensors are ternarized: 2-D weights of the blocks, and the output head when asked. */
export function isLinearWeight(info: Pick<GgufTensorInfo, "name" | "dims">, includeOutput = false): boolean {
  if (info.dims.length !== 2) return false;
  if (info.name === "output.weight") return includeOutput;
  return info.name.startsWith("blk.") && info.name.endsWith(".weight");
}

/**
 * Plans the quantized file: which tensor gets which type (decided from the header alone, so fallbacks are
 * known before anything is written) and the write input whose tensors are computed on demand.
 */
export function planQuantize(source: ByteSource, header: GgufHeader, options: QuantizeOptions): QuantizePlan {
  if (!isQuantizeType(options.type)) {
    throw new OptionError("BAD_OPTION_VALUE", `quantize type "${String(options.type)}" must be one of ${QUANTIZE_TYPES.join(", ")}`);
  }
  const target = TARGET[options.type];
  const targetTraits = tensorTypeTraits(target.type);
  const total = header.tensors.length;
  let done = 0;
  const progress = (name: string) => options.onTensor?.(++done, total, name);

  const tensors: QuantizedTensor[] = [];
  const writes: GgufWriteTensor[] = header.tensors.map((info) => {
    const sourceType = tensorTypeName(info.type);
    if (!isLinearWeight(info, options.includeOutput)) {
      tensors.push({ name: info.name, dims: info.dims, sourceType, type: sourceType, ternarized: false });
      return { name: info.name, dims: info.dims, type: info.type, data: () => readTensorData(source, header, info).then(tap(progress, info.name)) };
    }
    const fits = info.dims[0]! % targetTraits.blockSize === 0; // a linear weight has two dims
    const type = fits ? target.type : FALLBACK_TYPE;
    const entry: QuantizedTensor = { name: info.name, dims: info.dims, sourceType, type: tensorTypeName(type), ternarized: true };
    if (!fits) {
      entry.fallback = `row length ${info.dims[0]} is not a multiple of ${targetTraits.blockSize} (${targetTraits.name})`;
    }
    tensors.push(entry);
    return {
      name: info.name,
      dims: info.dims,
      type,
      data: async () => {
        const packed = await ternarizeTensor(source, header, info, type);
        progress(info.name);
        return packed;
      },
    };
  });

  const metadata = new Map<string, GgufValue>(header.metadata);
  metadata.set("general.file_type", { type: T.UINT32, value: target.fileType });
  metadata.set("general.quantization_version", { type: T.UINT32, value: 2 });
  return {
    input: { version: header.version, metadata, tensors: writes },
    tensors,
    fallbacks: tensors.filter((t) => t.fallback !== undefined),
  };
}

/** Reads a tensor, ternarizes it with the absmean rule and packs it as `type`. */
export async function ternarizeTensor(source: ByteSource, header: GgufHeader, info: GgufTensorInfo, type: GgmlType): Promise<Uint8Array> {
  const bytes = await readTensorData(source, header, info);
  const values = new Float32Array(info.dims.reduce((a, b) => a * b, 1));
  tensorTypeTraits(info.type).dequantize(bytes, values);
  absmeanTernarize(values, values); // in place: the mean is taken before any value is replaced
  return tensorTypeTraits(type).quantize(values);
}

function tap<V>(fn: (name: string) => void, name: string): (v: V) => V {
  return (v) => {
    fn(name);
    return v;
  };
}
