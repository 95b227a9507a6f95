// The linear layers of a training model: a plain float weight (the teacher, the output head) or a DLT weight
// (the student's block matrices). Either way the forward/backward code sees one dense effective matrix
// `weight` (Ŵ) and one gradient buffer `gradWeight` (∂L/∂Ŵ); the DLT parameters are mapped to and from
// those around each step (prepareLinear / finishLinear). Materializing Ŵ costs one rows×cols array per
// matrix and keeps the matmul a plain dense one, which is what the step-2 kernels will replace.
import { type DltShape, type DltTernary, dltDequantize, dltInit, dltRecode } from "./dlt.ts";
import { matmulBackward, matmulForward } from "./matmul.ts";
import { type Param, makeParam } from "./params.ts";
import { type SalientWeights, salientWeights, takeSalientGrad, writeSalient } from "./salient.ts";
import { steBackward } from "./ste.ts";
import { type Precision, type Vec, alloc, precisionOf, toPrecision } from "./tensor.ts";

interface LinearBase {
  name: string;
  /** Output rows (m). */
  rows: number;
  /** Inputs per row (k). */
  cols: number;
  /** Ŵ [rows][cols] as the matmul uses it. */
  weight: Vec;
  /** ∂L/∂Ŵ, or null when nothing upstream of Ŵ is trained. */
  gradWeight: Vec | null;
}

export interface FloatLinear extends LinearBase {
  kind: "float";
  param: Param;
}

export interface DltLinear extends LinearBase, DltShape {
  kind: "dlt";
  ternary: DltTernary;
  alpha: Param;
  gamma: Param;
  /** The float weights the codes come from (frozen in blockwise mode, trained in full mode). */
  latent: Param;
  /** PB-LLM's salient weights, kept out of the ternary groups (salient.ts); absent when none. */
  salient?: SalientWeights;
}

export type LinearWeight = FloatLinear | DltLinear;

/** A float linear layer on `param` (shared when the output head is tied to the embedding). */
export function floatLinear(name: string, param: Param, rows: number, cols: number): FloatLinear {
  if (param.value.length !== rows * cols) throw new RangeError(`${name}: ${param.value.length} values for ${rows}×${cols}`);
  return { kind: "float", name, rows, cols, param, weight: param.value, gradWeight: param.trainable ? param.grad : null };
}

export interface DltTrain {
  alpha: boolean;
  gamma: boolean;
  /** Full mode: the latent weights are trained and the codes recomputed from them at every step. */
  latent: boolean;
}

export interface DltLinearOptions {
  group: number;
  refine?: boolean;
  train: DltTrain;
  /** Salient positions (1 = kept out of the ternary groups, [rows][cols]) and whether their values train. */
  salient?: { mask: Uint8Array; train: boolean };
}

/** Ternarizes float weights w [rows][cols] into a DLT layer (docs/ARCHITECTURE.md section 4 init). */
export function dltLinear(name: string, w: ArrayLike<number>, rows: number, cols: number, precision: Precision, o: DltLinearOptions): DltLinear {
  const shape = { rows, cols, group: o.group };
  const ternary = dltInit(w, shape, precision, o.refine ?? false, o.salient?.mask);
  const salient = o.salient ? salientWeights(name, w, o.salient.mask, precision, o.salient.train) : undefined;
  const anyTrained = o.train.alpha || o.train.gamma || o.train.latent || (salient?.values.trainable ?? false);
  return {
    kind: "dlt",
    name,
    ...shape,
    ternary,
    alpha: makeParam(`${name}.alpha`, ternary.alpha, o.train.alpha),
    gamma: makeParam(`${name}.gamma`, ternary.gamma, o.train.gamma),
    latent: makeParam(name, toPrecision(w, precision), o.train.latent, true),
    weight: alloc(precision, rows * cols),
    gradWeight: anyTrained ? alloc(precision, rows * cols) : null,
    ...(salient ? { salient } : {}),
  };
}

/** The parameters a layer owns (a tied head owns none: its param belongs to the embedding). */
export function linearParams(l: LinearWeight): Param[] {
  if (l.kind !== "dlt") return [];
  return l.salient ? [l.latent, l.alpha, l.gamma, l.salient.values] : [l.latent, l.alpha, l.gamma];
}

/** Before a forward pass: recompute codes (full mode), materialize Ŵ, clear ∂L/∂Ŵ. */
export function prepareLinear(l: LinearWeight): void {
  if (l.kind !== "dlt") return;
  if (l.latent.trainable) dltRecode(l.latent.value, l.ternary, l, l.salient?.mask);
  dltDequantize(l.ternary, l, l.weight);
  if (l.salient) writeSalient(l.salient, l.weight);
  l.gradWeight?.fill(0);
}

/** After a backward pass: map ∂L/∂Ŵ to the DLT parameters (STE). Float layers accumulated in place already. */
export function finishLinear(l: LinearWeight): void {
  if (l.kind !== "dlt" || !l.gradWeight) return;
  if (l.salient) takeSalientGrad(l.salient, l.gradWeight);
  steBackward(
    l.gradWeight,
    l.ternary,
    l,
    {
      alpha: l.alpha.trainable ? l.alpha.grad : undefined,
      gamma: l.gamma.trainable ? l.gamma.grad : undefined,
      latent: l.latent.trainable ? l.latent.grad : undefined,
    },
    l.latent.value,
  );
}

/** y [n][rows] = x [n][cols] · Ŵᵀ (a new array). */
export function linearForward(l: LinearWeight, x: Vec, n: number): Vec {
  const y = alloc(precisionOf(x), n * l.rows);
  matmulForward(y, x, l.weight, n, l.cols, l.rows);
  return y;
}

/** Accumulates ∂L/∂Ŵ (when wanted) and dx += dy·Ŵ (when dx is given). */
export function linearBackward(l: LinearWeight, dy: Vec, x: Vec, n: number, dx: Vec | null): void {
  matmulBackward(dy, x, l.weight, n, l.cols, l.rows, dx, l.gradWeight);
}
