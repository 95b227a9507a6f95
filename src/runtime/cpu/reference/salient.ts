// Scalar reference of the salient side matrix's product (assembly/kernels/salient.ts), in the kernel's very order,
// every step rounded to f32: per (row, token) two partial sums from +0, entry e of the row to partial e mod 2
// (p_e = val·x in f32), s = sum0 + sum1, then out += scale·s — for every row that has entries (an empty row is left
// as it is). The kernel's padding (column 0, value 0, past a row's end in its tile) adds 0·x[0], which changes no
// sum while x[0] is finite; with x[0] = ±inf or NaN it makes the padded rows NaN, which this reference does not model.
import type { SalientMatrixData } from "../../model/salient-file.ts";

/** out[t][r] += S·x[t] for n tokens of x [n][cols]; out is [n][rows] and is added to in place. */
export function salientMatmulRef(s: SalientMatrixData, x: Float32Array, n: number, out: Float32Array): void {
  const f = Math.fround;
  const { rows, cols, rowStart, idx, val, scale } = s;
  for (let r = 0; r < rows; r++) {
    const a = rowStart[r]!;
    const b = rowStart[r + 1]!;
    if (a === b) continue;
    for (let t = 0; t < n; t++) {
      const xt = t * cols;
      const p = [0, 0];
      for (let e = a; e < b; e++) p[(e - a) & 1] = f(p[(e - a) & 1]! + f(val[e]! * x[xt + idx[e]!]!));
      out[t * rows + r] = f(out[t * rows + r]! + f(scale[r]! * f(p[0]! + p[1]!)));
    }
  }
}
