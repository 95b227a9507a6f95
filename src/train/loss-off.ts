// OFF (Outlier-Friendly Feature distillation, TernaryLLM): L = mean over tokens of 1 − cos(h_s, h_t), the
// cosine taken over the hidden dimension. Cosine ignores the features' scale, so a few outlier channels
// of large magnitude do not dominate the loss the way they do in MSE.
// Gradient per token: ∂L/∂h_s = −(1/n)·(h_t/(|h_s|·|h_t|) − cos·h_s/|h_s|²). Norms are clamped at 1e-12
// (a zero feature vector has no direction; it then gets no gradient from the clamped side).
import { type Vec, alloc, precisionOf } from "./tensor.ts";

const EPS = 1e-12;

export function offLoss(hs: Vec, ht: Vec, n: number, d: number, scale = 1): { loss: number; grad: Vec } {
  const grad = alloc(precisionOf(hs), n * d);
  let loss = 0;
  for (let t = 0; t < n; t++) {
    const o = t * d;
    let ss = 0;
    let tt = 0;
    let st = 0;
    for (let i = 0; i < d; i++) {
      ss += hs[o + i]! * hs[o + i]!;
      tt += ht[o + i]! * ht[o + i]!;
      st += hs[o + i]! * ht[o + i]!;
    }
    const ns = Math.max(Math.sqrt(ss), EPS);
    const nt = Math.max(Math.sqrt(tt), EPS);
    const cos = st / (ns * nt);
    loss += 1 - cos;
    const a = -scale / n / (ns * nt);
    const b = (scale / n) * (cos / (ns * ns));
    for (let i = 0; i < d; i++) grad[o + i] = a * ht[o + i]! + b * hs[o + i]!;
  }
  return { loss: loss / n, grad };
}
