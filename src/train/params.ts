// A trainable (or frozen) tensor with its gradient. Models list their parameters in a fixed order; the
// optimizer, the gradient clipping and the checkpoint all walk that order, which is what makes runs
// bit-reproducible (sums over parameters are always taken in the same order).
import { type Precision, type Vec, alloc } from "./tensor.ts";

export interface Param {
  /** Unique within a model, e.g. "blk.0.attn_q.weight.alpha" (checkpoints match on it). */
  name: string;
  value: Vec;
  /** ∂L/∂value, accumulated by the backward pass (allocated only for trainable parameters). */
  grad: Vec;
  /** Frozen parameters keep their values and get no gradient. */
  trainable: boolean;
  /** AdamW weight decay applies (latent weights); never to scales, shifts or norm gains. */
  decay: boolean;
}

export function makeParam(name: string, value: Vec, trainable: boolean, decay = false): Param {
  const precision: Precision = value instanceof Float64Array ? "f64" : "f32";
  return { name, value, grad: alloc(precision, trainable ? value.length : 0), trainable, decay };
}

export function zeroGrads(params: readonly Param[]): void {
  for (const p of params) if (p.trainable) p.grad.fill(0);
}

export function trainableParams(params: readonly Param[]): Param[] {
  return params.filter((p) => p.trainable);
}
