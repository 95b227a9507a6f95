// Next-token cross-entropy over logits [n][vocab]: mean over the tokens that have a target (target < 0:
// no label, e.g. the padding of a short text) of −log softmax(logits)[target].
// Gradient: (softmax − onehot(target)) / count, times `scale` (the loss weight, folded in to save a pass).
import { TrainError } from "../runtime/errors.ts";
import { type Vec, alloc, precisionOf } from "./tensor.ts";

export function crossEntropy(logits: Vec, targets: ArrayLike<number>, vocab: number, scale = 1): { loss: number; grad: Vec } {
  const n = targets.length;
  const grad = alloc(precisionOf(logits), n * vocab);
  let count = 0;
  for (let t = 0; t < n; t++) if (targets[t]! >= 0) count++;
  if (count === 0) return { loss: 0, grad };
  let loss = 0;
  for (let t = 0; t < n; t++) {
    const target = targets[t]!;
    if (target < 0) continue;
    if (!Number.isInteger(target) || target >= vocab) throw new TrainError("BAD_TOKEN", `target ${target} is outside the vocabulary of ${vocab}`);
    const o = t * vocab;
    let max = -Infinity;
    for (let i = 0; i < vocab; i++) if (logits[o + i]! > max) max = logits[o + i]!;
    let z = 0;
    for (let i = 0; i < vocab; i++) z += Math.exp(logits[o + i]! - max);
    loss += Math.log(z) + max - logits[o + target]!;
    for (let i = 0; i < vocab; i++) grad[o + i] = (scale * Math.exp(logits[o + i]! - max)) / z / count;
    grad[o + target]! -= scale / count;
  }
  return { loss: loss / count, grad };
}
