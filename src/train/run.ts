// What the fine-tuning loop drives: one training run of either schedule behind one interface, so that the
// loop (finetune.ts) checkpoints, resumes, reports progress and stops the same way for both. A run is fully
// determined by its options, its student/teacher models and its token stream; `checkpoint()` captures what
// `restore()` needs to continue it bit-exactly.
import type { Checkpoint } from "./checkpoint.ts";
import type { FeatureLoss, LossWeights } from "./loss.ts";
import type { Sampling } from "./data.ts";
import type { StepMetrics } from "./trainer.ts";

export type Schedule = "blockwise" | "full";

export interface RunOptions {
  /** Optimizer steps in total (blockwise: shared out over the blocks). */
  steps: number;
  batch: number;
  seqLen: number;
  /** Peak learning rate; warm-up over `warmup` steps (per block in blockwise), then cosine to lr/10. */
  lr: number;
  warmup: number;
  /** Global gradient-norm limit (0: none). */
  clip: number;
  /** AdamW weight decay on latent weights (full mode only: blockwise trains no latent). */
  weightDecay: number;
  sampling: Sampling;
  /** Seeds the data sampler (and, in blockwise mode, the batch pool). */
  seed: number;
  /** Full mode's objective. Blockwise uses only the feature term. */
  loss: LossWeights;
  feature: FeatureLoss;
}

export interface TrainingRun {
  readonly schedule: Schedule;
  /** Steps done so far, over the whole run. */
  readonly step: number;
  readonly steps: number;
  /** Tokens one step trains on (batch · seqLen). */
  readonly tokensPerStep: number;
  /** One optimizer step. */
  next(): StepMetrics;
  checkpoint(): Checkpoint;
  /** Continues from a checkpoint of a run built with the same options, models and data. */
  restore(c: Checkpoint): void;
}
