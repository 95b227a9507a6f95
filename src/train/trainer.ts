// One optimization step of the end-to-end schedule, and the state that a checkpoint must hold to continue
// a run bit-exactly: step, data cursor, PRNG, optimizer moments (the parameters live in the model).
// A step: batch → teacher forward (when distilling) → student forward → loss → backward → STE → clip →
// AdamW with the scheduled learning rate.
import { OptionError } from "../runtime/errors.ts";
import { Xoshiro128 } from "../runtime/sampling/prng.ts";
import { type AdamState, type AdamWOptions, adamwStep, createAdamState } from "./adamw.ts";
import { type Batch, type Sampling, randomBatch, sequentialBatch } from "./data.ts";
import { clipGradNorm } from "./grad-clip.ts";
import { type LossWeights, distillLoss } from "./loss.ts";
import { type TrainModel, beginStep, endStep, modelBackward, modelForward } from "./model.ts";
import { ropeTable } from "./ops/rope.ts";
import { type Param, trainableParams } from "./params.ts";
import { type CosineSchedule, learningRate } from "./schedule.ts";

export interface TrainOptions {
  batch: number;
  seqLen: number;
  sampling: Sampling;
  schedule: CosineSchedule;
  adam?: AdamWOptions;
  /** Global gradient-norm limit (0: none). */
  clip: number;
  loss: LossWeights;
}

export interface TrainState {
  /** The parameters this run optimizes, in a fixed order (the moments in `adam` follow it). */
  params: Param[];
  /** Steps done. */
  step: number;
  /** Next window of the sequential sampler. */
  cursor: number;
  rng: Xoshiro128;
  adam: AdamState;
}

export interface StepMetrics {
  step: number;
  loss: number;
  off: number;
  ce: number;
  kl: number;
  gradNorm: number;
  lr: number;
}

/** State for optimizing the trainable ones of `params` (all of a model's for the full schedule). */
export function createTrainState(params: readonly Param[], seed: number): TrainState {
  const trained = trainableParams(params);
  return { params: trained, step: 0, cursor: 0, rng: new Xoshiro128(seed), adam: createAdamState(trained) };
}

export function trainStep(student: TrainModel, teacher: TrainModel | null, tokens: ArrayLike<number>, s: TrainState, o: TrainOptions): StepMetrics {
  let batch: Batch;
  if (o.sampling === "random") batch = randomBatch(tokens, s.rng, o.batch, o.seqLen);
  else ({ batch, cursor: s.cursor } = sequentialBatch(tokens, s.cursor, o.batch, o.seqLen));

  const rope = ropeTable(student.config.rope, o.seqLen);
  const needTeacherLogits = o.loss.kl !== 0;
  const t = teacher && (o.loss.off !== 0 || needTeacherLogits) ? modelForward(teacher, batch.inputs, rope, needTeacherLogits) : null;

  beginStep(student);
  const needLogits = o.loss.ce !== 0 || o.loss.kl !== 0;
  const f = modelForward(student, batch.inputs, rope, needLogits);
  const loss = distillLoss(f, t, batch.targets, o.loss, student.config.dim, student.config.vocabSize);
  modelBackward(student, f, loss.dLogits, loss.dHidden);
  endStep(student);

  const { gradNorm, lr } = applyUpdate(s, o.clip, o.schedule, o.adam, `step ${s.step}`);
  return { step: s.step, loss: loss.total, off: loss.off, ce: loss.ce, kl: loss.kl, gradNorm, lr };
}

/**
 * The end of every training step, whatever the schedule: clip the gradients, refuse a non-finite norm, take the
 * learning rate of step s.step, update with AdamW, count the step. `where` names the step in the error.
 */
export function applyUpdate(
  s: TrainState,
  clip: number,
  schedule: CosineSchedule,
  adam: AdamWOptions | undefined,
  where: string,
): { gradNorm: number; lr: number } {
  const gradNorm = clipGradNorm(s.params, clip);
  // A NaN/∞ gradient would poison every moment; stop before the update so the last checkpoint stays good.
  if (!Number.isFinite(gradNorm))
    throw new OptionError("DIVERGED", `${where}: the gradient norm is ${gradNorm}: training diverged (a lower learning rate may help)`);
  const lr = learningRate(schedule, s.step);
  adamwStep(s.params, s.adam, lr, adam);
  s.step++;
  return { gradNorm, lr };
}
