// The full (end-to-end) schedule as a run: every step is trainStep (teacher forward, student forward,
// CE + λ·feature + KL, backward through every block, STE, clip, AdamW) over the cosine schedule of the
// whole run. The checkpoint is the state trainStep advances: parameters, moments, step, cursor, PRNG.
import { CheckpointError } from "../runtime/errors.ts";
import { captureCheckpoint, restoreCheckpoint, type Checkpoint } from "./checkpoint.ts";
import type { TrainModel } from "./model.ts";
import type { RunOptions, TrainingRun } from "./run.ts";
import { type StepMetrics, type TrainOptions, type TrainState, createTrainState, trainStep } from "./trainer.ts";

export class FullRun implements TrainingRun {
  readonly schedule = "full" as const;
  readonly tokensPerStep: number;
  private readonly state: TrainState;
  private readonly options: TrainOptions;

  constructor(
    readonly student: TrainModel,
    readonly teacher: TrainModel,
    private readonly tokens: ArrayLike<number>,
    readonly o: RunOptions,
  ) {
    this.tokensPerStep = o.batch * o.seqLen;
    this.state = createTrainState(student.params, o.seed);
    this.options = {
      batch: o.batch,
      seqLen: o.seqLen,
      sampling: o.sampling,
      schedule: { lr: o.lr, steps: o.steps, warmup: o.warmup },
      adam: { weightDecay: o.weightDecay },
      clip: o.clip,
      loss: { ...o.loss, feature: o.feature },
    };
  }

  get steps(): number {
    return this.o.steps;
  }

  get step(): number {
    return this.state.step;
  }

  next(): StepMetrics {
    if (this.state.step >= this.o.steps) throw new RangeError(`the run is complete (${this.o.steps} steps)`);
    return trainStep(this.student, this.teacher, this.tokens, this.state, this.options);
  }

  checkpoint(): Checkpoint {
    return captureCheckpoint(this.student, this.state, { schedule: "full" });
  }

  restore(c: Checkpoint): void {
    const fail = (why: string): never => {
      throw new CheckpointError(`the checkpoint does not fit this full run: ${why}`);
    };
    if (c.meta.schedule !== "full") fail(`it is one of a ${JSON.stringify(c.meta.schedule)} run`);
    if (c.step > this.o.steps) fail(`its step ${c.step} is beyond the run's ${this.o.steps} steps`);
    // Random windows never move the cursor; sequential ones keep it inside the stream.
    const cursorEnd = this.o.sampling === "random" ? 1 : this.tokens.length;
    if (c.cursor >= cursorEnd) fail(`its data cursor ${c.cursor} is outside 0…${cursorEnd - 1}`);
    restoreCheckpoint(this.student, this.state, c);
  }
}
