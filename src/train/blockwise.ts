// The lightweight (blockwise) schedule: latent weights and codes frozen; α, γ and the RMSNorm gains of one
// block trained at a time. Block l's input is the student's own output of blocks < l (the quantized model
// as it will run), its target the teacher's output of block l on the teacher's own stream; the loss is the
// feature loss (OFF, or MSE as the ablation) between the two. Only block l's activations are cached.
import type { AdamWOptions } from "./adamw.ts";
import { type BlockCache, blockBackward, blockForward, blockLinears, blockParams } from "./block.ts";
import { type Batch, type Sampling, randomBatch, sequentialBatch } from "./data.ts";
import { finishLinear, prepareLinear } from "./linear.ts";
import { type FeatureLoss, featureLoss } from "./loss.ts";
import type { TrainModel } from "./model.ts";
import { embeddingForward } from "./ops/embedding.ts";
import { type RopeTable, ropeTable } from "./ops/rope.ts";
import { zeroGrads } from "./params.ts";
import type { CosineSchedule } from "./schedule.ts";
import type { Vec } from "./tensor.ts";
import { type StepMetrics, type TrainState, applyUpdate, createTrainState } from "./trainer.ts";

export interface BlockwiseOptions {
  batch: number;
  seqLen: number;
  sampling: Sampling;
  schedule: CosineSchedule;
  adam?: AdamWOptions;
  clip: number;
  feature: FeatureLoss;
}

/** A run state for training block `l` of `student` (its trainable α, γ and gains). */
export function createBlockState(student: TrainModel, l: number, seed: number): TrainState {
  return createTrainState(blockParams(student.blocks[l]!), seed);
}

/** The output of blocks 0..l−1 of `m` (the embedding for l = 0), dropping each block's cache as it goes. */
export function blockInput(m: TrainModel, tokens: Int32Array, l: number, rope: RopeTable): Vec {
  let x = embeddingForward(m.embedding.value, tokens, m.config.dim);
  for (let i = 0; i < l; i++) x = blockForward(m.config, m.blocks[i]!, x, tokens.length, rope).out;
  return x;
}

/** The student's block-l forward and its feature loss against the teacher; no update. */
export function blockwiseLoss(
  student: TrainModel,
  teacher: TrainModel,
  l: number,
  batch: Batch,
  rope: RopeTable,
  feature: FeatureLoss,
): { loss: number; grad: Vec; cache: BlockCache } {
  for (const lin of blockLinears(student.blocks[l]!)) prepareLinear(lin);
  // The teacher target on the teacher's stream (for l = 0 both streams are the embedding).
  const target = blockForward(teacher.config, teacher.blocks[l]!, blockInput(teacher, batch.inputs, l, rope), batch.inputs.length, rope).out;
  for (let i = 0; i < l; i++) for (const lin of blockLinears(student.blocks[i]!)) prepareLinear(lin);
  const cache = blockForward(student.config, student.blocks[l]!, blockInput(student, batch.inputs, l, rope), batch.inputs.length, rope);
  const { loss, grad } = featureLoss(feature, cache.out, target, batch.inputs.length, student.config.dim);
  return { loss, grad, cache };
}

export function blockwiseStep(
  student: TrainModel,
  teacher: TrainModel,
  l: number,
  tokens: ArrayLike<number>,
  s: TrainState,
  o: BlockwiseOptions,
): StepMetrics {
  let batch: Batch;
  if (o.sampling === "random") batch = randomBatch(tokens, s.rng, o.batch, o.seqLen);
  else ({ batch, cursor: s.cursor } = sequentialBatch(tokens, s.cursor, o.batch, o.seqLen));
  const rope = ropeTable(student.config.rope, o.seqLen);
  const n = batch.inputs.length;
  const target = blockForward(teacher.config, teacher.blocks[l]!, blockInput(teacher, batch.inputs, l, rope), n, rope).out;
  for (let i = 0; i < l; i++) for (const lin of blockLinears(student.blocks[i]!)) prepareLinear(lin);
  const input = blockInput(student, batch.inputs, l, rope);
  const m = blockStep(student, l, input, target, n, rope, s, o.feature, o.clip, o.schedule, o.adam);
  return { step: s.step, ...m };
}

/**
 * One update of block l of `student` (BlockwiseRun's step and blockwiseStep's): its forward on `input`, the feature
 * loss against the teacher's `target`, the backward through the block and the STE, then the update.
 */
export function blockStep(
  student: TrainModel,
  l: number,
  input: Vec,
  target: Vec,
  n: number,
  rope: RopeTable,
  s: TrainState,
  feature: FeatureLoss,
  clip: number,
  schedule: CosineSchedule,
  adam: AdamWOptions | undefined,
): Omit<StepMetrics, "step"> {
  const w = student.blocks[l]!;
  zeroGrads(s.params);
  for (const lin of blockLinears(w)) prepareLinear(lin);
  const cache = blockForward(student.config, w, input, n, rope);
  const { loss, grad } = featureLoss(feature, cache.out, target, n, student.config.dim);
  blockBackward(student.config, w, cache, grad, rope, false);
  for (const lin of blockLinears(w)) finishLinear(lin);
  const { gradNorm, lr } = applyUpdate(s, clip, schedule, adam, `block ${l}, step ${s.step}`);
  return { loss, off: loss, ce: 0, kl: 0, gradNorm, lr };
}
