// Fine-tuning as one call: `finetune(options, { onProgress, signal })` loads the float teacher, builds its
// DLT student, gets the data (a text file, or text sampled from the teacher), runs the chosen schedule with
// periodic atomic checkpoints (and `resume` from one), then exports the student as GGUF with a loss-curve SVG
// beside it and, given an eval text, the perplexities before and after. The CLI (`ternion finetune`) and the
// worker engine's `engine.finetune` are thin wrappers around it. Node only (it reads and writes files).
//
// Stopping: when `signal` aborts, the loop stops between two steps, writes a checkpoint (so `resume`
// continues from exactly there) and throws OptionError "ABORTED". A SIGKILL at any moment leaves the last
// periodic checkpoint intact (checkpoint-file.ts writes atomically).
import { readFile, writeFile, rename } from "node:fs/promises";
import { existsSync } from "node:fs";
import { ModelError, OptionError } from "../runtime/errors.ts";
import { openFileSource } from "../runtime/gguf/source-node.ts";
import { bytesSource } from "../runtime/gguf/sources.ts";
import { writeGgufFile } from "../runtime/gguf/writer-node.ts";
import { writeGgufToBytes } from "../runtime/gguf/writer.ts";
import { tokenizerFromGguf } from "../runtime/tokenizer/index.ts";
import { BlockwiseRun } from "./blockwise-run.ts";
import { readCheckpointFile, writeCheckpointFile } from "./checkpoint-file.ts";
import { sampleTeacherStream } from "./data-free.ts";
import { DLT_GROUPS } from "./dlt.ts";
import { perplexityOfGguf } from "./eval.ts";
import { type ExportFormat, EXPORT_FORMATS, exportStudent } from "./export.ts";
import { FullRun } from "./full-run.ts";
import { TrainKernels } from "./kernels.ts";
import { useTrainKernels } from "./matmul.ts";
import type { FeatureLoss } from "./loss.ts";
import { lossCurveSvg } from "./loss-curve.ts";
import { buildTrainModel } from "./model.ts";
import type { RunOptions, Schedule, TrainingRun } from "./run.ts";
import { type FloatModel, loadFloatModel } from "./teacher.ts";

export interface FinetuneOptions {
  /** Float teacher GGUF (path). */
  teacher: string;
  /** Training text (path); or `dataTokens`, or `dataFree`. */
  data?: string;
  /** Training data already tokenized with the teacher's tokenizer (a caller that holds it in memory). */
  dataTokens?: Int32Array;
  dataFree?: boolean;
  /** Tokens to sample from the teacher for data-free runs (default min(steps·batch·seqLen, 65536)). */
  dataFreeTokens?: number;
  steps: number;
  /** Student GGUF to write (atomically). */
  out: string;
  mode?: Schedule;
  loss?: FeatureLoss;
  group?: number;
  /** Peak learning rate (default 5e-3 blockwise, 1e-3 full). */
  lr?: number;
  warmup?: number;
  seqLen?: number;
  batch?: number;
  /** Full mode: λ of the cross-entropy and KL terms (defaults 1 and 0); the feature term has λ 1. */
  ce?: number;
  kl?: number;
  seed?: number;
  /** Write a checkpoint every N steps (0: never, except on abort). */
  checkpointEvery?: number;
  /** Checkpoint path (default `<out>.ckpt`). */
  checkpoint?: string;
  /** Continue from the checkpoint (built with the same options and data). */
  resume?: boolean;
  /** Text (path) to score before and after. */
  eval?: string;
  /** Score only the first N characters of the eval text (default all). */
  evalChars?: number;
  export?: ExportFormat;
  /** Threads for training (the matmul kernels), sampling and evaluation (default 1). Results do not depend on it. */
  threads?: number;
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
}

export interface FinetuneHooks {
  onProgress?: (p: FinetuneProgress) => void;
  /** Phases before and after training ("load", "sample", "eval", "export"), for a UI. */
  onPhase?: (phase: string) => void;
  signal?: AbortSignal;
}

export interface FinetuneResult {
  steps: number;
  mode: Schedule;
  /** Mean loss over the last tenth of the steps. */
  loss: number;
  evalPplTeacher: number | null;
  evalPplBefore: number | null;
  evalPplAfter: number | null;
  /** Training tokens per second of the steps run in this call. */
  tokensPerSecond: number;
  out: string;
  lossCurve: string;
  checkpoint: string;
  /** --export tq2_0: relative error of folding the shifts away. */
  foldError?: number;
  losses: number[];
}

export interface ResolvedFinetuneOptions extends RunOptions {
  mode: Schedule;
  group: number;
}

/** Checks options (OptionError naming the option) and fills in the defaults. */
export function resolveFinetuneOptions(o: FinetuneOptions, contextLength: number): ResolvedFinetuneOptions {
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
  const lr = o.lr ?? (mode === "blockwise" ? 5e-3 : 1e-3);
  if (!(lr > 0 && Number.isFinite(lr))) bad(`lr must be a positive number, got ${lr}`);
  const seqLen = int("seqLen", o.seqLen, 2, Math.min(64, contextLength));
  if (seqLen > contextLength) bad(`seqLen ${seqLen} is longer than the teacher's context ${contextLength}`);
  if ([o.data, o.dataTokens, o.dataFree || undefined].filter((x) => x !== undefined).length !== 1) bad("give one of data (a text file), dataTokens or dataFree");
  if (o.export !== undefined && !EXPORT_FORMATS.includes(o.export)) bad(`export must be one of ${EXPORT_FORMATS.join(", ")}, got ${String(o.export)}`);
  const steps = int("steps", o.steps, 1, 0);
  const ce = o.ce ?? 1;
  const kl = o.kl ?? 0;
  if (!(ce >= 0) || !(kl >= 0)) bad("ce and kl weights must be ≥ 0");
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
    loss: { off: 1, ce, kl, feature },
    feature,
  };
}

/** FNV-1a over the token stream: checkpoints refuse to resume on other data. */
function streamHash(tokens: Int32Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < tokens.length; i++) h = Math.imul(h ^ tokens[i]!, 0x01000193) >>> 0;
  return `${tokens.length}:${h.toString(16)}`;
}

async function loadTeacher(path: string): Promise<{ model: FloatModel; bytes: Uint8Array }> {
  const bytes = new Uint8Array(await readFile(path));
  return { model: await loadFloatModel(bytesSource(bytes)), bytes };
}

export async function finetune(options: FinetuneOptions, hooks: FinetuneHooks = {}): Promise<FinetuneResult> {
  // Every training matmul of the call — the run's setup and a resume's replay included — goes through the
  // same kernels, so that a resumed run computes exactly what an uninterrupted one did.
  const kernels = await TrainKernels.create({ threads: options.threads ?? 1 });
  const previous = useTrainKernels(kernels);
  try {
    return await runFinetune(options, hooks);
  } finally {
    useTrainKernels(previous);
    kernels.dispose();
  }
}

async function runFinetune(options: FinetuneOptions, hooks: FinetuneHooks): Promise<FinetuneResult> {
  const { signal } = hooks;
  const phase = (p: string) => hooks.onPhase?.(p);
  phase("load");
  const { model: teacherFile, bytes: teacherBytes } = await loadTeacher(options.teacher);
  const { config } = teacherFile;
  const o = resolveFinetuneOptions(options, config.contextLength);
  const threads = options.threads ?? 1;
  const checkpointPath = options.checkpoint ?? `${options.out}.ckpt`;
  const checkpointEvery = options.checkpointEvery ?? 0;
  if (!Number.isInteger(checkpointEvery) || checkpointEvery < 0) throw new OptionError("BAD_OPTION", `checkpointEvery must be an integer ≥ 0, got ${checkpointEvery}`);
  if (options.resume && !existsSync(checkpointPath)) throw new OptionError("NO_CHECKPOINT", `resume: there is no checkpoint at ${checkpointPath}`);
  const exportFormat = options.export ?? "dlt";

  // Data.
  let tokens: Int32Array;
  const tokenizer = tokenizerFromGguf(teacherFile.header.metadata);
  if (options.data !== undefined || options.dataTokens) {
    tokens = options.dataTokens ?? Int32Array.from(tokenizer.encode(await readFile(options.data!, "utf8"), { addBos: true }));
    if (tokens.length < o.seqLen + 1) throw new OptionError("TEXT_TOO_SHORT", `the training data has ${tokens.length} tokens, fewer than one window of ${o.seqLen} + 1`);
  } else {
    phase("sample");
    const n = options.dataFreeTokens ?? Math.min(o.steps * o.batch * o.seqLen, 65536);
    tokens = await sampleTeacherStream(bytesSource(teacherBytes), { tokens: Math.max(n, o.seqLen + 1), seed: o.seed, threads, signal });
  }
  const evalText = options.eval ? (await readFile(options.eval, "utf8")).slice(0, options.evalChars ?? Infinity) : null;

  // Models and run.
  const teacher = buildTrainModel(config, teacherFile.tensors, { precision: "f32" });
  const student = buildTrainModel(config, teacherFile.tensors, {
    precision: "f32",
    dlt: { group: o.group, refine: true },
    train: o.mode === "full" ? { matrices: true, alpha: true, gamma: true, norms: true } : { alpha: true, gamma: true, norms: true },
  });
  const studentBytes = async () => writeGgufToBytes(exportStudent(student, teacherFile.header, teacherFile.tensors, "dlt").input);

  let evalPplTeacher: number | null = null;
  let evalPplBefore: number | null = null;
  if (evalText) {
    phase("eval");
    evalPplTeacher = (await perplexityOfGguf(teacherBytes, evalText, { threads, signal })).ppl;
    evalPplBefore = (await perplexityOfGguf(await studentBytes(), evalText, { threads, signal })).ppl;
  }

  const run: TrainingRun = o.mode === "blockwise" ? new BlockwiseRun(student, teacher, tokens, o) : new FullRun(student, teacher, tokens, o);
  const { mode: _m, ...runOptions } = o;
  const fingerprint = JSON.stringify({ runOptions, data: streamHash(tokens), teacher: teacherBytes.length });
  const losses: number[] = [];
  if (options.resume) {
    const c = await readCheckpointFile(checkpointPath);
    if (c.meta.fingerprint !== fingerprint) {
      throw new ModelError("CHECKPOINT_MISMATCH", `${checkpointPath} was written by a run with other options, teacher or data; it cannot be resumed with these`);
    }
    run.restore(c);
    losses.push(...(JSON.parse(String(c.meta.losses ?? "[]")) as number[]));
  }
  const saveCheckpoint = async () => {
    const c = run.checkpoint();
    c.meta.fingerprint = fingerprint;
    c.meta.losses = JSON.stringify(losses);
    await writeCheckpointFile(checkpointPath, c);
  };

  // Training.
  const t0 = performance.now();
  const firstStep = run.step;
  while (run.step < run.steps) {
    if (signal?.aborted) {
      await saveCheckpoint();
      throw new OptionError("ABORTED", `fine-tuning was aborted at step ${run.step} of ${run.steps}; the checkpoint ${checkpointPath} resumes it`);
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
    });
    // Let an AbortSignal from another task (a timer, a worker message) fire between steps.
    if ((run.step & 7) === 0) await new Promise((r) => setImmediate(r));
  }
  const trainSeconds = (performance.now() - t0) / 1000;
  const ranSteps = run.step - firstStep;
  if (checkpointEvery > 0) await saveCheckpoint();

  // Export and evaluation.
  phase("export");
  const exported = exportStudent(student, teacherFile.header, teacherFile.tensors, exportFormat);
  await writeGgufFile(options.out, exported.input);
  const lossCurve = options.out.replace(/\.gguf$/i, "") + ".loss.svg";
  const svgTmp = `${lossCurve}.${process.pid}.tmp`;
  await writeFile(svgTmp, lossCurveSvg(losses, `${o.mode} ${o.feature.toUpperCase()}, ${o.steps} steps`));
  await rename(svgTmp, lossCurve);
  let evalPplAfter: number | null = null;
  if (evalText) {
    phase("eval");
    evalPplAfter = (await perplexityOfGguf(await studentBytes(), evalText, { threads, signal })).ppl;
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
    out: options.out,
    lossCurve,
    checkpoint: checkpointPath,
    ...(exported.foldError !== undefined ? { foldError: exported.foldError } : {}),
    losses,
  };
}
