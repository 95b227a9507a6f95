// Token embedding lookup: row `token` of token_embd, decoded to f32, from the matrix as the kernels hold it
// in wasm memory (layout.ts), whatever its type. One row per token, so plain JS is fast enough.
import { OptionError, TensorTypeError } from "../errors.ts";
import { f16BitsToF32 } from "../tensor-types/half.ts";
import type { CpuKernels, Matrix } from "./kernels.ts";
import { quadByteOffset } from "./layout.ts";

/** Writes the embeddings of `tokens` as f32 [n][cols] at address `out`. */
export function embed(K: CpuKernels, m: Matrix, tokens: ArrayLike<number>, out: number): void {
  for (let t = 0; t < tokens.length; t++) {
    const id = tokens[t]!;
    if (!Number.isInteger(id) || id < 0 || id >= m.rows) {
      throw new OptionError("BAD_TOKEN", `token id ${id} is outside the vocabulary (0 … ${m.rows - 1})`);
    }
    embeddingRow(K, m, id, out + t * m.cols * 4);
  }
}

/** Row r of m as f32 at address `out`. */
export function embeddingRow(K: CpuKernels, m: Matrix, r: number, out: number): void {
  const h = K.heap;
  const k = m.cols;
  const f32 = h.f32;
  const o = out >> 2;
  const row = m.ptr + r * m.layout.rowBytes;
  switch (m.type) {
    case "F32":
      f32.copyWithin(o, row >> 2, (row >> 2) + k);
      return;
    case "F16": {
      const u16 = h.u16;
      for (let i = 0; i < k; i++) f32[o + i] = f16BitsToF32(u16[(row >> 1) + i]!);
      return;
    }
    case "Q8_0": {
      const u8 = h.u8;
      const i8 = h.i8;
      for (let b = 0; b < k / 32; b++) {
        const at = row + b * 34;
        const d = f16BitsToF32(u8[at]! | (u8[at + 1]! << 8));
        for (let j = 0; j < 32; j++) f32[o + b * 32 + j] = i8[at + 2 + j]! * d;
      }
      return;
    }
    case "TQ1_0":
    case "TQ2_0":
    case "I2_S": {
      // 2-bit code rows: element e at byte B = 32·(e/128) + e%32 of the row, bits 2·((e%128)/32) (I2_S: from the
      // top), stored in row quads, 4 bytes of each row in turn (layout.ts).
      const u8 = h.u8;
      const i2s = m.type === "I2_S";
      for (let e = 0; e < k; e++) {
        const l = (e & 127) >> 5;
        const B = 32 * (e >> 7) + (e & 31);
        const byte = u8[m.ptr + quadByteOffset(m.layout.rowBytes, r, B)]!;
        const code = (byte >> (i2s ? 6 - 2 * l : 2 * l)) & 3;
        const d = i2s ? m.scale : f32[(m.scales >> 2) + (e >> 8) * m.rows + r]!;
        f32[o + e] = (code - 1) * d;
      }
      return;
    }
    default:
      throw new TensorTypeError("UNSUPPORTED_TENSOR_TYPE", `no embedding lookup for ${m.type} matrices`);
  }
}
