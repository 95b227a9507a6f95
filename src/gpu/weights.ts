// Weight matrices on the GPU. Ternary types become T2 code rows + f32 scales [rows][groups] (I2_S keeps its
// bytes and bit order); float types become word-aligned rows, split into row chunks that fit one binding.
// The host-side repacks are pure functions (tested on their own); upload* put the result in buffers.
//
//   type    codes on the GPU                     scale groups   activations (as the CPU path, layout.ts)
//   TQ2_0   each block's 64 code bytes, d dropped  256, f16 d      Q8_K per 256
//   TQ1_0   base-3 decoded, repacked to T2          256, f16 d      Q8_K per 256 (68/54 of the bytes)
//   I2_S    as stored (its own bit order)          the row, tensor scale   int8 absmax per token
//   DLT     T2 rows as given                       g, α and γ      int8 absmax per group of g, with Σx
import { dltCodesFromTq2_0, packDltCodes } from "../runtime/tensor-types/ternary-codes.ts";
import { i2sScale } from "../runtime/tensor-types/i2_s.ts";
import { GpuError } from "../runtime/errors.ts";
import { f16BitsToF32 } from "../runtime/tensor-types/half.ts";
import { GgmlType, tensorTypeName, tensorTypeTraits } from "../runtime/tensor-types/table.ts";
import type { GpuArena } from "./resources.ts";
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

function wordsOf(data: Uint8Array, bytes: number): Uint32Array {
  if (data.byteOffset % 4 === 0 && bytes % 4 === 0) return new Uint32Array(data.buffer, data.byteOffset, bytes / 4);
  const out = new Uint32Array(Math.ceil(bytes / 4));
  new Uint8Array(out.buffer).set(data.subarray(0, bytes));
  return out;
}

/** A GGUF tensor (ggml type id, `rows` of `cols` values) in its GPU layout. */
export function hostMatrix(type: number, data: Uint8Array, rows: number, cols: number): HostMatrix {
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  switch (type) {
    case GgmlType.F32:
      return { kind: "float", rows, cols, format: "f32", rowWords: cols, words: wordsOf(data, rows * cols * 4) };
    case GgmlType.F16:
    case GgmlType.BF16:
      if (cols % 2) unsupported(`${tensorTypeName(type)} rows of odd length ${cols} are not supported on the GPU`);
      return { kind: "float", rows, cols, format: type === GgmlType.F16 ? "f16" : "bf16", rowWords: cols / 2, words: wordsOf(data, rows * cols * 2) };
    case GgmlType.Q8_0: {
      const blocks = (rows * cols) / 32;
      const words = new Uint32Array((rows * cols) / 4);
      const bytes = new Uint8Array(words.buffer);
      const wscale = new Float32Array(blocks);
      for (let b = 0; b < blocks; b++) {
        wscale[b] = f16BitsToF32(dv.getUint16(b * 34, true));
        bytes.set(data.subarray(b * 34 + 2, b * 34 + 34), b * 32);
      }
      return { kind: "float", rows, cols, format: "q8_0", rowWords: cols / 4, words, wscale };
    }
    case GgmlType.TQ2_0: {
      const nb = cols / 256;
      // a TQ2_0 block's 64 code bytes are two T2 chunks already
      const codes = new Uint32Array(dltCodesFromTq2_0(data, rows, cols).buffer);
      const scales = new Float32Array(rows * nb);
      for (let b = 0; b < rows * nb; b++) scales[b] = f16BitsToF32(dv.getUint16(b * 66 + 64, true));
      return { kind: "ternary", rows, cols, rowWords: nb * 16, codes, scales, i2s: false, act: { mode: "q8k", group: 256, sums: false } };
    }
    case GgmlType.TQ1_0: {
      const nb = cols / 256;
      const trits = tensorTypeTraits(type).ternaryCodes!(data.subarray(0, rows * nb * 54), new Int8Array(rows * cols));
      const codes = new Uint32Array(packDltCodes(Uint8Array.from(trits, (t) => t + 1), rows, cols).buffer);
      const scales = new Float32Array(rows * nb);
      for (let b = 0; b < rows * nb; b++) scales[b] = f16BitsToF32(dv.getUint16(b * 54 + 52, true));
      return { kind: "ternary", rows, cols, rowWords: nb * 16, codes, scales, i2s: false, act: { mode: "q8k", group: 256, sums: false } };
    }
    case GgmlType.I2_S: {
      if (cols % 128) unsupported(`I2_S needs rows that are a multiple of 128, got ${cols}`);
      const numel = rows * cols;
      const scale = i2sScale(data, numel);
      return {
        kind: "ternary",
        rows,
        cols,
        rowWords: cols / 16,
        codes: wordsOf(data, numel / 4),
        scales: new Float32Array(rows).fill(scale),
        i2s: true,
        act: { mode: "absmax", group: cols, sums: false },
      };
    }
    default:
      return unsupported(`tensor type ${tensorTypeName(type)} has no GPU kernel`);
  }
}

/**
 * A DLT matrix: codes as T2 rows (layout.ts packDltCodes: rows of ceil(cols/128)·32 bytes), α and γ f32
 * [rows][ceil(cols/g)].
 */
export function hostDlt(codes: Uint8Array, alpha: Float32Array, gamma: Float32Array, group: number, rows: number, cols: number): TernaryHost {
  if (![64, 128, 256].includes(group)) unsupported(`DLT group size must be 64, 128 or 256, got ${group}`);
  const rowWords = Math.ceil(cols / 128) * 8;
  return {
    kind: "ternary",
    rows,
    cols,
    rowWords,
    codes: wordsOf(codes, rows * rowWords * 4),
    scales: alpha,
    shifts: gamma,
    i2s: false,
    act: { mode: "absmax", group, sums: true },
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
    const chunk: FloatChunk = { rowBase: r0, rows: r1 - r0, w: arena.upload(`${label} rows ${r0}+`, m.words.subarray(r0 * m.rowWords, r1 * m.rowWords)) };
    if (m.wscale) chunk.wscale = arena.upload(`${label} scales ${r0}+`, m.wscale.subarray(r0 * sPerRow, r1 * sPerRow));
    chunks.push(chunk);
  }
  return { kind: "float", rows: m.rows, cols: m.cols, format: m.format, rowWords: m.rowWords, chunks };
}

