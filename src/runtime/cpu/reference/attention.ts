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
