// Logit distillation: KL(p_t ‖ p_s) = Σ p_t·(log p_t − log p_s) per token, mean over tokens, where p_t and p_s
// are the softmaxes of the teacher's and the student's logits divided by a temperature τ (Hinton et al.'s
// softened teacher). The loss is scaled by τ², which keeps the gradient's size comparable across τ; its
// gradient with respect to the student's logits is then τ·(p_s − p_t) / n (times `scale`). At τ = 1 this is
// the plain KL(teacher ‖ student), computed with exactly the same operations.
import { type Vec, alloc, precisionOf } from "./tensor.ts";

export function klTeacherStudent(student: Vec, teacher: Vec, n: number, vocab: number, scale = 1, temperature = 1): { loss: number; grad: Vec } {
  const grad = alloc(precisionOf(student), n * vocab);
  const ls = new Float64Array(vocab);
  const lt = new Float64Array(vocab);
  const gradScale = scale * temperature;
  let loss = 0;
  for (let t = 0; t < n; t++) {
    const o = t * vocab;
    logSoftmax(student, o, vocab, temperature, ls);
    logSoftmax(teacher, o, vocab, temperature, lt);
    for (let i = 0; i < vocab; i++) {
      const pt = Math.exp(lt[i]!);
      loss += pt * (lt[i]! - ls[i]!);
      grad[o + i] = (gradScale * (Math.exp(ls[i]!) - pt)) / n;
    }
  }
  return { loss: (temperature * temperature * loss) / n, grad };
}

/** log softmax(x[o … o+k) / τ) into `out`. */
function logSoftmax(x: Vec, o: number, k: number, temperature: number, out: Float64Array): void {
  let max = -Infinity;
  for (let i = 0; i < k; i++) if (x[o + i]! / temperature > max) max = x[o + i]! / temperature;
  let z = 0;
  for (let i = 0; i < k; i++) z += Math.exp(x[o + i]! / temperature - max);
  const lz = Math.log(z) + max;
  for (let i = 0; i < k; i++) out[i] = x[o + i]! / temperature - lz;
}
