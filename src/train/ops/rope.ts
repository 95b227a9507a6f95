// Rotary position embedding as ModelConfig describes it: the first `dims` dimensions of every head are
// rotated in pairs — (2i, 2i+1) for "adjacent" (llama.cpp NORM), (i, i + dims/2) for "neox" — by the angle
// pos·freqScale·base^(−2i/dims). Token t of a batch of sequences of seqLen tokens sits at pos = t mod seqLen.
// A rotation's transpose is the rotation by −angle, so the backward is the same loop with sin negated.
import type { RopeConfig } from "../../runtime/model/config.ts";
import type { Vec } from "../tensor.ts";

export interface RopeTable {
  config: RopeConfig;
  seqLen: number;
  /** cos and sin [pos][dims/2], computed in f64 once. */
  cos: Float64Array;
  sin: Float64Array;
}

export function ropeTable(config: RopeConfig, seqLen: number): RopeTable {
  const half = config.dims / 2;
  const cos = new Float64Array(seqLen * half);
  const sin = new Float64Array(seqLen * half);
  for (let p = 0; p < seqLen; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p * config.freqScale * config.base ** ((-2 * i) / config.dims);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { config, seqLen, cos, sin };
}

/** Rotates v [n][heads·headDim] in place; `inverse` rotates back (the backward pass on gradients). */
export function ropeApply(v: Vec, n: number, heads: number, headDim: number, table: RopeTable, inverse = false): void {
  const { dims, layout } = table.config;
  const half = dims / 2;
  const sign = inverse ? -1 : 1;
  for (let t = 0; t < n; t++) {
    const pos = t % table.seqLen;
    for (let h = 0; h < heads; h++) {
      const base = t * heads * headDim + h * headDim;
      for (let i = 0; i < half; i++) {
        const a = layout === "neox" ? base + i : base + 2 * i;
        const b = layout === "neox" ? base + i + half : base + 2 * i + 1;
        const c = table.cos[pos * half + i]!;
        const s = sign * table.sin[pos * half + i]!;
        const x0 = v[a]!;
        const x1 = v[b]!;
        v[a] = x0 * c - x1 * s;
        v[b] = x0 * s + x1 * c;
      }
    }
  }
}
