// Fine-tuning as one call on files (Node): `finetune(options, { onProgress, signal })` reads the float teacher,
// the training and eval texts, runs finetune-run.ts with checkpoints in a file written atomically (temp file,
// fsync, rename: a SIGKILL at any moment leaves the last checkpoint intact), then writes the student GGUF
// (atomically) and a loss-curve SVG beside it. The CLI (`ternion finetune`) is a thin wrapper around it; other
// platforms call runFinetune with bytes.
import { readFile } from "node:fs/promises";
import { writeFileAtomic } from "../runtime/atomic-file-node.ts";
import { writeGgufFile } from "../runtime/gguf/writer-node.ts";
import { fileCheckpointStore } from "./checkpoint-file.ts";
import { type FinetuneHooks, type FinetuneRunResult, runFinetune, type TrainingOptions } from "./finetune-run.ts";

export type { FinetuneHooks } from "./finetune-run.ts";

export interface FinetuneOptions extends TrainingOptions {
  /** Float teacher GGUF (path). */
  teacher: string;
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
  const { teacher, data, out, eval: evalPath, ...training } = options;
  const checkpoint = options.checkpoint ?? `${out}.ckpt`;
  const r = await runFinetune(
    {
      ...training,
      teacher: new Uint8Array(await readFile(teacher)),
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
