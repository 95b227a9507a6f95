// The training objective: total = λ_off·F + λ_ce·CE + λ_kl·KL(teacher ‖ student), where F is the feature
// loss (OFF, or MSE as the ablation) averaged over the decoder blocks' outputs, so that λ_off means the
// same for a 5-block and a 30-block model, and KL is at the temperature `klTemperature` (τ², softened
// softmaxes: loss-kl.ts). Terms with weight 0 are neither computed nor differentiated.
import { crossEntropy } from "./loss-ce.ts";
import { klTeacherStudent } from "./loss-kl.ts";
import { mseLoss } from "./loss-mse.ts";
import { offLoss } from "./loss-off.ts";
import type { ModelForward } from "./model.ts";
import type { Vec } from "./tensor.ts";

export type FeatureLoss = "off" | "mse";

export interface LossWeights {
  off: number;
  ce: number;
  kl: number;
  /** Which feature loss λ_off weighs (default "off"). */
  feature?: FeatureLoss;
  /** The KL term's temperature τ (default 1: the plain KL of the two softmaxes). */
  klTemperature?: number;
}

export interface LossResult {
  total: number;
  /** The feature term (OFF or MSE), unweighted. */
  off: number;
  ce: number;
  /** The KL term at temperature τ, τ²-scaled, unweighted. */
  kl: number;
  dLogits: Vec | null;
  /** ∂total/∂(block l output), per block (null where no feature loss applies). */
  dHidden: (Vec | null)[];
}

export function featureLoss(kind: FeatureLoss, hs: Vec, ht: Vec, n: number, d: number, scale = 1): { loss: number; grad: Vec } {
  return kind === "mse" ? mseLoss(hs, ht, n, d, scale) : offLoss(hs, ht, n, d, scale);
}

/**
 * `teacher` is needed when λ_off or λ_kl is non-zero; `targets` (next token per position, < 0: none) when
 * λ_ce is.
 */
export function distillLoss(
  student: ModelForward,
  teacher: ModelForward | null,
  targets: ArrayLike<number> | null,
  w: LossWeights,
  dim: number,
  vocab: number,
): LossResult {
  const n = student.n;
  const L = student.caches.length;
  const dHidden: (Vec | null)[] = new Array(L).fill(null);
  let off = 0;
  let ce = 0;
  let kl = 0;
  if (w.off !== 0) {
    if (!teacher) throw new Error("the feature loss needs the teacher's forward pass");
    for (let l = 0; l < L; l++) {
      const r = featureLoss(w.feature ?? "off", student.caches[l]!.out, teacher.caches[l]!.out, n, dim, w.off / L);
      off += r.loss / L;
      dHidden[l] = r.grad;
    }
  }
  let dLogits: Vec | null = null;
  const addLogitGrad = (g: Vec) => {
    if (!dLogits) dLogits = g;
    else for (let i = 0; i < g.length; i++) dLogits[i]! += g[i]!;
  };
  if (w.ce !== 0) {
    if (!targets || !student.logits) throw new Error("cross-entropy needs targets and the student's logits");
    const r = crossEntropy(student.logits, targets, vocab, w.ce);
    ce = r.loss;
    addLogitGrad(r.grad);
  }
  if (w.kl !== 0) {
    if (!teacher?.logits || !student.logits) throw new Error("the KL term needs both models' logits");
    const r = klTeacherStudent(student.logits, teacher.logits, n, vocab, w.kl, w.klTemperature ?? 1);
    kl = r.loss;
    addLogitGrad(r.grad);
  }
  return { total: w.off * off + w.ce * ce + w.kl * kl, off, ce, kl, dLogits, dHidden };
}
