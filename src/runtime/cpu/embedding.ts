// Token embedding lookup: row `token` of token_embd, decoded to f32 from the matrix as the kernels hold it in
// wasm memory (layout.ts), by the reader its type's row in the matrix-type table names (./matrix-types.ts).
import { OptionError } from "../errors.ts";
import type { CpuKernels, Matrix } from "./kernels.ts";
import { CPU_MATRIX_TYPES } from "./matrix-types.ts";

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
  CPU_MATRIX_TYPES[m.type].embeddingRow(K.heap, m, r, out);
}
