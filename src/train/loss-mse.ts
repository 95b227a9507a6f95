// The ablation of OFF: mean squared error between student and teacher features, mean over tokens and the
// hidden dimension. Gradient 2·(h_s − h_t)/(n·d) (times `scale`).
import { type Vec, alloc, precisionOf } from "./tensor.ts";

export function mseLoss(hs: Vec, ht: Vec, n: number, d: number, scale = 1): { loss: number; grad: Vec } {
  const grad = alloc(precisionOf(hs), n * d);
  let loss = 0;
  const c = (2 * scale) / (n * d);
  for (let i = 0; i < n * d; i++) {
    const e = hs[i]! - ht[i]!;
    loss += e * e;
    grad[i] = c * e;
  }
  return { loss: loss / (n * d), grad };
}
