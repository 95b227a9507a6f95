// Run drivers on a tiny random model, for the tests of interrupted and resumed training (train-runs,
// train-checkpoint-verify): a teacher, a token stream, and fresh blockwise and full runs over students built
// the same way each time, so that two runs given the same steps end with the same bytes.
import { BlockwiseRun } from "../../src/train/blockwise-run.ts";
import { FullRun } from "../../src/train/full-run.ts";
import { type BuildOptions, buildTrainModel, modelLinears, type TrainModel } from "../../src/train/model.ts";
import type { RunOptions, TrainingRun } from "../../src/train/run.ts";
import { randomTokens, tinyConfig, tinyTensors } from "./train-fixtures.ts";

/** Blockwise students train α, γ and norms; full students also the matrices. */
export const LIGHT: BuildOptions = { precision: "f32", dlt: { group: 64, refine: true }, train: { alpha: true, gamma: true, norms: true } };
export const FULL: BuildOptions = { precision: "f32", dlt: { group: 64 }, train: { matrices: true, alpha: true, gamma: true, norms: true } };

/**
 * The run options the tiny-model run tests share (2 sequences of 8 tokens a step, lr 1e-2, CE + OFF), with the
 * fields a test sets itself: at least its number of steps.
 */
export function tinyRunOptions(o: Partial<RunOptions> & { steps: number }): RunOptions {
  return {
    batch: 2,
    seqLen: 8,
    lr: 1e-2,
    warmup: 1,
    clip: 1,
    weightDecay: 0.01,
    sampling: "random",
    seed: 5,
    loss: { off: 1, ce: 1, kl: 0, feature: "off" },
    feature: "off",
    ...o,
  };
}

export type MakeRun = (o?: Partial<RunOptions>) => { run: TrainingRun; student: TrainModel };

export interface TinyRuns {
  config: ReturnType<typeof tinyConfig>;
  tensors: ReturnType<typeof tinyTensors>;
  stream: Int32Array;
  teacher: TrainModel;
  blockwise: MakeRun;
  full: MakeRun;
}

/**
 * A 3-layer llama-like teacher (weights from `seeds.tensors`), a stream of `seeds.streamLength` random tokens,
 * and run makers with `options` (overridable per run); `blockwiseArg` is BlockwiseRun's last argument.
 */
export function tinyRuns(seeds: { tensors: number; stream: number; streamLength: number }, options: RunOptions, blockwiseArg: number): TinyRuns {
  const config = tinyConfig("llama", { layers: 3 });
  const tensors = tinyTensors(config, seeds.tensors);
  const stream = randomTokens(seeds.streamLength, config.vocabSize, seeds.stream);
  const teacher = buildTrainModel(config, tensors, { precision: "f32" });
  return {
    config,
    tensors,
    stream,
    teacher,
    blockwise: (o = {}) => {
      const student = buildTrainModel(config, tensors, LIGHT);
      return { run: new BlockwiseRun(student, teacher, stream, { ...options, ...o }, blockwiseArg), student };
    },
    full: (o = {}) => {
      const student = buildTrainModel(config, tensors, FULL);
      return { run: new FullRun(student, teacher, stream, { ...options, ...o }), student };
    },
  };
}

/** Every parameter's and code's bytes as one string (two students compared with ===). */
export function snapshot(m: TrainModel): string {
  const parts = m.params.map((p) => Buffer.from(p.value.buffer, p.value.byteOffset, p.value.byteLength));
  for (const l of modelLinears(m)) if (l.kind === "dlt") parts.push(Buffer.from(l.ternary.codes.buffer));
  return Buffer.concat(parts).toString("base64");
}
