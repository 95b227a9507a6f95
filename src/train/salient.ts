// PB-LLM's salient weights in a DLT student (issue 18): a fraction of each block matrix, chosen element-wise from
// the teacher's float weights at init (runtime/convert/salient-ternarize.ts `chooseSalient`, by magnitude or by
// the Hessian criterion), is kept out of the ternary groups. Those positions have code 0 and take no part in the
// group statistics (dlt.ts `exclude`); their effective weight is a float parameter of its own, the kept weight
// w_s, trained or frozen (PB-LLM freezes it in QAT). Ŵ at a salient position is w_s and does not depend on α, γ
// or the latent weight, so the STE sees no gradient there (linear.ts clears it after taking w_s's).
//
// The export writes the side matrix S = w_s − (what the ternary file decodes to at that position), int8 per row
// (runtime/convert/salient-matrix.ts), so decode(X.weight) + S is the kept weight up to the int8 rounding.
import { type SalientMetric, SALIENT_METRICS, checkSalientFraction, chooseSalient } from "../runtime/convert/salient-ternarize.ts";
import { checkSalientColumns, salientCount } from "../runtime/convert/salient-matrix.ts";
import { prepareHessian } from "../runtime/convert/hessian.ts";
import { OptionError } from "../runtime/errors.ts";
import { type Param, makeParam } from "./params.ts";
import { type Precision, type Vec, alloc } from "./tensor.ts";

export { SALIENT_METRICS, type SalientMetric };

export interface SalientOptions {
  /** Fraction of each block matrix kept, in (0, MAX_SALIENT_FRACTION]. */
  fraction: number;
  metric: SalientMetric;
  /** Train the kept weights (else frozen at the teacher's values). */
  train: boolean;
}

export interface SalientWeights {
  /** 1 at the salient positions, [rows][cols]. */
  mask: Uint8Array;
  /** The salient positions (r·cols + c), increasing: row order, then column. */
  positions: Int32Array;
  /** The kept weights w_s, one per position. */
  values: Param;
}

/** Checks fraction and metric (OptionError naming the bad one). */
export function checkSalientOptions(o: SalientOptions): void {
  checkSalientFraction(o.fraction, "salient");
  if (!(o.fraction > 0)) throw new OptionError("BAD_OPTION_VALUE", `salient ${o.fraction} must be > 0 (leave it out for no salient weights)`);
  if (!SALIENT_METRICS.includes(o.metric)) {
    throw new OptionError("BAD_OPTION_VALUE", `salient metric must be one of ${SALIENT_METRICS.join(", ")}, got ${String(o.metric)}`);
  }
}

/**
 * The salient mask of matrix `name` (w: rows × cols, the teacher's weights): the top `fraction` by the metric;
 * `hessian` (k × k, the calibration Hessian of the matrix's inputs) is needed for the hessian metric.
 */
export function salientMask(name: string, w: ArrayLike<number>, rows: number, cols: number, o: SalientOptions, hessian?: Float64Array): Uint8Array {
  checkSalientColumns(name, cols);
  const count = salientCount(rows, cols, o.fraction);
  if (count === 0) return new Uint8Array(rows * cols);
  if (o.metric === "hessian" && !hessian) throw new OptionError("MISSING_CALIBRATION", `${name}: the hessian salient metric needs a Hessian`);
  const prepared = o.metric === "hessian" ? prepareHessian(hessian!, cols, undefined, name) : undefined;
  return chooseSalient(w, rows, cols, count, o.metric, prepared);
}

/** The salient weights at `mask`, their values taken from w, as a parameter `<name>.salient`. */
export function salientWeights(name: string, w: ArrayLike<number>, mask: Uint8Array, precision: Precision, train: boolean): SalientWeights {
  const positions = positionsOf(mask);
  const values = alloc(precision, positions.length);
  for (let e = 0; e < positions.length; e++) values[e] = w[positions[e]!]!;
  return { mask, positions, values: makeParam(`${name}.salient`, values, train) };
}

/** The positions where mask is 1, increasing. */
export function positionsOf(mask: Uint8Array): Int32Array {
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i]!;
  const positions = new Int32Array(n);
  let at = 0;
  for (let i = 0; i < mask.length; i++) if (mask[i]) positions[at++] = i;
  return positions;
}

/** Ŵ at the salient positions is w_s (after the ternary part was materialized). */
export function writeSalient(s: SalientWeights, weight: Vec): void {
  for (let e = 0; e < s.positions.length; e++) weight[s.positions[e]!] = s.values.value[e]!;
}

/**
 * Takes ∂L/∂w_s from ∂L/∂Ŵ (when w_s is trained) and clears ∂L/∂Ŵ at the salient positions, whose Ŵ does not
 * depend on α, γ or the latent weight.
 */
export function takeSalientGrad(s: SalientWeights, gradWeight: Vec): void {
  for (let e = 0; e < s.positions.length; e++) {
    const i = s.positions[e]!;
    if (s.values.trainable) s.values.grad[e]! += gradWeight[i]!;
    gradWeight[i] = 0;
  }
}
