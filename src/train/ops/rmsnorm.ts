// RMSNorm with gains, per token: y = x·r·w with r = 1/sqrt(mean(x²) + eps).
// Backward: with s = Σ_i dy_i·w_i·x_i, dx_j = r·w_j·dy_j − x_j·r³·s/d and dw_i += dy_i·x_i·r.
import { type Vec, alloc, precisionOf } from "../tensor.ts";

export interface RmsNormCache {
  /** r per token, kept in f64 (it is per token, cheap, and needed exactly by the backward). */
  rstd: Float64Array;
}

export function rmsNormForward(x: Vec, w: Vec, n: number, d: number, eps: number): { y: Vec; cache: RmsNormCache } {
  const y = alloc(precisionOf(x), n * d);
  const rstd = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    const o = t * d;
    let ss = 0;
    for (let i = 0; i < d; i++) ss += x[o + i]! * x[o + i]!;
    const r = 1 / Math.sqrt(ss / d + eps);
    rstd[t] = r;
    for (let i = 0; i < d; i++) y[o + i] = x[o + i]! * r * w[i]!;
  }
  return { y, cache: { rstd } };
}

/** dx += ∂L/∂x; dw += ∂L/∂w when given (a frozen gain passes null). */
export function rmsNormBackward(dy: Vec, x: Vec, w: Vec, cache: RmsNormCache, n: number, d: number, dx: Vec, dw: Vec | null): void {
  for (let t = 0; t < n; t++) {
    const o = t * d;
    const r = cache.rstd[t]!;
    let s = 0;
    for (let i = 0; i < d; i++) s += dy[o + i]! * w[i]! * x[o + i]!;
    const c = (r * r * r * s) / d;
    for (let i = 0; i < d; i++) dx[o + i]! += r * w[i]! * dy[o + i]! - x[o + i]! * c;
    if (dw) for (let i = 0; i < d; i++) dw[i]! += dy[o + i]! * x[o + i]! * r;
  }
}
