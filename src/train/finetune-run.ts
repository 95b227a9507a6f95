// The fine-tuning run itself, on bytes and strings only, so that it runs wherever the engine does (Node, Deno, a
// browser worker): load the float teacher from its GGUF bytes, build its DLT student, get the data (text,
// tokens, or text sampled from the teacher), run the schedule with periodic checkpoints through a
// CheckpointStore (and resume from one), and hand back the student as a GGUF to write, its loss curve as SVG
// and, given an eval text, the perplexities before and after. finetune.ts is the Node wrapper over files.
//
// Stopping: when `signal` aborts, the loop stops between two steps, saves a checkpoint (so `resume` continues
// from exactly there) and throws OptionError "ABORTED".
import { yieldToEventLoop } from "../runtime/event-loop.ts";
import { CheckpointError, OptionError, TrainError } from "../runtime/errors.ts";
import { readGgufHeader } from "../runtime/gguf/reader.ts";
import { bytesSource } from "../runtime/gguf/sources.ts";
import type { GgufModel } from "../runtime/gguf/split.ts";
import type { GgufWriteInput } from "../runtime/gguf/writer.ts";
import { writeGgufToBytes } from "../runtime/gguf/writer.ts";
import { tokenizerFromGguf } from "../runtime/tokenizer/index.ts";
import { BlockwiseRun } from "./blockwise-run.ts";
import { type BlockLoss, blockLosses, blockwisePlan, phaseOfStep } from "./blockwise-plan.ts";
import { type Checkpoint, decodeCheckpoint } from "./checkpoint.ts";
import { sampleTeacherStream } from "./data-free.ts";
import { DLT_GROUPS } from "./dlt.ts";
import { perplexityOfGguf } from "./eval.ts";
import { type ExportFormat, EXPORT_FORMATS, exportStudent } from "./export.ts";
import { FullRun } from "./full-run.ts";
import { TrainKernels } from "./kernels.ts";
import { useTrainKernels } from "./matmul.ts";
import type { FeatureLoss } from "./loss.ts";
import { lossCurveSvg } from "./loss-curve.ts";
import { buildTrainModel, type TensorMap, type TrainModel } from "./model.ts";
import { calibrate } from "./calibration.ts";
import type { ModelConfig } from "../runtime/model/config.ts";
import { type SalientMetric, type SalientOptions, checkSalientOptions, salientMask } from "./salient.ts";
import { sha256Hex, sha256OfSource } from "./digest.ts";
import type { RunOptions, Schedule, TrainingRun } from "./run.ts";
import { loadFloatModel, ternaryTeacher } from "./teacher.ts";

/** Options common to every caller: the schedule, the losses, the optimizer and the run's size. */
export interface TrainingOptions {
  /** Training data already tokenized with the teacher's tokenizer; or text, or dataFree. */
  dataTokens?: Int32Array;
  dataFree?: boolean;
  /** Tokens to sample from the teacher for data-free runs (default min(steps·batch·seqLen, 65536)). */
  dataFreeTokens?: number;
  steps: number;
  mode?: Schedule;
  loss?: FeatureLoss;
  group?: number;
  /** Peak learning rate (default 1e-3 for both schedules; src/train/README.md, "OFF vs MSE in the blockwise schedule"). */
  lr?: number;
  warmup?: number;
  seqLen?: number;
  batch?: number;
  /** Full mode: λ of the cross-entropy and KL terms (defaults 1 and 0); the feature term has λ 1. */
  ce?: number;
  kl?: number;
  /** Full mode: the KL term's temperature τ (default 1; loss-kl.ts), needs kl > 0 when not 1. */
  klTemperature?: number;
  seed?: number;
  /** Save a checkpoint every N steps (0: never, except on abort). */
  checkpointEvery?: number;
  /** Continue from the store's checkpoint (built with the same options and data). */
  resume?: boolean;
  /** Score only the first N characters of the eval text (default all). */
  evalChars?: number;
  export?: ExportFormat;
  /** Threads for training (the matmul kernels), sampling and evaluation (default 1). Results do not depend on it. */
  threads?: number;
  /** PB-LLM's salient weights (salient.ts): the fraction of each block matrix kept out of the ternary groups (default none). */
  salient?: number;
  /** How they are chosen from the teacher's weights: magnitude (default) or hessian (calibrated on the training data). */
  salientMetric?: SalientMetric;
  /** Train the kept weights (default) or freeze them at the teacher's values. */
  salientTrain?: boolean;
}

/** Where checkpoints live: files in Node (checkpoint-file.ts), memory or storage elsewhere. */
export interface CheckpointStore {
  /** Says where, for messages ("run.gguf.ckpt"). */
  readonly name: string;
  /**
   * The checkpoints kept, newest first (the latest, then the one before it where the store keeps it); empty
   * when there is none. A resume takes the first that passes verification.
   */
  load(): Promise<StoredCheckpoint[]>;
  /** Must replace the previous checkpoint atomically: a run killed while saving keeps the old one. `step`: the run's. */
  save(c: Checkpoint, step: number): Promise<void>;
}

/** One kept checkpoint, read only when a resume tries it. */
export interface StoredCheckpoint {
  /** Says where, for messages ("run.gguf.ckpt.prev"). */
  readonly name: string;
  bytes(): Promise<Uint8Array>;
}

export interface FinetuneRunInput extends TrainingOptions {
  /** The float teacher: its GGUF bytes, or the model opened by source and header (read one tensor at a time). */
  teacher: Uint8Array | GgufModel;
  /** Training text (one of dataText, dataTokens, dataFree). */
  dataText?: string;
  /** Text to score before and after. */
  evalText?: string;
  checkpoints?: CheckpointStore;
}

export interface FinetuneProgress {
  step: number;
  steps: number;
  loss: number;
  /** The feature term (OFF or MSE). */
  off: number;
  ce: number;
  tokensPerSecond: number;
  etaSeconds: number;
  /**
   * Blockwise only: the step's block (0-based) of `blocks`, its step within that block (1-based) of
   * `blockSteps`, and the round (0 unless a finished run was extended). Each block has a loss of its own (its
   * output against the teacher's), so losses of different blocks do not compare: read `relativeLoss`.
   */
  block?: number;
  blocks?: number;
  blockStep?: number;
  blockSteps?: number;
  round?: number;
  /** Blockwise only: the loss of the block's first step (before any update of it). */
  blockStartLoss?: number;
  /** Blockwise only: loss / blockStartLoss (1 at each block's first step; below 1 is progress). */
  relativeLoss?: number;
}

export interface FinetuneHooks {
  onProgress?: (p: FinetuneProgress) => void;
  /** Phases before and after training ("load", "sample", "eval", "export"), for a UI. */
  onPhase?: (phase: string) => void;
  /**
   * Said to the user, not an error: e.g. that the latest checkpoint fails verification and the previous one
   * resumes, or (a warning, also in the result's `warnings`) that the teacher is ternary already.
   */
  onNotice?: (message: string) => void;
  signal?: AbortSignal;
}

/** What a run gives back, whatever the platform. */
export interface FinetuneRunResult {
  steps: number;
  mode: Schedule;
  /**
   * Mean loss over the last tenth of the steps. In the blockwise schedule those steps are the last block's
   * (each block has its own loss): read `blockLosses` for how every block's loss moved.
   */
  loss: number;
  /** Blockwise only: per block (and round), the loss at its first and last step and the relative change. */
  blockLosses?: BlockLoss[];
  /** The teacher's block matrices are ternary already (TQ1_0, TQ2_0, I2_S or a DLT student): see `warnings`. */
  teacherTernary: boolean;
  /** What the user should know about the run that is not an error (each also went to onNotice). */
  warnings: string[];
  evalPplTeacher: number | null;
  evalPplBefore: number | null;
  evalPplAfter: number | null;
  /** Training tokens per second of the steps run in this call. */
  tokensPerSecond: number;
  /** The student, ready for writeGgufFile / writeGgufToBytes. */
  student: GgufWriteInput;
  /** The loss per step as an SVG chart. */
  lossCurveSvg: string;
  /** --export tq2_0: relative error of folding the shifts away. */
  foldError?: number;
  losses: number[];
}

export interface ResolvedFinetuneOptions extends RunOptions {
  mode: Schedule;
  group: number;
  /** Absent: no salient weights. Part of the options a checkpoint records, so a resume with others is refused. */
  salient?: SalientOptions;
}

/** Checks options (OptionError naming the option) and fills in the defaults. */
export function resolveFinetuneOptions(o: TrainingOptions & { dataText?: string; data?: string }, contextLength: number): ResolvedFinetuneOptions {
  const bad = (msg: string): never => {
    throw new OptionError("BAD_OPTION", msg);
  };
  const int = (name: string, v: number | undefined, min: number, def: number) => {
    const x = v ?? def;
    if (!Number.isInteger(x) || x < min) bad(`${name} must be an integer ≥ ${min}, got ${x}`);
    return x;
  };
  const mode = o.mode ?? "blockwise";
  if (mode !== "blockwise" && mode !== "full") bad(`mode must be blockwise or full, got ${String(mode)}`);
  const feature = o.loss ?? "off";
  if (feature !== "off" && feature !== "mse") bad(`loss must be off or mse, got ${String(feature)}`);
  const group = o.group ?? 128;
  if (!DLT_GROUPS.includes(group)) bad(`group must be 64, 128 or 256, got ${group}`);
  const lr = o.lr ?? 1e-3;
  if (!(lr > 0 && Number.isFinite(lr))) bad(`lr must be a positive number, got ${lr}`);
  const seqLen = int("seqLen", o.seqLen, 2, Math.min(64, contextLength));
  if (seqLen > contextLength) bad(`seqLen ${seqLen} is longer than the teacher's context ${contextLength}`);
  if ([o.data ?? o.dataText, o.dataTokens, o.dataFree || undefined].filter((x) => x !== undefined).length !== 1)
    bad("give one of data (a text), dataTokens or dataFree");
  if (o.dataFreeTokens !== undefined) {
    if (!o.dataFree) bad("dataFreeTokens needs dataFree (it is how many tokens to sample from the teacher)");
    int("dataFreeTokens", o.dataFreeTokens, 1, 0);
  }
  if (o.export !== undefined && !EXPORT_FORMATS.includes(o.export))
    bad(`export must be one of ${EXPORT_FORMATS.join(", ")}, got ${String(o.export)}`);
  const steps = int("steps", o.steps, 1, 0);
  let salient: SalientOptions | undefined;
  if (o.salient !== undefined) {
    salient = { fraction: o.salient, metric: o.salientMetric ?? "magnitude", train: o.salientTrain ?? true };
    checkSalientOptions(salient);
  } else if (o.salientMetric !== undefined || o.salientTrain !== undefined) bad("salientMetric and salientTrain need salient (a fraction)");
  const ce = o.ce ?? 1;
  const kl = o.kl ?? 0;
  if (!(ce >= 0) || !(kl >= 0)) bad("ce and kl weights must be ≥ 0");
  const klTemperature = o.klTemperature ?? 1;
  if (!(klTemperature > 0 && Number.isFinite(klTemperature))) bad(`klTemperature must be a positive number, got ${klTemperature}`);
  if (klTemperature !== 1 && kl === 0) bad(`klTemperature ${klTemperature} needs a KL term (kl > 0)`);
  return {
    mode,
    group,
    steps,
    batch: int("batch", o.batch, 1, 8),
    seqLen,
    lr,
    warmup: int("warmup", o.warmup, 0, Math.min(20, Math.floor(steps / 10))),
    clip: 1,
    weightDecay: 0,
    sampling: "random",
    seed: int("seed", o.seed, 0, 1) >>> 0,
    // τ = 1 is left out, so that the options (and checkpoints) of runs without a temperature stay as they were
    loss: { off: 1, ce, kl, feature, ...(klTemperature !== 1 ? { klTemperature } : {}) },
    feature,
    ...(salient ? { salient } : {}),
  };
}

/** The token stream's sha256 (its little-endian i32 bytes): checkpoints refuse to resume on other data. */
function streamHash(tokens: Int32Array): string {
  return sha256Hex(new Uint8Array(tokens.buffer, tokens.byteOffset, tokens.byteLength));
}

/** The eval text's sha256 (UTF-8): the text whose perplexities a checkpoint keeps. */
function textHash(text: string): string {
  return sha256Hex(new TextEncoder().encode(text));
}

/** Training data given as tokens must be ids of the teacher's vocabulary. */
function checkDataTokens(tokens: unknown, vocabSize: number): Int32Array {
  if (!(tokens instanceof Int32Array)) throw new OptionError("BAD_OPTION", "dataTokens must be an Int32Array of token ids");
  const bad = tokens.findIndex((t) => t < 0 || t >= vocabSize);
  if (bad >= 0) throw new TrainError("BAD_TOKEN", `dataTokens[${bad}] is ${tokens[bad]}, outside the teacher's vocabulary of ${vocabSize}`);
  return tokens;
}

/** What a run's checkpoints record of where they come from: the teacher's and the token stream's sha256, the options. */
interface Origin {
  teacher: string;
  data: string;
  options: string;
}

/**
 * That a checkpoint was written by a run of this teacher, data and options (CheckpointError naming what
 * differs), and its loss history: returned, each a finite number, with the rounds of the run that continues it
 * (blockwise-plan.ts). Other steps than the checkpoint's run are an extension of that run once it is finished
 * (the warm-up, whose default follows the steps, may then differ too); fewer are refused.
 */
function verifyOrigin(c: Checkpoint, origin: Origin, steps: number): { history: number[]; rounds: number[] } {
  const { teacher, data, options } = c.meta;
  const short = (h: unknown) => (typeof h === "string" ? `sha256 ${h.slice(0, 12)}…` : JSON.stringify(h));
  if (teacher !== origin.teacher)
    throw new CheckpointError(`it was written with another teacher (${short(teacher)}, this one's ${short(origin.teacher)})`);
  if (data !== origin.data) throw new CheckpointError(`it was written with other training data (${short(data)}, these ${short(origin.data)})`);
  let rounds: number[];
  if (options !== origin.options) {
    const theirs = parseOptions(options);
    const theirSteps = theirs?.steps;
    const here = JSON.parse(origin.options) as Record<string, unknown>;
    const extension =
      theirs !== undefined &&
      Number.isInteger(theirSteps) &&
      theirSteps !== steps &&
      optionsDiff(JSON.stringify({ ...theirs, steps, warmup: here.warmup }), origin.options) === "";
    if (!extension) throw new CheckpointError(`it was written with other options: ${optionsDiff(options, origin.options)}`);
    const ran = theirSteps as number;
    const done = c.meta.schedule === "blockwise" ? c.meta.runStep : c.step;
    if (steps < ran)
      throw new CheckpointError(
        `its run has ${ran} steps (${JSON.stringify(done)} done), more than the ${steps} asked for: resume with ${ran} steps, or more to extend the finished run`,
      );
    if (done !== ran)
      throw new CheckpointError(
        `its run of ${ran} steps is at step ${JSON.stringify(done)}: resume with ${ran} steps to finish it first, then with more to extend it`,
      );
    rounds = [...checkpointRounds(c, ran), steps - ran];
  } else rounds = checkpointRounds(c, steps);
  let history: unknown;
  try {
    history = JSON.parse(String(c.meta.losses));
  } catch {
    history = c.meta.losses;
  }
  if (!Array.isArray(history) || !history.every((x) => typeof x === "number" && Number.isFinite(x)))
    throw new CheckpointError("its loss history is not a list of finite numbers");
  return { history: history as number[], rounds };
}

/** A checkpoint's options as an object, or undefined when they are not one. */
function parseOptions(options: unknown): Record<string, unknown> | undefined {
  try {
    const o = JSON.parse(String(options)) as unknown;
    return typeof o === "object" && o !== null && !Array.isArray(o) ? (o as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The rounds of a blockwise checkpoint's run of `steps` steps (meta.rounds once extended, else one round). */
function checkpointRounds(c: Checkpoint, steps: number): number[] {
  if (c.meta.rounds === undefined) return [steps];
  let rounds: unknown;
  try {
    rounds = JSON.parse(String(c.meta.rounds));
  } catch {
    rounds = c.meta.rounds;
  }
  if (
    c.meta.schedule !== "blockwise" ||
    !Array.isArray(rounds) ||
    rounds.length > steps ||
    !rounds.every((n) => Number.isInteger(n) && n >= 1) ||
    rounds.reduce((a: number, b: number) => a + b, 0) !== steps
  )
    throw new CheckpointError(`its rounds ${JSON.stringify(c.meta.rounds)} are not positive step counts adding up to its ${steps} steps`);
  return rounds as number[];
}

/** Names the options that differ ("lr 0.001 there, 0.02 here"). */
function optionsDiff(theirs: unknown, ours: string): string {
  let there: Record<string, unknown>;
  try {
    there = JSON.parse(String(theirs)) as Record<string, unknown>;
    if (typeof there !== "object" || there === null) throw new Error();
  } catch {
    return `the checkpoint's are ${JSON.stringify(theirs)?.slice(0, 200)}`;
  }
  const here = JSON.parse(ours) as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(there), ...Object.keys(here)])];
  const differ = keys.filter((k) => JSON.stringify(there[k]) !== JSON.stringify(here[k]));
  return differ.map((k) => `${k} ${JSON.stringify(there[k]) ?? "absent"} there, ${JSON.stringify(here[k]) ?? "absent"} here`).join("; ");
}

/**
 * The salient positions of each block matrix, chosen once from the teacher's weights (the same for every student
 * built in the call); the hessian metric calibrates on the first tokens of the training data.
 */
function studentSalientMasks(config: ModelConfig, tensors: TensorMap, tokens: Int32Array, o: SalientOptions) {
  const hessians = o.metric === "hessian" ? calibrate(config, tensors, { tokens }).hessians : undefined;
  const masks = new Map<string, Uint8Array>();
  return (name: string, w: ArrayLike<number>, rows: number, cols: number): Uint8Array => {
    let mask = masks.get(name);
    if (!mask) masks.set(name, (mask = salientMask(name, w, rows, cols, o, hessians?.get(name))));
    return mask.slice();
  };
}

export async function runFinetune(input: FinetuneRunInput, hooks: FinetuneHooks = {}): Promise<FinetuneRunResult> {
  // Every training matmul of the call — the run's setup and a resume's replay included — goes through the
  // same kernels, so that a resumed run computes exactly what an uninterrupted one did.
  const kernels = await TrainKernels.create({ threads: input.threads ?? 1 });
  const previous = useTrainKernels(kernels);
  try {
    return await train(input, hooks);
  } finally {
    useTrainKernels(previous);
    kernels.dispose();
  }
}

/** The teacher as source and header, whether it came as bytes or opened. */
async function teacherSource(teacher: Uint8Array | GgufModel): Promise<GgufModel> {
  if (!(teacher instanceof Uint8Array)) return teacher;
  const source = bytesSource(teacher);
  return { source, header: await readGgufHeader(source) };
}

async function train(input: FinetuneRunInput, hooks: FinetuneHooks): Promise<FinetuneRunResult> {
  const { signal } = hooks;
  const phase = (p: string) => hooks.onPhase?.(p);
  phase("load");
  const teacherModel = await teacherSource(input.teacher);
  const teacherFile = await loadFloatModel(teacherModel.source, teacherModel.header);
  const { config } = teacherFile;
  const o = resolveFinetuneOptions(input, config.contextLength);
  // A ternary teacher trains, but its student can only learn to copy a ternary model: say so, and go on.
  const warnings: string[] = [];
  const ternaryNote = ternaryTeacher(teacherModel.header);
  if (ternaryNote !== undefined) {
    warnings.push(
      `warning: the teacher is ternary already (${ternaryNote}): the student learns to copy a ternary model and will not be better than it; fine-tune from the float model it was made from`,
    );
    hooks.onNotice?.(warnings.at(-1)!);
  }
  const threads = input.threads ?? 1;
  const store = input.checkpoints;
  const checkpointEvery = input.checkpointEvery ?? 0;
  if (!Number.isInteger(checkpointEvery) || checkpointEvery < 0)
    throw new OptionError("BAD_OPTION", `checkpointEvery must be an integer ≥ 0, got ${checkpointEvery}`);
  if ((checkpointEvery > 0 || input.resume) && !store)
    throw new OptionError("BAD_OPTION", "checkpoints (checkpointEvery, resume) need a checkpoint store");
  const exportFormat = input.export ?? "dlt";
  // A resume without a checkpoint fails before any sampling or evaluation.
  const kept = input.resume ? await store!.load() : [];
  if (input.resume && kept.length === 0)
    throw new OptionError("NO_CHECKPOINT", `resume: there is no checkpoint at ${store!.name} (a run keeps one with checkpointEvery)`);

  // Data.
  let tokens: Int32Array;
  if (input.dataText !== undefined || input.dataTokens) {
    tokens = input.dataTokens
      ? checkDataTokens(input.dataTokens, config.vocabSize)
      : Int32Array.from(tokenizerFromGguf(teacherFile.header.metadata).encode(input.dataText!, { addBos: true }));
    if (tokens.length < o.seqLen + 1)
      throw new OptionError("TEXT_TOO_SHORT", `the training data has ${tokens.length} tokens, fewer than one window of ${o.seqLen} + 1`);
  } else {
    phase("sample");
    const n = input.dataFreeTokens ?? Math.min(o.steps * o.batch * o.seqLen, 65536);
    tokens = await sampleTeacherStream(teacherModel.source, {
      header: teacherModel.header,
      tokens: Math.max(n, o.seqLen + 1),
      seed: o.seed,
      threads,
      signal,
    });
  }
  const evalText = input.evalText !== undefined ? input.evalText.slice(0, input.evalChars ?? Infinity) : null;

  // Models and run.
  const teacher = buildTrainModel(config, teacherFile.tensors, { precision: "f32" });
  const salientMasks = o.salient ? studentSalientMasks(config, teacherFile.tensors, tokens, o.salient) : undefined;
  const buildStudent = () =>
    buildTrainModel(config, teacherFile.tensors, {
      precision: "f32",
      dlt: { group: o.group, refine: true, ...(salientMasks ? { salient: { mask: salientMasks, train: o.salient!.train } } : {}) },
      train: o.mode === "full" ? { matrices: true, alpha: true, gamma: true, norms: true } : { alpha: true, gamma: true, norms: true },
    });
  const makeRun = (student: TrainModel, rounds = [o.steps]): TrainingRun =>
    o.mode === "blockwise" ? new BlockwiseRun(student, teacher, tokens, o, undefined, rounds) : new FullRun(student, teacher, tokens, o);
  const studentBytes = async (student: TrainModel) => writeGgufToBytes(exportStudent(student, teacherFile.header, teacherFile.tensors, "dlt").input);
  const { mode: _m, ...runOptions } = o;
  // What a checkpoint must have been written with to continue this run: the same teacher, data and options.
  // Hashed on first use (a resume or a save): a run that keeps no checkpoint does not read the teacher twice.
  let origin: Origin | undefined;
  const runOrigin = async (): Promise<Origin> =>
    (origin ??= { teacher: await sha256OfSource(teacherModel.source), data: streamHash(tokens), options: JSON.stringify(runOptions) });

  // Resume from the newest kept checkpoint that passes every check; a failed one leaves a student and run that
  // are built again.
  let student = buildStudent();
  let run = makeRun(student);
  let losses: number[] = [];
  let resumeFrom: Checkpoint | undefined;
  for (const [i, candidate] of kept.entries()) {
    try {
      const c = decodeCheckpoint(await candidate.bytes());
      const { history, rounds } = verifyOrigin(c, await runOrigin(), o.steps);
      // An extended blockwise run has one round more than the fresh run built before.
      if (run instanceof BlockwiseRun && rounds.join() !== run.rounds.join()) run = makeRun(student, rounds);
      run.restore(c);
      if (history.length !== run.step) throw new CheckpointError(`its loss history holds ${history.length} steps, its run ${run.step}`);
      losses = history;
      resumeFrom = c;
      break;
    } catch (e) {
      if (!(e instanceof CheckpointError)) throw e;
      const why = `${candidate.name} fails verification: ${e.message}`;
      const next = kept[i + 1];
      if (!next) throw new CheckpointError(why);
      hooks.onNotice?.(`${why}; resuming from the previous checkpoint ${next.name}`);
      student = buildStudent();
      run = makeRun(student);
    }
  }

  // The perplexities before training are the checkpoint's when resuming with the same eval text (the same
  // models: not scored again).
  const evalKey = evalText ? textHash(evalText) : null;
  const stored = (key: string) =>
    evalKey !== null && resumeFrom?.meta.evalText === evalKey && typeof resumeFrom.meta[key] === "number" ? (resumeFrom.meta[key] as number) : null;
  let evalPplTeacher = stored("evalPplTeacher");
  let evalPplBefore = stored("evalPplBefore");
  if (evalText && (evalPplTeacher === null || evalPplBefore === null)) {
    phase("eval");
    evalPplTeacher = (await perplexityOfGguf(teacherModel, evalText, { threads, signal })).ppl;
    // "Before" is the untrained student: a resumed one has moved on, so score one built afresh.
    evalPplBefore = (await perplexityOfGguf(await studentBytes(resumeFrom ? buildStudent() : student), evalText, { threads, signal })).ppl;
  }

  const saveCheckpoint = async () => {
    if (!store) return;
    const c = run.checkpoint();
    Object.assign(c.meta, await runOrigin());
    if (evalKey !== null && evalPplTeacher !== null && evalPplBefore !== null) {
      Object.assign(c.meta, { evalText: evalKey, evalPplTeacher, evalPplBefore });
    }
    c.meta.losses = JSON.stringify(losses);
    await store.save(c, run.step);
  };

  // Training. Blockwise steps are reported against their own block's first loss (blockwise-plan.ts).
  const plan = run instanceof BlockwiseRun ? blockwisePlan(run.rounds, student.blocks.length) : null;
  const blockProgress = (step: number, loss: number) => {
    if (!plan) return {};
    const p = phaseOfStep(plan, step - 1);
    const start = losses[p.from]!;
    return {
      block: p.block,
      blocks: student.blocks.length,
      blockStep: step - p.from,
      blockSteps: p.steps,
      round: p.round,
      blockStartLoss: start,
      relativeLoss: loss / start,
    };
  };
  const t0 = performance.now();
  const firstStep = run.step;
  while (run.step < run.steps) {
    if (signal?.aborted) {
      await saveCheckpoint();
      const resumable = store ? `; the checkpoint ${store.name} resumes it` : "";
      throw new OptionError("ABORTED", `fine-tuning was aborted at step ${run.step} of ${run.steps}${resumable}`);
    }
    const m = run.next();
    losses.push(m.loss);
    if (checkpointEvery > 0 && run.step % checkpointEvery === 0 && run.step < run.steps) await saveCheckpoint();
    const seconds = (performance.now() - t0) / 1000;
    const done = run.step - firstStep;
    const tokensPerSecond = (done * run.tokensPerStep) / Math.max(seconds, 1e-9);
    hooks.onProgress?.({
      step: run.step,
      steps: run.steps,
      loss: m.loss,
      off: m.off,
      ce: m.ce,
      tokensPerSecond,
      etaSeconds: (seconds / done) * (run.steps - run.step),
      ...blockProgress(run.step, m.loss),
    });
    // Every step (a step takes milliseconds, a turn of the event loop microseconds): an abort sent to a worker
    // as a message is seen at the next step.
    await yieldToEventLoop();
  }
  const trainSeconds = (performance.now() - t0) / 1000;
  const ranSteps = run.step - firstStep;
  if (checkpointEvery > 0) await saveCheckpoint();

  // Export and evaluation.
  phase("export");
  const exported = exportStudent(student, teacherFile.header, teacherFile.tensors, exportFormat);
  let evalPplAfter: number | null = null;
  if (evalText) {
    phase("eval");
    // the export just made is the DLT file itself unless another format was asked for
    const scored = exportFormat === "dlt" ? await writeGgufToBytes(exported.input) : await studentBytes(student);
    evalPplAfter = (await perplexityOfGguf(scored, evalText, { threads, signal })).ppl;
  }
  const tail = losses.slice(-Math.max(1, Math.floor(losses.length / 10)));
  return {
    steps: o.steps,
    mode: o.mode,
    loss: tail.reduce((a, b) => a + b, 0) / tail.length,
    evalPplTeacher,
    evalPplBefore,
    evalPplAfter,
    tokensPerSecond: ranSteps > 0 ? (ranSteps * run.tokensPerStep) / trainSeconds : 0,
    student: exported.input,
    lossCurveSvg: lossCurveSvg(losses, `${o.mode} ${o.feature.toUpperCase()}, ${o.steps} steps`, plan ?? undefined),
    ...(plan ? { blockLosses: blockLosses(plan, losses) } : {}),
    teacherTernary: ternaryNote !== undefined,
    warnings,
    ...(exported.foldError !== undefined ? { foldError: exported.foldError } : {}),
    losses,
  };
}
