// Scalar reference of the salient side matrix's product (assembly/kernels/salient.ts), in the kernel's very order:
// per (row, token), four f32 partial sums over the row's first 4·⌊len/4⌋ entries (entry j to partial j mod 4),
// s = (p0 + p1) + (p2 + p3), the remaining entries added one by one, then out += scale·s; every step rounded to f32.
import type { SalientMatrixData } from "../../model/salient-file.ts";

/** out[t][r] += S·x[t] for n tokens of x [n][cols]; out is [n][rows] and is added to in place. */
export function salientMatmulRef(s: SalientMatrixData, x: Float32Array, n: number, out: Float32Array): void {
  const f = Math.fround;
  const { rows, cols, rowStart, idx, val, scale } = s;
  for (let r = 0; r < rows; r++) {
    const a = rowStart[r]!;
    const b = rowStart[r + 1]!;
    if (a === b) continue;
    const b4 = a + ((b - a) & ~3);
    for (let t = 0; t < n; t++) {
      const xt = t * cols;
      const p = [0, 0, 0, 0];
      for (let e = a; e < b4; e++) p[(e - a) & 3] = f(p[(e - a) & 3]! + f(val[e]! * x[xt + idx[e]!]!));
      let sum = f(f(p[0]! + p[1]!) + f(p[2]! + p[3]!));
      for (let e = b4; e < b; e++) sum = f(sum + f(val[e]! * x[xt + idx[e]!]!));
      out[t * rows + r] = f(out[t * rows + r]! + f(scale[r]! * sum));
    }
  }
}
