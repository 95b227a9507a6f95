// Logit distillation: KL(teacher ‖ student) = Σ p_t·(log p_t − log p_s) per token, mean over tokens.
// Its gradient with respect to the student's logits is (p_s − p_t) / n (times `scale`).
import { type Vec, alloc, precisionOf } from "./tensor.ts";

export function klTeacherStudent(student: Vec, teacher: Vec, n: number, vocab: number, scale = 1): { loss: number; grad: Vec } {
  const grad = alloc(precisionOf(student), n * vocab);
  const ls = new Float64Array(vocab);
  const lt = new Float64Array(vocab);
  let loss = 0;
  for (let t = 0; t < n; t++) {
    const o = t * vocab;
    logSoftmax(student, o, vocab, ls);
    logSoftmax(teacher, o, vocab, lt);
    for (let i = 0; i < vocab; i++) {
      const pt = Math.exp(lt[i]!);
      loss += pt * (lt[i]! - ls[i]!);
      grad[o + i] = (scale * (Math.exp(ls[i]!) - pt)) / n;
    }
  }
  return { loss: loss / n, grad };
}

function logSoftmax(x: Vec, o: number, k: number, out: Float64Array): void {
  let max = -Infinity;
  for (let i = 0; i < k; i++) if (x[o + i]! > max) max = x[o + i]!;
  let z = 0;
  for (let i = 0; i < k; i++) z += Math.exp(x[o + i]! - max);
  const lz = Math.log(z) + max;
  for (let i = 0; i < k; i++) out[i] = x[o + i]! - lz;
}
