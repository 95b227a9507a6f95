// The CPU backend's table of weight-matrix types, as ggml keeps one table per backend beside its table of
// formats: for each type a matrix can have in wasm memory, how its rows are held there, where its scales are,
// which activations and kernel family it takes, how its bytes get into wasm and how one row reads back. The
// formats themselves (block, bytes, quantize, dequantize) are runtime/tensor-types/table.ts; block sizes come
// from there, and the byte layouts below are spelled out in ./layout.ts, whose matrixLayout derives every
// size from a row here. Code that depends on a matrix's type asks this table, so a new ternary type is one row.
import { TensorTypeError } from "../errors.ts";
import { DLT_GROUP_SIZES } from "../model/dlt-file.ts";
import { i2sScale } from "../tensor-types/i2_s.ts";
import { GgmlType, tensorTypeTraits, type TensorTypeTraits } from "../tensor-types/table.ts";
import { codeRowReader, storedValuesReader, type EmbeddingRowReader } from "./embedding-rows.ts";
import type { FloatWeightFormat, TernaryFamily } from "./kernels.ts";
import type { ActivationKind, MatrixLayout } from "./layout.ts";
import type { WasmHeap } from "./wasm/heap.ts";

export type MatrixType = "F32" | "F16" | "BF16" | "Q8_0" | "TQ1_0" | "TQ2_0" | "I2_S" | "DLT";

/** Writes source bytes [at, at + bytes.length) of a matrix to their place in its rows at `ptr` (streamable). */
export type SourceWriter = (heap: WasmHeap, ptr: number, at: number, bytes: Uint8Array) => void;

export interface CpuMatrixType {
  /** The GGUF tensor type it is read from; undefined for DLT (ours: its parts come from model/dlt-file.ts). */
  ggml: GgmlType | undefined;
  /** The format of the bytes it comes in; undefined for DLT, whose codes come as T2 rows (./layout.ts). */
  source: TensorTypeTraits | undefined;
  /**
   * How the rows sit in wasm: the bytes of a format (`values`, read by the float matmul), or T2 code rows in row
   * quads whose 2-bit fields count from the low bits ("t2") or from the top ("i2s", bitnet.cpp's order).
   */
  rows: { kind: "values"; format: TensorTypeTraits } | { kind: "codes"; fieldOrder: "t2" | "i2s" };
  /**
   * The weight scales kept apart from the rows: none (float rows carry their own), one per block of the source
   * format as f32, quad-major (the repack writes them), the tensor's one scale (read out of the source bytes),
   * or α and γ per group of g weights (given with the upload; held as f32, quad-major: ./row-quads.ts scaleIndex) for the group sizes listed.
   */
  scales:
    | { kind: "none" }
    | { kind: "blocks" }
    | { kind: "tensor"; read: (source: Uint8Array, elements: number) => number }
    | { kind: "groups"; sizes: readonly number[] };
  /** The activation quantization its kernel expects; undefined: f32 activations. */
  activation: ActivationKind | undefined;
  /** The matmul that runs it: the float kernel with its weight format, or a ternary kernel family. */
  kernel: { matmul: "float"; format: FloatWeightFormat } | { matmul: "ternary"; family: TernaryFamily };
  /**
   * How the source bytes get into wasm: written in place as they stream in (`copy`), or staged in wasm and
   * repacked there by a kernel, from the format's blocks into row quads and block scales (`repack-blocks`) or
   * from code rows into row quads (`repack-rows`).
   */
  upload: { kind: "copy"; write: SourceWriter } | { kind: "repack-blocks"; kernel: "repackTq1" | "repackTq2" } | { kind: "repack-rows" };
  /** Decodes one row to f32 (the token embedding lookup). */
  embeddingRow: EmbeddingRowReader;
}

const F32 = tensorTypeTraits(GgmlType.F32);
const F16 = tensorTypeTraits(GgmlType.F16);
const BF16 = tensorTypeTraits(GgmlType.BF16);
const Q8_0 = tensorTypeTraits(GgmlType.Q8_0);

const copyBytes: SourceWriter = (heap, ptr, at, bytes) => heap.write(ptr + at, bytes);

/** BF16 → F32: each 2-byte value becomes the high half of a 4-byte one (exact). */
const widenBf16: SourceWriter = (heap, ptr, at, bytes) => {
  const u16 = heap.u16;
  const dst = (ptr + at * 2) >> 1;
  for (let i = 0; i < bytes.length / 2; i++) {
    u16[dst + 2 * i] = 0;
    u16[dst + 2 * i + 1] = bytes[2 * i]! | (bytes[2 * i + 1]! << 8);
  }
};

/** Float rows: held as the format's bytes, read by the float matmul with f32 activations. */
function floatRow(ggml: GgmlType, source: TensorTypeTraits, held: TensorTypeTraits, format: FloatWeightFormat, write: SourceWriter): CpuMatrixType {
  return {
    ggml,
    source,
    rows: { kind: "values", format: held },
    scales: { kind: "none" },
    activation: undefined,
    kernel: { matmul: "float", format },
    upload: { kind: "copy", write },
    embeddingRow: storedValuesReader(held),
  };
}

/** Ternary rows: T2 code rows in row quads, read by a ternary kernel family on quantized activations. */
function ternaryRow(row: Omit<CpuMatrixType, "rows" | "embeddingRow">, fieldOrder: "t2" | "i2s"): CpuMatrixType {
  return { ...row, rows: { kind: "codes", fieldOrder }, embeddingRow: codeRowReader(fieldOrder) };
}

export const CPU_MATRIX_TYPES: Readonly<Record<MatrixType, CpuMatrixType>> = {
  F32: floatRow(GgmlType.F32, F32, F32, "F32", copyBytes),
  F16: floatRow(GgmlType.F16, F16, F16, "F16", copyBytes),
  // no BF16 kernel: widened to F32 as it streams in
  BF16: floatRow(GgmlType.BF16, BF16, F32, "F32", widenBf16),
  Q8_0: floatRow(GgmlType.Q8_0, Q8_0, Q8_0, "Q8_0", copyBytes),
  // base-3 trits unpacked to 2-bit codes at upload: 68/54 of the bytes, no per-use decoding (wasm SIMD has no byte multiply)
  TQ1_0: ternaryRow(
    {
      ggml: GgmlType.TQ1_0,
      source: tensorTypeTraits(GgmlType.TQ1_0),
      scales: { kind: "blocks" },
      activation: "q8k",
      kernel: { matmul: "ternary", family: "TQ2" },
      upload: { kind: "repack-blocks", kernel: "repackTq1" },
    },
    "t2",
  ),
  TQ2_0: ternaryRow(
    {
      ggml: GgmlType.TQ2_0,
      source: tensorTypeTraits(GgmlType.TQ2_0),
      scales: { kind: "blocks" },
      activation: "q8k",
      kernel: { matmul: "ternary", family: "TQ2" },
      upload: { kind: "repack-blocks", kernel: "repackTq2" },
    },
    "t2",
  ),
  I2_S: ternaryRow(
    {
      ggml: GgmlType.I2_S,
      source: tensorTypeTraits(GgmlType.I2_S),
      scales: { kind: "tensor", read: i2sScale },
      activation: "token",
      kernel: { matmul: "ternary", family: "I2S" },
      upload: { kind: "repack-rows" },
    },
    "i2s",
  ),
  DLT: ternaryRow(
    {
      ggml: undefined,
      source: undefined,
      scales: { kind: "groups", sizes: DLT_GROUP_SIZES },
      activation: "group",
      kernel: { matmul: "ternary", family: "DLT" },
      upload: { kind: "repack-rows" },
    },
    "t2",
  ),
};

const BY_GGML = new Map<number, MatrixType>(
  (Object.entries(CPU_MATRIX_TYPES) as [MatrixType, CpuMatrixType][]).flatMap(([name, row]) => (row.ggml === undefined ? [] : [[row.ggml, name]])),
);

/** A ggml type id (or our name) as a MatrixType; a typed error where the CPU backend has no row for it. */
export function matrixType(t: number | string): MatrixType {
  if (typeof t === "string") {
    if (!Object.hasOwn(CPU_MATRIX_TYPES, t)) throw new TensorTypeError("UNKNOWN_TENSOR_TYPE", `no CPU kernel for tensor type ${t}`);
    return t as MatrixType;
  }
  const name = BY_GGML.get(t);
  if (!name) throw new TensorTypeError("UNKNOWN_TENSOR_TYPE", `no CPU kernel for tensor type id ${t}`);
  return name;
}

/** The table row of a matrix type (its name or ggml id). */
export function cpuMatrixType(t: number | string): CpuMatrixType {
  return CPU_MATRIX_TYPES[matrixType(t)];
}

/** The GGUF types the CPU backend reads, in table order (for messages). */
export function cpuGgmlTypeNames(): string[] {
  return Object.values(CPU_MATRIX_TYPES).flatMap((row) => (row.source ? [row.source.name] : []));
}

/** f32 arrays of `layout.scaleBytes` that a matrix of this type holds beside its rows (DLT: α and γ). */
export function scaleArrays(row: CpuMatrixType): number {
  return row.scales.kind === "groups" ? 2 : row.scales.kind === "blocks" ? 1 : 0;
}

/** Bytes of the source staged in wasm memory during the upload (the repack's input), 0 for a streamed copy. */
export function uploadStagingBytes(row: CpuMatrixType, layout: MatrixLayout, rows: number): number {
  if (row.upload.kind === "repack-blocks") return layout.sourceBytes;
  if (row.upload.kind === "repack-rows") return rows * layout.rowBytes;
  return 0;
}
