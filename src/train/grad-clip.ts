// Global-norm gradient clipping: when ‖g‖₂ over all trainable parameters exceeds maxNorm, every gradient
// is scaled by maxNorm/‖g‖, which keeps the update's direction. The sum runs in f64 in parameter order.
import type { Param } from "./params.ts";

/** Returns the norm before clipping. maxNorm ≤ 0 or Infinity only measures. */
export function clipGradNorm(params: readonly Param[], maxNorm: number): number {
  let ss = 0;
  for (const p of params) {
    if (!p.trainable) continue;
    const g = p.grad;
    for (let i = 0; i < g.length; i++) ss += g[i]! * g[i]!;
  }
  const norm = Math.sqrt(ss);
  if (maxNorm > 0 && Number.isFinite(maxNorm) && norm > maxNorm) {
    const f = maxNorm / norm;
    for (const p of params) {
      if (!p.trainable) continue;
      const g = p.grad;
      for (let i = 0; i < g.length; i++) g[i] = g[i]! * f;
    }
  }
  return norm;
}
