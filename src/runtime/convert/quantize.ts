// Ternarizes a float model: every linear weight (a 2-D `blk.*.weight`, and `output.weight` on request) is
// replaced by BitNet b1.58's absmean ternarization, γ = mean|W| over the tensor, W' = γ·round(clip(W/γ,
// −1, 1)), packed as TQ2_0, TQ1_0 or I2_S. Embeddings, norms and everything else keep their type and bytes.
//
// Packing W' is lossless for I2_S (its f32 tensor scale is γ) and exact up to the f16 rounding of γ for the
// TQ types (each block's f16 scale is its absmax, γ, or 0 for an all-zero block).
//
// A tensor whose row length the type cannot hold (TQ types need a multiple of 256, I2_S of 128) is stored in
// ternion's grouped ternary layout instead (grouped-ternary.ts): the same absmean rule with one scale per
// group of GROUPED_TERNARY_GROUP values along the row, 2-bit codes, and rows of any length. It stays ternary
// (2 bits a weight plus an f16 scale a group, not F16's 16 bits), so the model is ternary throughout; ternion
// runs it, llama.cpp does not know the layout.
//
// Tensor data is produced lazily as the writer reaches each tensor: one tensor's source bytes, its f32 values
// and its packed output are in memory at a time.
import { ModelError, OptionError } from "../errors.ts";
import { readTensorData } from "../gguf/reader.ts";
import type { ByteSource } from "../gguf/source.ts";
import { type GgufHeader, type GgufTensorInfo, type GgufValue, GgufValueType as T } from "../gguf/types.ts";
import type { GgufWriteInput, GgufWriteTensor } from "../gguf/writer.ts";
import { DLT_GROUP_KEY } from "../model/tensors.ts";
import { absmeanTernarize } from "../tensor-types/i2_s.ts";
import { GgmlType, tensorTypeName, tensorTypeTraits } from "../tensor-types/table.ts";
import { groupedAbsmeanTernarize, groupedTernaryLayout, packGroupedTernary } from "./grouped-ternary.ts";

export type QuantizeType = "tq2_0" | "tq1_0" | "i2_s";
export const QUANTIZE_TYPES: readonly QuantizeType[] = ["tq2_0", "tq1_0", "i2_s"];

const TARGET: Record<QuantizeType, { type: GgmlType; fileType: number }> = {
  // llama.cpp's LLAMA_FTYPE_MOSTLY_TQ1_0 / _TQ2_0, and bitnet.cpp's LLAMA_FTYPE_MOSTLY_I2_S.
  tq1_0: { type: GgmlType.TQ1_0, fileType: 36 },
  tq2_0: { type: GgmlType.TQ2_0, fileType: 37 },
  i2_s: { type: GgmlType.I2_S, fileType: 40 },
};

/**
 * The group size of the grouped ternary layout, for rows the target type cannot hold: the smallest the
 * backends' DLT kernels take (model/dlt-file.ts), so that each scale fits the fewest values.
 */
export const GROUPED_TERNARY_GROUP = 64;

/** How QuantizedTensor.type names a tensor stored in the grouped ternary layout. */
export const GROUPED_TERNARY_NAME = "DLT";

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
  /** Replaced by its absmean ternarization (in the target type or the grouped ternary layout). */
  ternarized: boolean;
  /** Why the target type could not hold it; set when it went to the grouped ternary layout. */
  grouped?: string;
}

export interface QuantizePlan {
  input: GgufWriteInput;
  /** The ternary type's name ("TQ2_0") and the multiple of it that a row must be. */
  target: { name: string; blockSize: number };
  tensors: QuantizedTensor[];
  /** The ternarized tensors whose rows the target type cannot hold, stored in the grouped ternary layout. */
  grouped: QuantizedTensor[];
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
 * Plans the quantized file: which tensor gets which type (decided from the header alone, so the grouped tensors are
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

  if (header.metadata.has(DLT_GROUP_KEY)) {
    throw new ModelError(
      "ALREADY_TERNARY",
      `the model is a grouped ternary (DLT) model (${DLT_GROUP_KEY} is set): quantize the float model it came from`,
    );
  }

  const tensors: QuantizedTensor[] = [];
  const writes: GgufWriteTensor[] = [];
  for (const info of header.tensors) {
    const sourceType = tensorTypeName(info.type);
    if (!isLinearWeight(info, options.includeOutput)) {
      tensors.push({ name: info.name, dims: info.dims, sourceType, type: sourceType, ternarized: false });
      writes.push({
        name: info.name,
        dims: info.dims,
        type: info.type,
        data: () => readTensorData(source, header, info).then(tap(progress, info.name)),
      });
      continue;
    }
    const [cols, rows] = info.dims as [number, number]; // a linear weight has two dims
    if (cols % targetTraits.blockSize === 0) {
      tensors.push({ name: info.name, dims: info.dims, sourceType, type: targetTraits.name, ternarized: true });
      writes.push({
        name: info.name,
        dims: info.dims,
        type: target.type,
        data: async () => {
          const packed = await ternarizeTensor(source, header, info, target.type);
          progress(info.name);
          return packed;
        },
      });
      continue;
    }
    tensors.push({
      name: info.name,
      dims: info.dims,
      sourceType,
      type: GROUPED_TERNARY_NAME,
      ternarized: true,
      grouped: `row length ${cols} is not a multiple of ${targetTraits.blockSize} (${targetTraits.name})`,
    });
    // Codes, α and γ come from one ternarization, made when the writer asks for the codes and dropped once it
    // has taken all three parts.
    let parts: Promise<Uint8Array[]> | undefined;
    const part = (i: number) => async () => {
      parts ??= groupedTernarize(source, header, info, rows, cols);
      const all = await parts;
      if (i === 2) {
        parts = undefined;
        progress(info.name);
      }
      return all[i]!;
    };
    for (const [i, t] of groupedTernaryLayout(info.name, rows, cols, GROUPED_TERNARY_GROUP).entries()) writes.push({ ...t, data: part(i) });
  }

  const metadata = new Map<string, GgufValue>(header.metadata);
  metadata.set("general.file_type", { type: T.UINT32, value: target.fileType });
  metadata.set("general.quantization_version", { type: T.UINT32, value: 2 });
  const grouped = tensors.filter((t) => t.grouped !== undefined);
  if (grouped.length) metadata.set(DLT_GROUP_KEY, { type: T.UINT32, value: GROUPED_TERNARY_GROUP });
  return {
    input: { version: header.version, metadata, tensors: writes },
    target: { name: targetTraits.name, blockSize: targetTraits.blockSize },
    tensors,
    grouped,
  };
}

/** Reads a matrix [cols, rows] and returns its grouped ternary tensors' bytes: codes, α, γ. */
async function groupedTernarize(source: ByteSource, header: GgufHeader, info: GgufTensorInfo, rows: number, cols: number): Promise<Uint8Array[]> {
  const values = await tensorF32(source, header, info);
  return packGroupedTernary(groupedAbsmeanTernarize(values, rows, cols, GROUPED_TERNARY_GROUP), rows, cols, GROUPED_TERNARY_GROUP);
}

/** Reads a tensor, ternarizes it with the absmean rule and packs it as `type`. */
export async function ternarizeTensor(source: ByteSource, header: GgufHeader, info: GgufTensorInfo, type: GgmlType): Promise<Uint8Array> {
  const values = await tensorF32(source, header, info);
  absmeanTernarize(values, values); // in place: the mean is taken before any value is replaced
  return tensorTypeTraits(type).quantize(values);
}

async function tensorF32(source: ByteSource, header: GgufHeader, info: GgufTensorInfo): Promise<Float32Array> {
  const values = new Float32Array(info.dims.reduce((a, b) => a * b, 1));
  tensorTypeTraits(info.type).dequantize(await readTensorData(source, header, info), values);
  return values;
}

function tap<V>(fn: (name: string) => void, name: string): (v: V) => V {
  return (v) => {
    fn(name);
    return v;
  };
}
