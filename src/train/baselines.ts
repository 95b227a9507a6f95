// Post-training ternarizations to compare DLT with (docs/ARCHITECTURE.md section 4, "Baselines"). Each rewrites the
// codes, α and γ of a DLT layer in place, so that every row of the experiment runs through the same model,
// export and evaluation code and only the ternarization differs.
//   absmean (BitNet b1.58, per tensor): s = mean|W|, T = clip(round(W/s), −1, 1), Ŵ = s·T.
//   absmax (symmetric, per group, no shift): s_g = max|w| over the group, T = clip(round(w/s_g), −1, 1), Ŵ = s_g·T.
import { dltGroups } from "./dlt.ts";
import type { DltLinear } from "./linear.ts";
import { modelLinears, type TrainModel } from "./model.ts";

export type Baseline = "absmean-tensor" | "absmax-group";

const ternary = (x: number) => Math.max(-1, Math.min(1, Math.round(x)));

export function applyBaseline(l: DltLinear, kind: Baseline): void {
  const w = l.latent.value;
  const { rows, cols, group } = l;
  const G = dltGroups(l);
  l.ternary.gamma.fill(0);
  if (kind === "absmean-tensor") {
    let s = 0;
    for (let i = 0; i < w.length; i++) s += Math.abs(w[i]!);
    const scale = s / w.length;
    for (let i = 0; i < w.length; i++) l.ternary.codes[i] = scale > 0 ? ternary(w[i]! / scale) : 0;
    l.ternary.alpha.fill(scale);
    return;
  }
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < G; g++) {
      const start = r * cols + g * group;
      const end = r * cols + Math.min(cols, (g + 1) * group);
      let amax = 0;
      for (let i = start; i < end; i++) amax = Math.max(amax, Math.abs(w[i]!));
      for (let i = start; i < end; i++) l.ternary.codes[i] = amax > 0 ? ternary(w[i]! / amax) : 0;
      l.ternary.alpha[r * G + g] = amax;
    }
  }
}

/** Applies a baseline to every DLT matrix of a student. */
export function applyBaselineToModel(m: TrainModel, kind: Baseline): void {
  for (const l of modelLinears(m)) if (l.kind === "dlt") applyBaseline(l, kind);
}
