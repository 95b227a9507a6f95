// DLT (Dual Learnable Ternarization, TernaryLLM): a weight matrix [rows][cols] is cut into groups of g
// consecutive weights of one row (the last group of a row is shorter when g does not divide cols), and each
// group is represented as Ŵ = α·T + γ with codes T ∈ {−1, 0, +1}, a scale α and a shift γ per group.
// α and γ are stored [rows][G] (G = ceil(cols/g)), the order the DLT GGUF tensors use (cpu/layout.ts).
// Arithmetic is done in JS numbers (f64) and stored in the output precision, so init is exact and portable.
import { type Precision, type Vec, alloc } from "./tensor.ts";

export const DLT_GROUPS: readonly number[] = [64, 128, 256];

export interface DltShape {
  rows: number;
  cols: number;
  group: number;
}

export interface DltTernary {
  /** −1, 0, +1 per weight, row-major [rows][cols]. */
  codes: Int8Array;
  /** α per group, [rows][G]. */
  alpha: Vec;
  /** γ per group, [rows][G]. */
  gamma: Vec;
}

export function dltGroups(s: DltShape): number {
  return Math.ceil(s.cols / s.group);
}

export function checkDltShape(s: DltShape): void {
  if (!DLT_GROUPS.includes(s.group)) throw new RangeError(`DLT group size must be 64, 128 or 256, got ${s.group}`);
  if (!Number.isInteger(s.rows) || !Number.isInteger(s.cols) || s.rows < 1 || s.cols < 1) {
    throw new RangeError(`bad DLT shape ${s.rows}×${s.cols}`);
  }
}

/**
 * docs/ARCHITECTURE.md section 4 init, per group: γ = mean(w); Δ = 0.7·mean|w − γ|; T = sign(w − γ)·[|w − γ| > Δ];
 * α = mean|w − γ| over T ≠ 0 (0 when the group is constant). With `refine`, α and γ are then replaced by
 * the least-squares fit of w ≈ α·T + γ for those T (when it is well-posed and keeps α > 0): it never
 * increases the group's squared error, so it is a free improvement before any training.
 * `exclude` (1 = excluded, [rows][cols]): PB-LLM's salient weights, kept outside the ternary groups — they take
 * no part in γ, Δ, α or the refinement, and their code is the middle one (0).
 */
export function dltInit(w: ArrayLike<number>, s: DltShape, precision: Precision, refine = false, exclude?: Uint8Array): DltTernary {
  checkDltShape(s);
  const { rows, cols, group } = s;
  if (w.length !== rows * cols) throw new RangeError(`DLT init: ${w.length} weights for ${rows}×${cols}`);
  const G = dltGroups(s);
  const codes = new Int8Array(rows * cols);
  const alpha = alloc(precision, rows * G);
  const gamma = alloc(precision, rows * G);
  for (let r = 0; r < rows; r++) {
    for (let gi = 0; gi < G; gi++) {
      const start = r * cols + gi * group;
      const len = Math.min(group, cols - gi * group);
      const kept = (e: number) => !exclude || exclude[start + e] === 0;
      let sum = 0;
      let count = 0;
      for (let e = 0; e < len; e++) if (kept(e)) (sum += w[start + e]!), count++;
      const mean = count > 0 ? sum / count : 0;
      let absDev = 0;
      for (let e = 0; e < len; e++) if (kept(e)) absDev += Math.abs(w[start + e]! - mean);
      const delta = count > 0 ? (0.7 * absDev) / count : 0;
      let nonzero = 0;
      let nonzeroAbs = 0;
      for (let e = 0; e < len; e++) {
        if (!kept(e)) continue;
        const d = w[start + e]! - mean;
        const t = d > delta ? 1 : d < -delta ? -1 : 0;
        codes[start + e] = t;
        if (t !== 0) {
          nonzero++;
          nonzeroAbs += Math.abs(d);
        }
      }
      let a = nonzero > 0 ? nonzeroAbs / nonzero : 0;
      let g = mean;
      if (refine) [a, g] = leastSquares(w, codes, start, len, a, g, exclude);
      alpha[r * G + gi] = a;
      gamma[r * G + gi] = g;
    }
  }
  return { codes, alpha, gamma };
}

/** argmin over (α, γ) of Σ (w − α·T − γ)² for fixed T; keeps (a, g) when T is constant or the fit flips α's sign. */
function leastSquares(
  w: ArrayLike<number>,
  codes: Int8Array,
  start: number,
  len: number,
  a: number,
  g: number,
  exclude?: Uint8Array,
): [number, number] {
  let n = 0;
  let st = 0;
  let stt = 0;
  let sw = 0;
  let swt = 0;
  for (let e = 0; e < len; e++) {
    if (exclude && exclude[start + e] !== 0) continue;
    const t = codes[start + e]!;
    const x = w[start + e]!;
    n++;
    st += t;
    stt += t * t;
    sw += x;
    swt += x * t;
  }
  const det = n * stt - st * st; // an integer: exactly 0 when all codes are equal
  if (det <= 0) return [a, g];
  const alpha = (n * swt - st * sw) / det;
  if (!(alpha > 0)) return [a, g];
  return [alpha, (stt * sw - st * swt) / det];
}

/** Ŵ = α·T + γ into `out` [rows][cols]. */
export function dltDequantize(t: DltTernary, s: DltShape, out: Vec): void {
  const { rows, cols, group } = s;
  const G = dltGroups(s);
  for (let r = 0; r < rows; r++) {
    for (let e = 0; e < cols; e++) {
      const gi = r * G + ((e / group) | 0);
      out[r * cols + e] = t.alpha[gi]! * t.codes[r * cols + e]! + t.gamma[gi]!;
    }
  }
}

/**
 * Full mode: the codes follow the latent weights, T = clip(round((w − γ)/α), −1, 1). A group with α ≤ 0 (a
 * constant group, or a scale trained through zero) has no meaningful code: all 0, Ŵ = γ. Excluded (salient)
 * positions keep the middle code 0.
 */
export function dltRecode(latent: ArrayLike<number>, t: DltTernary, s: DltShape, exclude?: Uint8Array): void {
  const { rows, cols, group } = s;
  const G = dltGroups(s);
  for (let r = 0; r < rows; r++) {
    for (let e = 0; e < cols; e++) {
      const gi = r * G + ((e / group) | 0);
      const a = t.alpha[gi]!;
      const i = r * cols + e;
      if (!(a > 0) || (exclude && exclude[i] !== 0)) {
        t.codes[i] = 0;
        continue;
      }
      const q = Math.round((latent[i]! - t.gamma[gi]!) / a);
      t.codes[i] = q > 1 ? 1 : q < -1 ? -1 : q;
    }
  }
}
