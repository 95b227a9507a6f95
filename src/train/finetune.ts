// Fine-tuning as one call on files (Node): `finetune(options, { onProgress, signal })` opens the float teacher
// (a path, the first part of a split model finding the others beside it; read one tensor at a time, never
// whole), reads the training and eval texts, runs finetune-run.ts with checkpoints in a file written atomically (temp file,
// fsync, rename: a SIGKILL at any moment leaves the last checkpoint intact), then writes the student GGUF
// (atomically) and a loss-curve SVG beside it. The CLI (`ternion finetune`) is a thin wrapper around it; other
// platforms call runFinetune with bytes.
import { readFile } from "node:fs/promises";
import { writeFileAtomic } from "../runtime/atomic-file-node.ts";
import { openFileSource } from "../runtime/gguf/source-node.ts";
import { type GgufModel, openGgufModel } from "../runtime/gguf/split.ts";
import { writeGgufFile } from "../runtime/gguf/writer-node.ts";
import { fileCheckpointStore } from "./checkpoint-file.ts";
import { type FinetuneHooks, type FinetuneRunResult, runFinetune, type TrainingOptions } from "./finetune-run.ts";

export type { FinetuneHooks } from "./finetune-run.ts";

export interface FinetuneOptions extends TrainingOptions {
  /** Float teacher GGUF: a path (a split model's first part), or a model opened already (then not closed here). */
  teacher: string | GgufModel;
  /** Training text (path); or `dataTokens`, or `dataFree`. */
  data?: string;
  /** Student GGUF to write (atomically). */
  out: string;
  /** Checkpoint path (default `<out>.ckpt`; the one before it is kept at `<path>.prev`, see checkpoint-file.ts). */
  checkpoint?: string;
  /** Text (path) to score before and after. */
  eval?: string;
}

export interface FinetuneResult extends Omit<FinetuneRunResult, "student" | "lossCurveSvg"> {
  out: string;
  /** The loss-curve SVG written beside `out`. */
  lossCurve: string;
  checkpoint: string;
}

export async function finetune(options: FinetuneOptions, hooks: FinetuneHooks = {}): Promise<FinetuneResult> {
  const { teacher } = options;
  const model = typeof teacher === "string" ? await openTeacherFile(teacher) : teacher;
  try {
    return await finetuneFrom(model, options, hooks);
  } finally {
    if (model !== teacher) await model.source.close?.();
  }
}

/** The teacher at `path`, with the other parts of a split model found beside it. */
async function openTeacherFile(path: string): Promise<GgufModel> {
  const first = await openFileSource(path);
  try {
    return await openGgufModel(first, path, openFileSource);
  } catch (e) {
    await first.close();
    throw e;
  }
}

async function finetuneFrom(teacher: GgufModel, options: FinetuneOptions, hooks: FinetuneHooks): Promise<FinetuneResult> {
  const { teacher: _opened, data, out, eval: evalPath, ...training } = options;
  const checkpoint = options.checkpoint ?? `${out}.ckpt`;
  const r = await runFinetune(
    {
      ...training,
      teacher,
      ...(data !== undefined ? { dataText: await readFile(data, "utf8") } : {}),
      ...(evalPath !== undefined ? { evalText: await readFile(evalPath, "utf8") } : {}),
      checkpoints: fileCheckpointStore(checkpoint),
    },
    hooks,
  );
  const { student, lossCurveSvg, ...result } = r;
  await writeGgufFile(out, student);
  const lossCurve = out.replace(/\.gguf$/i, "") + ".loss.svg";
  await writeFileAtomic(lossCurve, (sink) => sink(new TextEncoder().encode(lossCurveSvg)));
  return { ...result, out, lossCurve, checkpoint };
}
