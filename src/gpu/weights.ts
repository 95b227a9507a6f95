// Weight matrices on the GPU. Ternary types become T2 code rows + f32 scales [rows][groups] (I2_S keeps its
// bytes and bit order); float types become word-aligned rows, split into row chunks that fit one binding. How
// each type converts, and which shader runs it, is its row in the GPU matrix-type table (./matrix-types.ts); the
// host-side conversions are pure functions (tested on their own); upload* put the result in buffers.
import { GpuError } from "../runtime/errors.ts";
import { GPU_MATRIX_TYPES, gpuMatrixType, wordsOf } from "./matrix-types.ts";
import type { GpuArena } from "./resources.ts";
import type { GpuSalient } from "./salient.ts";
import type { FloatFormat } from "./wgsl/float-formats.ts";
import type { QuantMode } from "./wgsl/quantize.ts";

/** How a ternary matrix wants its input quantized. */
export interface ActivationQuant {
  mode: QuantMode;
  /** Values per group (256, the row length, or the DLT group). */
  group: number;
  /** Σx per group is needed (DLT shifts). */
  sums: boolean;
}

export interface TernaryHost {
  kind: "ternary";
  rows: number;
  cols: number;
  /** u32 words per row: ceil(cols/128)·8. */
  rowWords: number;
  codes: Uint32Array;
  /** f32 [rows][groups]. */
  scales: Float32Array;
  shifts?: Float32Array;
  i2s: boolean;
  act: ActivationQuant;
}

export interface FloatHost {
  kind: "float";
  rows: number;
  cols: number;
  format: FloatFormat;
  rowWords: number;
  words: Uint32Array;
  /** Q8_0: f32 [rows][cols/32]. */
  wscale?: Float32Array;
}

export type HostMatrix = TernaryHost | FloatHost;

const unsupported = (msg: string): never => {
  throw new GpuError("UNSUPPORTED_TENSOR", msg);
};

/** A GGUF tensor (ggml type id, `rows` of `cols` values) in its GPU layout. */
export function hostMatrix(type: number, data: Uint8Array, rows: number, cols: number): HostMatrix {
  const row = gpuMatrixType(type);
  return row.toHost ? row.toHost(data, rows, cols) : unsupported(`a ${type} tensor needs its parts (hostDlt)`);
}

/**
 * A DLT matrix: codes as T2 rows (ternary-codes.ts packDltCodes: rows of ceil(cols/128)·32 bytes), α and γ f32
 * [rows][ceil(cols/g)].
 */
export function hostDlt(codes: Uint8Array, alpha: Float32Array, gamma: Float32Array, group: number, rows: number, cols: number): TernaryHost {
  const { shader, groupSizes = [] } = GPU_MATRIX_TYPES.DLT;
  if (shader.kind !== "ternary") return unsupported("DLT has no ternary shader in the GPU matrix-type table");
  if (!groupSizes.includes(group)) unsupported(`DLT group size must be ${groupSizes.slice(0, -1).join(", ")} or ${groupSizes.at(-1)}, got ${group}`);
  const rowWords = Math.ceil(cols / 128) * 8;
  return {
    kind: "ternary",
    rows,
    cols,
    rowWords,
    codes: wordsOf(codes, rows * rowWords * 4),
    scales: alpha,
    shifts: gamma,
    i2s: shader.fieldOrder === "i2s",
    act: shader.activation(cols, group),
  };
}

// ---- on the GPU ----

export interface GpuTernary {
  kind: "ternary";
  rows: number;
  cols: number;
  rowWords: number;
  i2s: boolean;
  act: ActivationQuant;
  codes: GPUBuffer;
  scales: GPUBuffer;
  shifts?: GPUBuffer;
  /** A salient side matrix whose product S·x is added to this matrix's (./salient.ts). */
  salient?: GpuSalient;
}

export interface FloatChunk {
  rowBase: number;
  rows: number;
  w: GPUBuffer;
  wscale?: GPUBuffer;
}

export interface GpuFloat {
  kind: "float";
  rows: number;
  cols: number;
  format: FloatFormat;
  rowWords: number;
  chunks: FloatChunk[];
}

export type GpuMatrix = GpuTernary | GpuFloat;

/**
 * Uploads a matrix. Float matrices are split into chunks of at most `maxChunkBytes` (default: the
 * device's largest binding) so that a 128k-vocabulary embedding fits.
 */
export function uploadMatrix(arena: GpuArena, label: string, m: HostMatrix, maxChunkBytes = arena.ctx.maxBindingBytes): GpuMatrix {
  if (m.kind === "ternary") {
    const out: GpuTernary = {
      kind: "ternary",
      rows: m.rows,
      cols: m.cols,
      rowWords: m.rowWords,
      i2s: m.i2s,
      act: m.act,
      codes: arena.upload(`${label} codes`, m.codes),
      scales: arena.upload(`${label} scales`, m.scales),
    };
    if (m.shifts) out.shifts = arena.upload(`${label} shifts`, m.shifts);
    return out;
  }
  const rowBytes = m.rowWords * 4;
  const perChunk = Math.max(1, Math.floor(maxChunkBytes / rowBytes));
  const chunks: FloatChunk[] = [];
  const sPerRow = m.cols / 32;
  for (let r0 = 0; r0 < m.rows; r0 += perChunk) {
    const r1 = Math.min(m.rows, r0 + perChunk);
    const chunk: FloatChunk = {
      rowBase: r0,
      rows: r1 - r0,
      w: arena.upload(`${label} rows ${r0}+`, m.words.subarray(r0 * m.rowWords, r1 * m.rowWords)),
    };
    if (m.wscale) chunk.wscale = arena.upload(`${label} scales ${r0}+`, m.wscale.subarray(r0 * sPerRow, r1 * sPerRow));
    chunks.push(chunk);
  }
  return { kind: "float", rows: m.rows, cols: m.cols, format: m.format, rowWords: m.rowWords, chunks };
}
