// The small stories260K fine-tune that the resume tests share: the teacher from ../shared, 6 full-schedule steps of
// 1 × 16 tokens of tinystories_sample.txt, a checkpoint after every step into `checkpoints`.
import { readFileSync } from "node:fs";
import type { CheckpointStore, FinetuneRunInput } from "../../src/train/finetune-run.ts";
import { sharedPath } from "./shared.ts";

const teacher = new Uint8Array(readFileSync(sharedPath("models/stories260K.gguf")));
const dataText = readFileSync(sharedPath("corpus/tinystories_sample.txt"), "utf8");

/** The run's input, with `o` over the defaults. */
export function stories260KRun(o: Partial<FinetuneRunInput>, checkpoints: CheckpointStore): FinetuneRunInput {
  return { teacher, dataText, steps: 6, mode: "full", group: 64, batch: 1, seqLen: 16, seed: 3, checkpointEvery: 1, checkpoints, ...o };
}
