// Straight-through-estimator gradients of Ŵ = α·T + γ (docs/ARCHITECTURE.md section 4). With g = ∂L/∂Ŵ:
//   ∂L/∂α = Σ_group g·T, ∂L/∂γ = Σ_group g   (exact for fixed codes: Ŵ is linear in α and γ)
//   ∂L/∂w = g·1[|w − γ| ≤ 1.5·α]             (latent weights, full mode: rounding passes the gradient,
//                                              the clip at ±1 — i.e. beyond 1.5·α — stops it)
// Results are accumulated (+=) so that several backward passes can share the buffers.
import type { DltShape, DltTernary } from "./dlt.ts";
import { dltGroups } from "./dlt.ts";
import type { Vec } from "./tensor.ts";

export interface SteGrads {
  alpha?: Vec;
  gamma?: Vec;
  /** Needs `latent`. */
  latent?: Vec;
}

export function steBackward(gradW: Vec, t: DltTernary, s: DltShape, out: SteGrads, latent?: ArrayLike<number>): void {
  const { rows, cols, group } = s;
  const G = dltGroups(s);
  if (out.latent && !latent) throw new Error("steBackward: latent gradients need the latent weights");
  for (let r = 0; r < rows; r++) {
    for (let gi = 0; gi < G; gi++) {
      const start = r * cols + gi * group;
      const len = Math.min(group, cols - gi * group);
      let ga = 0;
      let gg = 0;
      for (let e = 0; e < len; e++) {
        const g = gradW[start + e]!;
        ga += g * t.codes[start + e]!;
        gg += g;
      }
      if (out.alpha) out.alpha[r * G + gi]! += ga;
      if (out.gamma) out.gamma[r * G + gi]! += gg;
      if (out.latent) {
        const limit = 1.5 * t.alpha[r * G + gi]!;
        const shift = t.gamma[r * G + gi]!;
        for (let e = 0; e < len; e++) {
          if (Math.abs(latent![start + e]! - shift) <= limit) out.latent[start + e]! += gradW[start + e]!;
        }
      }
    }
  }
}
