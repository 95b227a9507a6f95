// AdamW (Loshchilov & Hutter): Adam moments with bias correction and decoupled weight decay, which shrinks
// the weight itself (p ← p − lr·λ·p) instead of adding λ·p to the gradient, so it is not rescaled by the
// adaptive denominator. Only parameters marked `decay` (latent weights) are decayed.
// The moments live in the parameters' precision; the update is computed per element in f64 and stored once,
// in parameter order: the same gradients give the same bytes.
import type { Param } from "./params.ts";
import { type Vec, zerosLike } from "./tensor.ts";

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

export interface AdamState {
  /** Steps taken (the t of the bias correction). */
  t: number;
  /** First and second moments, one per parameter given to createAdamState, same order. */
  m: Vec[];
  v: Vec[];
}

export function createAdamState(params: readonly Param[]): AdamState {
  return { t: 0, m: params.map((p) => zerosLike(p.value)), v: params.map((p) => zerosLike(p.value)) };
}

export function adamwStep(params: readonly Param[], s: AdamState, lr: number, o: AdamWOptions = {}): void {
  const b1 = o.beta1 ?? 0.9;
  const b2 = o.beta2 ?? 0.999;
  const eps = o.eps ?? 1e-8;
  const wd = o.weightDecay ?? 0;
  if (s.m.length !== params.length) throw new Error(`optimizer state holds ${s.m.length} parameters, given ${params.length}`);
  s.t++;
  const c1 = 1 - b1 ** s.t;
  const c2 = 1 - b2 ** s.t;
  for (let j = 0; j < params.length; j++) {
    const p = params[j]!;
    const m = s.m[j]!;
    const v = s.v[j]!;
    const w = p.value;
    const g = p.grad;
    const decay = p.decay ? lr * wd : 0;
    for (let i = 0; i < w.length; i++) {
      const gi = g[i]!;
      const mi = b1 * m[i]! + (1 - b1) * gi;
      const vi = b2 * v[i]! + (1 - b2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      w[i] = w[i]! - decay * w[i]! - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + eps);
    }
  }
}
