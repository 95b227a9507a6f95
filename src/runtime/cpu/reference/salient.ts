// Scalar reference of the salient side matrix's product (assembly/kernels/salient.ts), in the kernel's very order,
// every step rounded to f32: each row's entries padded with zero entries (column 0, value 0) to blocks of 4; per
// (row, token) eight partial sums (entry j of block k to partial 4·(k mod 2) + j), q_j = p_j + p_{j+4},
// s = (q0 + q2) + (q1 + q3);
// then out += scale·s — for every row that has entries (an empty row is left as it is).
import type { SalientMatrixData } from "../../model/salient-file.ts";

/** out[t][r] += S·x[t] for n tokens of x [n][cols]; out is [n][rows] and is added to in place. */
export function salientMatmulRef(s: SalientMatrixData, x: Float32Array, n: number, out: Float32Array): void {
  const f = Math.fround;
  const { rows, cols, rowStart, idx, val, scale } = s;
  for (let r = 0; r < rows; r++) {
    if (rowStart[r] === rowStart[r + 1]) continue;
    const a = rowStart[r]!;
    const len = rowStart[r + 1]! - a;
    const padded = Math.ceil(len / 4) * 4;
    for (let t = 0; t < n; t++) {
      const xt = t * cols;
      const p = [0, 0, 0, 0, 0, 0, 0, 0];
      for (let j = 0; j < padded; j++) {
        const [q, c] = j < len ? [val[a + j]!, idx[a + j]!] : [0, 0];
        p[j & 7] = f(p[j & 7]! + f(q * x[xt + c]!));
      }
      const q = [0, 1, 2, 3].map((j) => f(p[j]! + p[j + 4]!));
      const sum = f(f(q[0]! + q[2]!) + f(q[1]! + q[3]!));
      out[t * rows + r] = f(out[t * rows + r]! + f(scale[r]! * sum));
    }
  }
}
