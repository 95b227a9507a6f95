// The WebGPU backend's table of weight-matrix types, as ggml keeps one table per backend beside its table of
// formats (runtime/tensor-types/table.ts): for each type, how a tensor's bytes become the buffers the shaders
// read (the host-side conversion, a pure function) and which shader runs it with which activations. Block sizes
// and the place of each block's scale come from the traits table. weights.ts asks this table, so a new ternary
// type is one row here (and one in runtime/cpu/matrix-types.ts).
//
//   type    codes on the GPU                        scale groups            activations (as the CPU path)
//   TQ2_0   each block's 64 code bytes, d dropped   256, f16 d              Q8_K per 256
//   TQ1_0   base-3 decoded, repacked to T2          256, f16 d              Q8_K per 256 (68/54 of the bytes)
//   I2_S    as stored (its own bit order)           the row, tensor scale   int8 absmax per token
//   DLT     T2 rows as given                        g, α and γ              int8 absmax per group of g, with Σx
import { GpuError } from "../runtime/errors.ts";
import { DLT_GROUP_SIZES } from "../runtime/model/dlt-file.ts";
import { f16BitsToF32 } from "../runtime/tensor-types/half.ts";
import { i2sScale } from "../runtime/tensor-types/i2_s.ts";
import { GgmlType, tensorTypeName, tensorTypeTraits, type TensorTypeTraits } from "../runtime/tensor-types/table.ts";
import { dltCodesFromTq2_0, packDltCodes } from "../runtime/tensor-types/ternary-codes.ts";
import type { ActivationQuant, HostMatrix } from "./weights.ts";
import type { FloatFormat } from "./wgsl/float-formats.ts";

export type GpuMatrixTypeName = "F32" | "F16" | "BF16" | "Q8_0" | "TQ1_0" | "TQ2_0" | "I2_S" | "DLT";

export interface GpuMatrixType {
  /** The GGUF tensor type it is read from; undefined for DLT (its parts come from model/dlt-file.ts). */
  ggml: GgmlType | undefined;
  /**
   * The shader that runs it: float-matmul with its weight format, or ternary-matmul with the order of its 2-bit
   * fields ("i2s": from the top, bitnet.cpp's) and the quantization of its input (`group`: DLT's group size).
   */
  shader:
    | { kind: "float"; format: FloatFormat }
    | { kind: "ternary"; fieldOrder: "t2" | "i2s"; activation: (cols: number, group: number) => ActivationQuant };
  /** How a tensor's bytes become its GPU layout; undefined for DLT, whose codes, α and γ come apart (hostDlt). */
  toHost: ((data: Uint8Array, rows: number, cols: number) => HostMatrix) | undefined;
  /** DLT only: the group sizes its shader supports. */
  groupSizes?: readonly number[];
}

const unsupported = (msg: string): never => {
  throw new GpuError("UNSUPPORTED_TENSOR", msg);
};

/** The first `bytes` of `data` as u32 words (a view when aligned, else a copy). */
export function wordsOf(data: Uint8Array, bytes: number): Uint32Array {
  if (data.byteOffset % 4 === 0 && bytes % 4 === 0) return new Uint32Array(data.buffer, data.byteOffset, bytes / 4);
  const out = new Uint32Array(Math.ceil(bytes / 4));
  new Uint8Array(out.buffer).set(data.subarray(0, bytes));
  return out;
}

function checkRow(format: TensorTypeTraits, cols: number): void {
  if (cols % format.blockSize) unsupported(`${format.name} needs rows that are a multiple of ${format.blockSize}, got ${cols}`);
}

/** The f16 scale d of each block of a one-scale-per-block format, as f32. */
function blockScales(format: TensorTypeTraits, data: Uint8Array, blocks: number): Float32Array {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const scales = new Float32Array(blocks);
  for (let b = 0; b < blocks; b++) scales[b] = f16BitsToF32(dv.getUint16(b * format.bytesPerBlock + format.blockScaleByte!, true));
  return scales;
}

/** Float rows whose values fill whole words as stored (F32 one per word, F16/BF16 two). */
function storedWords(ggml: GgmlType, format: FloatFormat): GpuMatrixType {
  const traits = tensorTypeTraits(ggml);
  return {
    ggml,
    shader: { kind: "float", format },
    toHost(data, rows, cols) {
      const rowBytes = cols * traits.bytesPerBlock;
      if (rowBytes % 4) unsupported(`${tensorTypeName(ggml)} rows of odd length ${cols} are not supported on the GPU`);
      return { kind: "float", rows, cols, format, rowWords: rowBytes / 4, words: wordsOf(data, rows * rowBytes) };
    },
  };
}

/** Q8_0: the 32 int8 values of each block packed four to a word, its f16 d apart as f32 [rows][cols/32]. */
const q8Blocks: GpuMatrixType = {
  ggml: GgmlType.Q8_0,
  shader: { kind: "float", format: "q8_0" },
  toHost(data, rows, cols) {
    const traits = tensorTypeTraits(GgmlType.Q8_0);
    checkRow(traits, cols);
    const { blockSize, bytesPerBlock } = traits;
    const blocks = (rows * cols) / blockSize;
    const words = new Uint32Array((rows * cols) / 4);
    const bytes = new Uint8Array(words.buffer);
    // the values are the block's bytes after d (d comes first in a Q8_0 block)
    const first = traits.blockScaleByte! + 2;
    for (let b = 0; b < blocks; b++) bytes.set(data.subarray(b * bytesPerBlock + first, (b + 1) * bytesPerBlock), b * blockSize);
    return { kind: "float", rows, cols, format: "q8_0", rowWords: cols / 4, words, wscale: blockScales(traits, data, blocks) };
  },
};

const q8kActivations = (): ActivationQuant => ({ mode: "q8k", group: 256, sums: false });
const perTokenActivations = (cols: number): ActivationQuant => ({ mode: "absmax", group: cols, sums: false });

/** A ternary format with one f16 scale per block: `codes` gives its T2 code rows, the scales are f32 [rows][blocks]. */
function ternaryBlocks(ggml: GgmlType, codes: (data: Uint8Array, rows: number, cols: number) => Uint8Array): GpuMatrixType {
  const traits = tensorTypeTraits(ggml);
  return {
    ggml,
    shader: { kind: "ternary", fieldOrder: "t2", activation: q8kActivations },
    toHost(data, rows, cols) {
      checkRow(traits, cols);
      const blocks = rows * (cols / traits.blockSize);
      return {
        kind: "ternary",
        rows,
        cols,
        rowWords: Math.ceil(cols / 128) * 8,
        codes: new Uint32Array(codes(data, rows, cols).buffer),
        scales: blockScales(traits, data, blocks),
        i2s: false,
        act: q8kActivations(),
      };
    },
  };
}

export const GPU_MATRIX_TYPES: Readonly<Record<GpuMatrixTypeName, GpuMatrixType>> = {
  F32: storedWords(GgmlType.F32, "f32"),
  F16: storedWords(GgmlType.F16, "f16"),
  BF16: storedWords(GgmlType.BF16, "bf16"),
  Q8_0: q8Blocks,
  // a TQ2_0 block's 64 code bytes are two T2 chunks already
  TQ2_0: ternaryBlocks(GgmlType.TQ2_0, dltCodesFromTq2_0),
  TQ1_0: ternaryBlocks(GgmlType.TQ1_0, (data, rows, cols) => {
    const trits = tensorTypeTraits(GgmlType.TQ1_0).ternaryCodes!(data, new Int8Array(rows * cols));
    return packDltCodes(
      Uint8Array.from(trits, (t) => t + 1),
      rows,
      cols,
    );
  }),
  I2_S: {
    ggml: GgmlType.I2_S,
    shader: { kind: "ternary", fieldOrder: "i2s", activation: perTokenActivations },
    toHost(data, rows, cols) {
      checkRow(tensorTypeTraits(GgmlType.I2_S), cols);
      const numel = rows * cols;
      return {
        kind: "ternary",
        rows,
        cols,
        rowWords: cols / 16,
        codes: wordsOf(data, numel / 4),
        scales: new Float32Array(rows).fill(i2sScale(data, numel)),
        i2s: true,
        act: perTokenActivations(cols),
      };
    },
  },
  DLT: {
    ggml: undefined,
    shader: { kind: "ternary", fieldOrder: "t2", activation: (_cols, group) => ({ mode: "absmax", group, sums: true }) },
    toHost: undefined,
    groupSizes: DLT_GROUP_SIZES,
  },
};

const BY_GGML = new Map<number, GpuMatrixType>(Object.values(GPU_MATRIX_TYPES).flatMap((row) => (row.ggml === undefined ? [] : [[row.ggml, row]])));

/** The row of a GGUF tensor type; a typed error for types with no GPU kernel. */
export function gpuMatrixType(ggml: number): GpuMatrixType {
  return BY_GGML.get(ggml) ?? unsupported(`tensor type ${tensorTypeName(ggml)} has no GPU kernel`);
}
