// Scalar references of the activation quantizers (layout.ts). Every f32 operation is rounded with
// Math.fround exactly where the kernel rounds, so the results are bit-identical.
import { paddedK } from "../layout.ts";

const fr = Math.fround;

/** Round half to even (wasm's nearest, llama.cpp's nearest_int). */
export function nearestEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v - Math.trunc(v)) === 0.5 ? 2 * Math.round(v / 2) : r;
}

export interface RefActivations {
  n: number;
  k: number;
  kp: number;
  group: number;
  groups: number;
  /** i8 [n][kp] */
  q: Int8Array;
  d: Float32Array;
  s: Int32Array;
  xs?: Float32Array;
  bsums?: Int16Array;
}

/** llama.cpp's quantize_row_q8_K_ref, per token. */
export function quantizeQ8KRef(x: Float32Array, n: number, k: number): RefActivations {
  const kp = paddedK(k);
  const nb = k / 256;
  const q = new Int8Array(n * kp);
  const d = new Float32Array(n * nb);
  const s = new Int32Array(n * nb);
  const bsums = new Int16Array(n * (k / 16));
  for (let t = 0; t < n; t++) {
    for (let b = 0; b < nb; b++) {
      const x0 = t * k + b * 256;
      let amax = 0;
      let max = 0;
      for (let j = 0; j < 256; j++) {
        const ax = Math.abs(x[x0 + j]!);
        if (ax > amax) {
          amax = ax;
          max = x[x0 + j]!;
        }
      }
      if (!amax) continue;
      const iscale = fr(-127 / max);
      let tot = 0;
      for (let j = 0; j < 256; j++) {
        const v = Math.min(127, nearestEven(fr(iscale * x[x0 + j]!)));
        q[t * kp + b * 256 + j] = v;
        bsums[t * (k / 16) + b * 16 + (j >> 4)]! += v;
        tot += v;
      }
      d[t * nb + b] = fr(1 / iscale);
      s[t * nb + b] = tot;
    }
  }
  return { n, k, kp, group: 256, groups: nb, q, d, s, bsums };
}

/** Symmetric absmax int8 per group of g (g >= k: per token); xs = Σx per group in index order (f32). */
export function quantizeAbsmaxRef(x: Float32Array, n: number, k: number, g: number): RefActivations {
  const kp = paddedK(k);
  const groups = Math.ceil(k / g);
  const q = new Int8Array(n * kp);
  const d = new Float32Array(n * groups);
  const s = new Int32Array(n * groups);
  const xs = new Float32Array(n * groups);
  for (let t = 0; t < n; t++) {
    for (let gi = 0; gi < groups; gi++) {
      const start = gi * g;
      const len = Math.min(g, k - start);
      let amax = 0;
      let sx = 0;
      for (let j = 0; j < len; j++) {
        const v = x[t * k + start + j]!;
        amax = Math.max(amax, Math.abs(v));
        sx = fr(sx + v);
      }
      xs[t * groups + gi] = sx;
      if (!amax) continue;
      const iscale = fr(127 / amax);
      let tot = 0;
      for (let j = 0; j < len; j++) {
        const v = Math.max(-127, Math.min(127, nearestEven(fr(x[t * k + start + j]! * iscale))));
        q[t * kp + start + j] = v;
        tot += v;
      }
      d[t * groups + gi] = fr(amax / 127);
      s[t * groups + gi] = tot;
    }
  }
  return { n, k, kp, group: g, groups, q, d, s, xs };
}
