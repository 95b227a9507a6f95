// Scalar references of the ternary matmuls: exact integer dot products per group, then the kernels' f32
// operations in the kernels' order, so results are bit-identical (layout.ts describes the formats).
import type { RefActivations } from "./quant.ts";

const fr = Math.fround;

/** Σ over [e0, e1) of code·q for row r of codes (m × k, values 0/1/2) and token t. */
function dotCodes(codes: Uint8Array, k: number, r: number, a: RefActivations, t: number, e0: number, e1: number): number {
  let acc = 0;
  const c0 = r * k;
  const q0 = t * a.kp;
  for (let e = e0; e < e1; e++) acc += codes[c0 + e]! * a.q[q0 + e]!;
  return acc;
}

/**
 * TQ2_0 / TQ1_0 with Q8_K activations (llama.cpp's ggml_vec_dot_tq2_0_q8_K): per block
 * sumf += (float)(Σ (code − 1)·q) · (d_w · d_a). d: the block scales (f16 values) [m][k/256]. Out: [n][m].
 */
export function tqMatmulRef(codes: Uint8Array, d: Float32Array, m: number, k: number, a: RefActivations): Float32Array {
  const nb = k / 256;
  const out = new Float32Array(a.n * m);
  for (let t = 0; t < a.n; t++) {
    for (let r = 0; r < m; r++) {
      let acc = 0;
      for (let b = 0; b < nb; b++) {
        const S = dotCodes(codes, k, r, a, t, b * 256, b * 256 + 256) - a.s[t * nb + b]!;
        acc = fr(acc + fr(S * fr(d[r * nb + b]! * a.d[t * nb + b]!)));
      }
      out[t * m + r] = acc;
    }
  }
  return out;
}

/** I2_S with per-token int8 activations: y = (float)(Σ (code − 1)·q) · (d_a · scale). */
export function i2sMatmulRef(codes: Uint8Array, scale: number, m: number, k: number, a: RefActivations): Float32Array {
  const out = new Float32Array(a.n * m);
  for (let t = 0; t < a.n; t++) {
    const ds = fr(a.d[t]! * fr(scale));
    for (let r = 0; r < m; r++) out[t * m + r] = fr((dotCodes(codes, k, r, a, t, 0, k) - a.s[t]!) * ds);
  }
  return out;
}

/**
 * DLT: y_r = Σ_g α_rg·d_g·(Σ (code − 1)·q)_g + γ_rg·Σx_g, accumulated per group in f32 as the kernel does.
 * alpha, gamma: f32 values (of the f16s) [m][groups].
 */
export function dltMatmulRef(
  codes: Uint8Array,
  alpha: Float32Array,
  gamma: Float32Array,
  g: number,
  m: number,
  k: number,
  a: RefActivations,
): Float32Array {
  const groups = Math.ceil(k / g);
  const out = new Float32Array(a.n * m);
  for (let t = 0; t < a.n; t++) {
    for (let r = 0; r < m; r++) {
      let acc = 0;
      for (let gi = 0; gi < groups; gi++) {
        const S = dotCodes(codes, k, r, a, t, gi * g, Math.min(k, gi * g + g)) - a.s[t * groups + gi]!;
        acc = fr(acc + fr(S * fr(alpha[r * groups + gi]! * a.d[t * groups + gi]!)));
        acc = fr(acc + fr(gamma[r * groups + gi]! * a.xs![t * groups + gi]!));
      }
      out[t * m + r] = acc;
    }
  }
  return out;
}

/** The exact real-valued result Σ (code − 1)·scale·x in f64 (to judge quantization error, not kernels). */
export function ternaryExact(
  codes: Uint8Array,
  scaleOf: (r: number, e: number) => number,
  shiftOf: (r: number, e: number) => number,
  m: number,
  k: number,
  x: Float32Array,
  n: number,
): Float64Array {
  const out = new Float64Array(n * m);
  for (let t = 0; t < n; t++) {
    for (let r = 0; r < m; r++) {
      let acc = 0;
      for (let e = 0; e < k; e++) acc += ((codes[r * k + e]! - 1) * scaleOf(r, e) + shiftOf(r, e)) * x[t * k + e]!;
      out[t * m + r] = acc;
    }
  }
  return out;
}
