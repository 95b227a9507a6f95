// Absmean ternarization with PB-LLM's salient weights kept aside and, optionally, GPTQ's error compensation.
//
// - Salient weights are chosen element-wise, the top fraction of the matrix by a score: |w| ("magnitude") or
//   PB-LLM's Hessian criterion w² / [H⁻¹]_jj² ("hessian", H from calibration inputs, hessian.ts). They are
//   chosen once, from the float weights, before any column is quantized.
// - The scale is BitNet's absmean, α = mean|w| over the non-salient weights of a scale group (the whole tensor,
//   or `group` consecutive values of a row for the grouped layout), so the kept outliers do not inflate it. A
//   weight's code is T = round(clip(w/α, −1, 1)); a salient weight's code is the middle one (T = 0) and the side
//   matrix keeps its value (salient-matrix.ts): Ŵ = α·T + S.
// - GPTQ: columns are quantized in order; each column's error (w − q)/U_jj is pushed onto the columns not yet
//   quantized through the Cholesky form U of H⁻¹ (U_j,c), a block of columns at a time with one lazy update of
//   the rest per block. A salient weight is "quantized" to itself, so its column pushes no error from it, and
//   it takes in the errors of the columns before it: the side matrix stores its compensated value.
import { ModelError, OptionError } from "../errors.ts";
import type { PreparedHessian } from "./hessian.ts";
import { type SalientMatrix, addSalientToDense, checkSalientColumns, salientCount, salientMatrixFromDense } from "./salient-matrix.ts";

export type SalientMetric = "magnitude" | "hessian";
export const SALIENT_METRICS: readonly SalientMetric[] = ["magnitude", "hessian"];

/**
 * The largest salient fraction accepted: at 1/4 the side matrix alone costs 6 bits a weight (24 bits an entry),
 * and with the ternary codes the matrix is as large as 8-bit weights, where keeping all weights in int8 is the
 * better file.
 */
export const MAX_SALIENT_FRACTION = 0.25;

/** GPTQ's block of columns between lazy updates of the remaining columns. */
export const GPTQ_BLOCK = 128;

export interface SalientTernarizeOptions {
  /** Scale groups: one absmean for the whole tensor, or one per `group` consecutive values of a row. */
  group: number | "tensor";
  /** Fraction of the matrix kept in the side matrix; 0 for none. */
  salientFraction?: number;
  salientMetric?: SalientMetric;
  /** The layer's damped Hessian, prepared (hessian.ts): needed for the hessian metric and for GPTQ. */
  hessian?: PreparedHessian;
  gptq?: boolean;
  /** For messages: the matrix's name. */
  name?: string;
}

export interface SalientTernary {
  rows: number;
  cols: number;
  /** −1/0/+1, rows × cols; 0 at every salient position. */
  codes: Int8Array;
  /** α per scale group, rows × groupsPerRow (the same value everywhere for a per-tensor scale). */
  alpha: Float32Array;
  group: number;
  groupsPerRow: number;
  /** The kept weights; null when the salient fraction is 0. */
  salient: SalientMatrix | null;
}

/** Checks a salient fraction: a number in [0, MAX_SALIENT_FRACTION]. */
export function checkSalientFraction(fraction: number, what = "salient fraction"): void {
  if (!(Number.isFinite(fraction) && fraction >= 0 && fraction <= MAX_SALIENT_FRACTION)) {
    throw new OptionError("BAD_OPTION_VALUE", `${what} ${fraction} must be a number in [0, ${MAX_SALIENT_FRACTION}]`);
  }
}

/** Ternarizes `w` (rows × cols row-major, [out][in]) as the options say; `w` is not changed. */
export function salientTernarize(w: ArrayLike<number>, rows: number, cols: number, o: SalientTernarizeOptions): SalientTernary {
  const name = o.name ?? "matrix";
  const fraction = o.salientFraction ?? 0;
  checkSalientFraction(fraction);
  const metric = o.salientMetric ?? "magnitude";
  if (fraction > 0) checkSalientColumns(name, cols);
  if ((o.gptq || (fraction > 0 && metric === "hessian")) && !o.hessian) {
    throw new OptionError("MISSING_CALIBRATION", `${name}: ${o.gptq ? "GPTQ" : "the hessian salient metric"} needs calibration data (a Hessian)`);
  }
  if (o.hessian && o.hessian.k !== cols) throw new ModelError("BAD_HESSIAN", `${name}: a Hessian for ${o.hessian.k} inputs, the matrix has ${cols}`);

  const count = salientCount(rows, cols, fraction);
  const mask = count > 0 ? chooseSalient(w, rows, cols, count, metric, o.hessian) : new Uint8Array(rows * cols);
  const group = o.group === "tensor" ? cols : o.group;
  const groupsPerRow = Math.ceil(cols / group);
  const alpha = absmeanScales(w, mask, rows, cols, o.group);
  const work = Float64Array.from(w as ArrayLike<number>);
  const codes = new Int8Array(rows * cols);
  const scaleAt = (r: number, c: number) => alpha[r * groupsPerRow + Math.floor(c / group)]!;
  if (o.gptq) gptqQuantize(work, codes, mask, rows, cols, scaleAt, o.hessian!);
  else for (let i = 0; i < work.length; i++) if (!mask[i]) codes[i] = ternaryCode(work[i]!, scaleAt(Math.floor(i / cols), i % cols));
  const salient = count > 0 ? salientMatrixFromDense(work, mask, rows, cols, name) : null;
  return { rows, cols, codes, alpha, group, groupsPerRow, salient };
}

/** T = round(clip(w/α, −1, 1)), with exactly ±1/2 going to 0 as BitNet's rule (tensor-types/i2_s.ts). */
export function ternaryCode(w: number, alpha: number): number {
  const x = w / alpha;
  return x > 0.5 ? 1 : x < -0.5 ? -1 : 0;
}

/** The `count` positions of largest score (ties: the earlier position), as a 0/1 mask. */
export function chooseSalient(
  w: ArrayLike<number>,
  rows: number,
  cols: number,
  count: number,
  metric: SalientMetric,
  hessian?: PreparedHessian,
): Uint8Array {
  const n = rows * cols;
  const score = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = w[i]!;
    if (metric === "magnitude") score[i] = Math.abs(x);
    else {
      const d = hessian!.inverseDiagonal[i % cols]!;
      score[i] = (x * x) / (d * d);
    }
  }
  const sorted = Float64Array.from(score).sort();
  const threshold = sorted[n - count]!; // the count-th largest score
  const mask = new Uint8Array(n);
  let taken = 0;
  for (let i = 0; i < n; i++) if (score[i]! > threshold) (mask[i] = 1), taken++;
  for (let i = 0; i < n && taken < count; i++) if (score[i] === threshold) (mask[i] = 1), taken++;
  return mask;
}

/** α = mean|w| over the non-salient weights of each scale group, floored at 1e-5 as BitNet's rule. */
function absmeanScales(w: ArrayLike<number>, mask: Uint8Array, rows: number, cols: number, group: number | "tensor"): Float32Array {
  if (group === "tensor") {
    let sum = 0;
    let n = 0;
    for (let i = 0; i < rows * cols; i++) if (!mask[i]) (sum += Math.abs(w[i]!)), n++;
    return new Float32Array(rows).fill(Math.fround(Math.max(n ? sum / n : 0, 1e-5)));
  }
  const G = Math.ceil(cols / group);
  const alpha = new Float32Array(rows * G);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < G; g++) {
      let sum = 0;
      let n = 0;
      for (let c = g * group; c < Math.min(cols, (g + 1) * group); c++) {
        const i = r * cols + c;
        if (!mask[i]) (sum += Math.abs(w[i]!)), n++;
      }
      alpha[r * G + g] = Math.fround(Math.max(n ? sum / n : 0, 1e-5));
    }
  }
  return alpha;
}

/**
 * GPTQ over `w` (rows × cols, changed in place: each column ends as its quantized value, salient positions as
 * their compensated value), writing the codes of the non-salient positions.
 */
function gptqQuantize(
  w: Float64Array,
  codes: Int8Array,
  mask: Uint8Array,
  rows: number,
  cols: number,
  scaleAt: (r: number, c: number) => number,
  h: PreparedHessian,
): void {
  const u = h.inverseCholesky;
  for (let j = 0; j < cols; j++) if (h.dead[j]) for (let r = 0; r < rows; r++) w[r * cols + j] = 0;
  for (let i1 = 0; i1 < cols; i1 += GPTQ_BLOCK) {
    const i2 = Math.min(cols, i1 + GPTQ_BLOCK);
    const width = i2 - i1;
    const err = new Float64Array(rows * width);
    for (let j = i1; j < i2; j++) {
      const d = u[j * cols + j]!;
      for (let r = 0; r < rows; r++) {
        const at = r * cols + j;
        const x = w[at]!;
        let q = x;
        if (!mask[at]) {
          const t = ternaryCode(x, scaleAt(r, j));
          codes[at] = t;
          q = t * scaleAt(r, j);
        }
        w[at] = q;
        const e = (x - q) / d;
        err[r * width + (j - i1)] = e;
        if (e !== 0) for (let c = j + 1; c < i2; c++) w[r * cols + c]! -= e * u[j * cols + c]!;
      }
    }
    // the block's errors onto every column after it, at once
    for (let r = 0; r < rows; r++) {
      for (let jj = 0; jj < width; jj++) {
        const e = err[r * width + jj]!;
        if (e === 0) continue;
        const urow = (i1 + jj) * cols;
        const wrow = r * cols;
        for (let c = i2; c < cols; c++) w[wrow + c]! -= e * u[urow + c]!;
      }
    }
  }
}

/** Ŵ = α·T + S as a dense rows × cols matrix (tests, and the experiment's dense evaluation). */
export function denseOf(t: SalientTernary): Float32Array {
  const out = new Float32Array(t.rows * t.cols);
  for (let r = 0; r < t.rows; r++) {
    for (let c = 0; c < t.cols; c++) out[r * t.cols + c] = t.codes[r * t.cols + c]! * t.alpha[r * t.groupsPerRow + Math.floor(c / t.group)]!;
  }
  if (t.salient) addSalientToDense(t.salient, out);
  return out;
}
