// The small stories260K fine-tune that the resume tests share: the teacher from ../shared, 6 full-schedule steps of
// 1 × 16 tokens of tinystories_sample.txt, a checkpoint after every step into `checkpoints`.
import { readFileSync } from "node:fs";
import { encodeCheckpoint } from "../../src/train/checkpoint.ts";
import type { CheckpointStore, FinetuneRunInput } from "../../src/train/finetune-run.ts";
import { sharedPath } from "./shared.ts";

const teacher = new Uint8Array(readFileSync(sharedPath("models/stories260K.gguf")));
const dataText = readFileSync(sharedPath("corpus/tinystories_sample.txt"), "utf8");

/** The run's input, with `o` over the defaults. */
export function stories260KRun(o: Partial<FinetuneRunInput>, checkpoints: CheckpointStore): FinetuneRunInput {
  return { teacher, dataText, steps: 6, mode: "full", group: 64, batch: 1, seqLen: 16, seed: 3, checkpointEvery: 1, checkpoints, ...o };
}

/** A store that keeps the checkpoint saved after `step` (kept(), once the run is over) and offers none to resume from. */
export function keepingStep(step: number): CheckpointStore & { kept(): Uint8Array } {
  let bytes: Uint8Array | undefined;
  return {
    name: "first",
    load: async () => [],
    save: async (c, s) => {
      if (s === step) bytes = encodeCheckpoint(c);
    },
    kept: () => {
      if (bytes === undefined) throw new Error(`no checkpoint was saved after step ${step}`);
      return bytes;
    },
  };
}

/** A store that offers these checkpoint bytes to resume from and keeps nothing. */
export function offering(bytes: Uint8Array): CheckpointStore {
  return { name: "offered", load: async () => [{ name: "kept", bytes: async () => bytes }], save: async () => {} };
}
