// Scalar reference (f64) of causal grouped-query attention over a KV cache, for the kernel tests.

/**
 * q: [n][heads·hd] at positions pos0 + t; k, v: [len][kvHeads·hd] (len ≥ pos0 + n) as f32 values (an f16
 * cache is given already rounded). Returns [n][heads·hd].
 */
export function attentionRef(
  q: Float32Array,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  n: number,
  pos0: number,
  heads: number,
  kvHeads: number,
  hd: number,
): Float64Array {
  const out = new Float64Array(n * heads * hd);
  const group = heads / kvHeads;
  const kvw = kvHeads * hd;
  const scale = 1 / Math.sqrt(hd);
  for (let t = 0; t < n; t++) {
    const len = pos0 + t + 1;
    for (let h = 0; h < heads; h++) {
      const off = Math.floor(h / group) * hd;
      const s = new Float64Array(len);
      let m = -Infinity;
      for (let j = 0; j < len; j++) {
        let d = 0;
        for (let i = 0; i < hd; i++) d += q[(t * heads + h) * hd + i]! * k[j * kvw + off + i]!;
        s[j] = d * scale;
        m = Math.max(m, s[j]!);
      }
      let z = 0;
      for (let j = 0; j < len; j++) z += s[j] = Math.exp(s[j]! - m);
      for (let j = 0; j < len; j++) {
        for (let i = 0; i < hd; i++) out[(t * heads + h) * hd + i]! += (s[j]! / z) * v[j * kvw + off + i]!;
      }
    }
  }
  return out;
}

/**
 * The values a q8_0 KV cache holds for f32 x, rows of hd elements (assembly/kernels/attention.ts storeRowQ8): per
 * block of 32 of a row (the last one ragged) d = max|x| / 127, codes round-half-even(x · (1/d)) (0 when d = 0),
 * value f32(code · d); a block with ±inf or NaN is all NaN. Also returns the codes and scales as stored.
 */
export function q8KvRef(x: Float32Array, hd: number): { values: Float32Array; codes: Int8Array; scales: Float32Array } {
  const rows = x.length / hd;
  const nb = Math.ceil(hd / 32);
  const values = new Float32Array(x.length);
  const codes = new Int8Array(x.length);
  const scales = new Float32Array(rows * nb);
  const f = Math.fround;
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < nb; b++) {
      const i0 = r * hd + b * 32;
      const i1 = r * hd + Math.min(hd, (b + 1) * 32);
      let amax = 0;
      for (let i = i0; i < i1; i++) amax = Number.isNaN(x[i]!) || Math.abs(x[i]!) > amax ? Math.abs(x[i]!) : amax;
      const d = f(amax / 127);
      const id = d > 0 ? f(1 / d) : 0;
      scales[r * nb + b] = d;
      for (let i = i0; i < i1; i++) {
        const c = roundHalfEven(f(x[i]! * id));
        codes[i] = Number.isNaN(c) ? 0 : Math.min(127, Math.max(-127, c));
        values[i] = f(codes[i]! * d);
      }
    }
  }
  return { values, codes, scales };
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
