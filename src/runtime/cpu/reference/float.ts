// Scalar references of the float matmul (f64 accumulation) and of the F16 / Q8_0 dequantization it needs.
import { f16BitsToF32 } from "../../tensor-types/half.ts";

/** Values of an F32 / F16 / Q8_0 matrix (m × k) as f64. */
export function dequantizeRef(type: "F32" | "F16" | "Q8_0", data: Uint8Array, m: number, k: number): Float64Array {
  const out = new Float64Array(m * k);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (type === "F32") for (let i = 0; i < m * k; i++) out[i] = dv.getFloat32(i * 4, true);
  else if (type === "F16") for (let i = 0; i < m * k; i++) out[i] = f16BitsToF32(dv.getUint16(i * 2, true));
  else {
    for (let b = 0; b < (m * k) / 32; b++) {
      const d = f16BitsToF32(dv.getUint16(b * 34, true));
      for (let j = 0; j < 32; j++) out[b * 32 + j] = d * dv.getInt8(b * 34 + 2 + j);
    }
  }
  return out;
}

/** out[t][r] = Σ_i W[r][i]·x[t][i] in f64, and Σ |W·x| (the scale for a relative tolerance). */
export function floatMatmulRef(w: Float64Array, m: number, k: number, x: Float32Array, n: number): { out: Float64Array; mag: Float64Array } {
  const out = new Float64Array(n * m);
  const mag = new Float64Array(n * m);
  for (let t = 0; t < n; t++) {
    for (let r = 0; r < m; r++) {
      let acc = 0;
      let s = 0;
      for (let i = 0; i < k; i++) {
        const p = w[r * k + i]! * x[t * k + i]!;
        acc += p;
        s += Math.abs(p);
      }
      out[t * m + r] = acc;
      mag[t * m + r] = s;
    }
  }
  return { out, mag };
}
