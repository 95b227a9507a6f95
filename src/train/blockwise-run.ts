// The blockwise schedule as a whole run: blocks 0 … L−1 in turn, each trained for its share of the steps
// (α, γ and norm gains of that block only; latent weights and codes frozen), against the teacher's output
// of the same block.
//
// The work that does not change within a phase is done once per phase, not per step: the run draws a pool
// of batches at the start and keeps, per pool batch, the teacher's stream entering block l, the teacher's
// block-l output (the target) and the student's own stream entering block l. Moving to block l+1 costs one
// forward of block l per pool batch, for each model; frozen student blocks are materialized (Ŵ) once, when
// their phase ends. A step is then one student block forward + backward. Memory: the pool's three streams
// plus one block's activations.
//
// A checkpoint holds the current block's parameters and moments, every earlier block's trained values
// (`model:` tensors), the run step and meta.block. Resuming redraws the same pool from the seed and replays
// blocks < l with the restored values, which recomputes the streams bit for bit.
//
// Rounds (blockwise-plan.ts): a finished run extended by more steps trains the blocks again, 0 … L−1, with the
// extra steps shared out the same way, on a pool drawn after the earlier rounds' pools, each block from its
// trained values with fresh moments and its own warm-up and cosine. A run of several rounds records them in
// meta.rounds and its position in meta.round.
import type { AdamWOptions } from "./adamw.ts";
import { blockForward, blockLinears, blockParams } from "./block.ts";
import { CheckpointError } from "../runtime/errors.ts";
import { captureCheckpoint, restoreCheckpoint, type Checkpoint } from "./checkpoint.ts";
import { type Batch, randomBatch, sequentialBatch } from "./data.ts";
import { prepareLinear } from "./linear.ts";
import type { TrainModel } from "./model.ts";
import { embeddingForward } from "./ops/embedding.ts";
import { type RopeTable, ropeTable } from "./ops/rope.ts";
import type { Param } from "./params.ts";
import { Xoshiro128 } from "../runtime/sampling/prng.ts";
import type { RunOptions, TrainingRun } from "./run.ts";
import type { Vec } from "./tensor.ts";
import { blockStep } from "./blockwise.ts";
import { blockSteps } from "./blockwise-plan.ts";
import { type StepMetrics, type TrainState, createTrainState } from "./trainer.ts";

export { blockSteps } from "./blockwise-plan.ts";

/** Pool batches at most (each holds three streams of batch·seqLen·dim values). */
export const DEFAULT_POOL_BATCHES = 64;

interface PoolEntry {
  batch: Batch;
  /** Teacher stream entering block l. */
  teacherIn: Vec;
  /** Teacher output of block l: the target. */
  target: Vec;
  /** Student stream entering block l. */
  studentIn: Vec;
}

export class BlockwiseRun implements TrainingRun {
  readonly schedule = "blockwise" as const;
  readonly tokensPerStep: number;
  private readonly rope: RopeTable;
  private pool: PoolEntry[] = [];
  /** Draws each round's pool in turn, and the sequential cursor when the run samples windows in order. */
  private readonly poolRng: Xoshiro128;
  private poolCursor = 0;
  /** Steps of each round; their sum is the run's steps. */
  readonly rounds: readonly number[];
  private round = 0;
  private block = 0;
  private state!: TrainState;
  private done = 0;
  private readonly adam: AdamWOptions;

  constructor(
    readonly student: TrainModel,
    readonly teacher: TrainModel,
    private readonly tokens: ArrayLike<number>,
    readonly o: RunOptions,
    private readonly poolBatches = DEFAULT_POOL_BATCHES,
    rounds: readonly number[] = [o.steps],
  ) {
    if (rounds.length === 0 || rounds.some((n) => !Number.isInteger(n) || n < 1) || rounds.reduce((a, b) => a + b, 0) !== o.steps)
      throw new RangeError(`rounds ${JSON.stringify(rounds)} must be positive step counts that add up to the run's ${o.steps}`);
    this.rounds = [...rounds];
    this.tokensPerStep = o.batch * o.seqLen;
    this.rope = ropeTable(student.config.rope, o.seqLen);
    this.adam = { weightDecay: 0 };
    // The pools come from their own generator seeded by the run seed: a resumed run redraws the same ones.
    this.poolRng = new Xoshiro128(o.seed);
    this.drawPool(0);
    this.enterBlock(0);
  }

  /** Draws round r's pool (after the earlier rounds' pools), its streams at the embedding. */
  private drawPool(r: number): void {
    const { student, teacher, o } = this;
    const size = Math.max(1, Math.min(this.poolBatches, blockSteps(this.rounds[r]!, student.blocks.length, 0)));
    this.pool = [];
    for (let b = 0; b < size; b++) {
      let batch: Batch;
      if (o.sampling === "random") batch = randomBatch(this.tokens, this.poolRng, o.batch, o.seqLen);
      else ({ batch, cursor: this.poolCursor } = sequentialBatch(this.tokens, this.poolCursor, o.batch, o.seqLen));
      const x = embeddingForward(student.embedding.value, batch.inputs, student.config.dim);
      const xt = embeddingForward(teacher.embedding.value, batch.inputs, teacher.config.dim);
      this.pool.push({ batch, teacherIn: xt, target: xt, studentIn: x });
    }
  }

  get steps(): number {
    return this.o.steps;
  }

  get step(): number {
    return this.done;
  }

  /** The block being trained (L once every block is done). */
  get currentBlock(): number {
    return this.block;
  }

  /** The round being trained (0 unless the run was extended). */
  get currentRound(): number {
    return this.round;
  }

  next(): StepMetrics {
    if (this.done >= this.o.steps) throw new RangeError(`the run is complete (${this.o.steps} steps)`);
    const l = this.block;
    const s = this.state;
    const entry = this.pool[s.step % this.pool.length]!;
    const n = entry.batch.inputs.length;
    const m = blockStep(
      this.student,
      l,
      entry.studentIn,
      entry.target,
      n,
      this.rope,
      s,
      this.o.feature,
      this.o.clip,
      this.phaseSchedule(l),
      this.adam,
    );
    this.done++;
    if (s.step >= this.stepsOf(l)) this.finishBlock();
    return { step: this.done, ...m };
  }

  checkpoint(): Checkpoint {
    const meta: Checkpoint["meta"] = { schedule: "blockwise", block: this.block, runStep: this.done };
    if (this.rounds.length > 1) Object.assign(meta, { round: this.round, rounds: JSON.stringify(this.rounds) });
    return captureCheckpoint(this.student, this.state, meta, this.others());
  }

  restore(c: Checkpoint): void {
    if (this.round !== 0 || this.block !== 0 || this.done !== 0) throw new Error("restore a checkpoint into a fresh run only");
    const fail = (why: string): never => {
      throw new CheckpointError(`the checkpoint does not fit this blockwise run: ${why}`);
    };
    const { schedule, block, runStep, round = 0 } = c.meta;
    if (schedule !== "blockwise") fail(`it is one of a ${JSON.stringify(schedule)} run`);
    const layers = this.student.blocks.length;
    // Its rounds are the run's up to its own (an extension adds one after a finished run).
    const last = this.rounds.length - 1;
    if (!Number.isInteger(round) || (round as number) < 0 || (round as number) > last)
      return fail(`its round ${JSON.stringify(round)} is not one of 0…${last}`);
    let r = round as number;
    if (!Number.isInteger(block) || (block as number) < 0 || (block as number) > layers) {
      return fail(`its block ${JSON.stringify(block)} is not one of 0…${layers}`);
    }
    let target = block as number;
    // A block in training has steps left (a finished one hands over to the next at once); past the last, none.
    const left = target < layers ? blockSteps(this.rounds[r]!, layers, target) : 0;
    if (target < layers ? c.step >= left : c.step !== 0) fail(`block ${target} is at its step ${c.step} of ${left}`);
    let before = 0;
    for (let i = 0; i < r; i++) before += this.rounds[i]!;
    for (let l = 0; l < target; l++) before += blockSteps(this.rounds[r]!, layers, l);
    if (runStep !== before + c.step)
      fail(
        `its run step ${JSON.stringify(runStep)} is not ${before} + ${c.step} (${this.rounds.length > 1 ? `round ${r}, ` : ""}block ${target}, of ${this.o.steps} steps)`,
      );
    // The blockwise steps draw from the batch pool, never from the cursor.
    if (c.cursor !== 0) fail(`its data cursor is ${c.cursor}, a blockwise run's is 0`);
    // A finished round hands over to the next one (a finished run extended): its block 0, from the start.
    const next = target === layers && r < last;
    // Load the values first (the state of block `target`), then replay the earlier pools and this round's
    // finished blocks' streams.
    const state = this.stateFor(target);
    restoreCheckpoint(this.student, state, c, this.others(target));
    if (next) [r, target] = [r + 1, 0];
    for (let i = 1; i <= r; i++) this.drawPool(i);
    for (let l = 0; l < target; l++) {
      this.prepareTargets(l);
      this.advancePool(l);
    }
    this.round = r;
    this.done = runStep as number;
    if (next) this.enterBlock(0);
    else {
      this.block = target;
      this.state = state;
      if (target < layers) this.prepareTargets(target);
    }
  }

  // ── phases ────────────────────────────────────────────────────────────────────────────────────────────

  /** Steps of block l in the current round. */
  private stepsOf(l: number): number {
    return blockSteps(this.rounds[this.round]!, this.student.blocks.length, l);
  }

  private phaseSchedule(l: number) {
    const steps = this.stepsOf(l);
    return { lr: this.o.lr, steps, warmup: Math.min(this.o.warmup, Math.max(0, steps - 1)) };
  }

  private stateFor(l: number): TrainState {
    const params = l < this.student.blocks.length ? blockParams(this.student.blocks[l]!) : [];
    return createTrainState(params, this.o.seed);
  }

  /** Trainable student parameters outside block l (checkpointed by value). */
  private others(l = this.block): Param[] {
    const mine = new Set(l < this.student.blocks.length ? blockParams(this.student.blocks[l]!) : []);
    return this.student.params.filter((p) => p.trainable && !mine.has(p));
  }

  private enterBlock(l: number): void {
    if (l >= this.student.blocks.length && this.round + 1 < this.rounds.length) {
      // The round is over and the run goes on: the next round starts at block 0 on its own pool.
      this.round++;
      this.drawPool(this.round);
      l = 0;
    }
    this.block = l;
    this.state = this.stateFor(l);
    if (l >= this.student.blocks.length) return;
    this.prepareTargets(l);
    // A block with no steps (fewer steps than blocks) is passed through untrained.
    if (this.stepsOf(l) === 0) this.finishBlock();
  }

  private finishBlock(): void {
    this.advancePool(this.block);
    this.enterBlock(this.block + 1);
  }

  /** Teacher block-l output of every pool batch (block l's targets for the whole phase). */
  private prepareTargets(l: number): void {
    const c = this.teacher.config;
    for (const e of this.pool) e.target = blockForward(c, this.teacher.blocks[l]!, e.teacherIn, e.batch.inputs.length, this.rope).out;
  }

  /** Block l is final: materialize it once and move both streams past it (the teacher's: its targets). */
  private advancePool(l: number): void {
    const w = this.student.blocks[l]!;
    for (const lin of blockLinears(w)) prepareLinear(lin);
    for (const e of this.pool) {
      const n = e.batch.inputs.length;
      e.teacherIn = e.target;
      e.studentIn = blockForward(this.student.config, w, e.studentIn, n, this.rope).out;
    }
  }
}
