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

/**
 * out[t][r] in f32, with the very operations and order of assembly/kernels/float.ts (every product rounded, then
 * every sum; nothing fused), so that both wasm builds must equal it bit for bit:
 * F32: lane j of A sums the elements i ≡ j (mod 8) of the first k & ~7, then (k & 4) the element (k & ~7) + j;
 * lane j of B the elements i ≡ 4 + j (mod 8); then ((v0 + v2) + (v1 + v3)) of v = A + B and the scalar tail k & 3.
 * F16: as F32 with B's elements added into A after A's (B stays 0). Q8_0: per block of 32, lane j sums the 8
 * products of elements j, 4 + j, … 28 + j (code × x), then adds that sum × d; ((a0 + a2) + (a1 + a3)) at the end.
 */
export function floatMatmulKernelOrderRef(
  type: "F32" | "F16" | "Q8_0",
  data: Uint8Array,
  m: number,
  k: number,
  x: Float32Array,
  n: number,
): Float32Array {
  const f = Math.fround;
  const w = dequantizeRef(type, data, m, k); // exact: every weight (and Q8_0's code) is an f32
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const out = new Float32Array(n * m);
  const hsum = (v: number[]) => f(f(v[0]! + v[2]!) + f(v[1]! + v[3]!));
  for (let t = 0; t < n; t++) {
    const xt = (i: number) => x[t * k + i]!;
    for (let r = 0; r < m; r++) {
      let s: number;
      if (type === "Q8_0") {
        const a = [0, 0, 0, 0];
        for (let b = 0; b < k / 32; b++) {
          const blk = (r * k) / 32 + b;
          const d = f16BitsToF32(dv.getUint16(blk * 34, true));
          for (let j = 0; j < 4; j++) {
            const product = (c: number) => f(dv.getInt8(blk * 34 + 2 + 4 * c + j) * xt(32 * b + 4 * c + j));
            let p = product(0);
            for (let c = 1; c < 8; c++) p = f(p + product(c));
            a[j] = f(a[j]! + f(p * d));
          }
        }
        s = hsum(a);
      } else {
        const wr = (i: number) => w[r * k + i]!;
        const A = [0, 0, 0, 0];
        const B = [0, 0, 0, 0];
        const k8 = k & ~7;
        for (let i = 0; i < k8; i += 8) {
          for (let j = 0; j < 4; j++) A[j] = f(A[j]! + f(wr(i + j) * xt(i + j)));
          const into = type === "F32" ? B : A;
          for (let j = 0; j < 4; j++) into[j] = f(into[j]! + f(wr(i + 4 + j) * xt(i + 4 + j)));
        }
        if (k & 4) for (let j = 0; j < 4; j++) A[j] = f(A[j]! + f(wr(k8 + j) * xt(k8 + j)));
        s = hsum(A.map((v, j) => f(v + B[j]!)));
        for (let i = k & ~3; i < k; i++) s = f(s + f(wr(i) * xt(i)));
      }
      out[t * m + r] = s;
    }
  }
  return out;
}
