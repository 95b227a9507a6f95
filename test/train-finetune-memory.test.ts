// runFinetune on bytes and strings alone (what a browser or Deno worker calls): no file system, checkpoints in
// a caller's store. A run aborted mid-way saves a checkpoint there, and resuming from it gives the student
// bytes of an uninterrupted run; the student loads in the CPU engine.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CpuModel } from "../src/runtime/cpu/model.ts";
import { OptionError } from "../src/runtime/errors.ts";
import { bytesSource } from "../src/runtime/gguf/sources.ts";
import { writeGgufToBytes } from "../src/runtime/gguf/writer.ts";
import { type Checkpoint, encodeCheckpoint } from "../src/train/checkpoint.ts";
import { type CheckpointStore, runFinetune, type FinetuneRunInput } from "../src/train/finetune-run.ts";
import { sharedPath } from "./helpers/shared.ts";

const teacher = new Uint8Array(readFileSync(sharedPath("models/stories260K.gguf")));
const dataText = readFileSync(sharedPath("corpus/tinystories_sample.txt"), "utf8");

/** Keeps the checkpoint as encoded bytes, as a store backed by IndexedDB or a download would. */
function memoryStore(): CheckpointStore & { saves: number } {
  let bytes: Uint8Array | undefined;
  return {
    name: "memory",
    saves: 0,
    load: async () => (bytes ? [{ name: "memory", bytes: async () => bytes! }] : []),
    async save(c: Checkpoint) {
      bytes = encodeCheckpoint(c);
      this.saves++;
    },
  };
}

const input = (store?: CheckpointStore): FinetuneRunInput => ({
  teacher,
  dataText,
  steps: 24,
  mode: "blockwise",
  group: 64,
  batch: 2,
  seqLen: 32,
  seed: 9,
  checkpointEvery: 8,
  checkpoints: store,
});

describe("runFinetune (in memory)", () => {
  it("aborted and resumed from the caller's store, it ends with the bytes of an uninterrupted run", async () => {
    const straight = await runFinetune(input(memoryStore()));
    const straightBytes = await writeGgufToBytes(straight.student);

    const store = memoryStore();
    const controller = new AbortController();
    const aborted = await runFinetune(input(store), { signal: controller.signal, onProgress: (p) => p.step === 13 && controller.abort() }).catch(
      (e: unknown) => e,
    );
    expect(aborted).toBeInstanceOf(OptionError);
    expect(aborted).toMatchObject({ code: "ABORTED" });
    expect(store.saves).toBe(2); // the periodic one at step 8, then the one on abort
    const resumed = await runFinetune({ ...input(store), resume: true });
    expect(Buffer.from(await writeGgufToBytes(resumed.student)).equals(Buffer.from(straightBytes))).toBe(true);
    expect(resumed.lossCurveSvg).toBe(straight.lossCurveSvg);

    const model = await CpuModel.load(bytesSource(straightBytes), { threads: 1, contextLength: 32 });
    try {
      expect(model.eval([1, 403, 407, 261, 378])!.every(Number.isFinite)).toBe(true);
    } finally {
      model.dispose();
    }
  });

  it("a resume keeps the perplexities scored before training (the same eval text), and scores them for another", async () => {
    const valid = readFileSync(sharedPath("corpus/tinystories-valid-a.txt"), "utf8");
    const evalText = valid.slice(0, 8000);
    const straight = await runFinetune({ ...input(memoryStore()), evalText });
    const store = memoryStore();
    const controller = new AbortController();
    await runFinetune({ ...input(store), evalText }, { signal: controller.signal, onProgress: (p) => p.step === 5 && controller.abort() }).catch(
      () => {},
    );
    const phases: string[] = [];
    const resumed = await runFinetune({ ...input(store), evalText, resume: true }, { onPhase: (p) => phases.push(p) });
    expect(phases).toEqual(["load", "export", "eval"]); // no scoring before the steps: the checkpoint had them
    expect([resumed.evalPplTeacher, resumed.evalPplBefore, resumed.evalPplAfter]).toEqual([
      straight.evalPplTeacher,
      straight.evalPplBefore,
      straight.evalPplAfter,
    ]);
    const other = await runFinetune({ ...input(store), evalText: valid.slice(8000, 16000), resume: true });
    expect(typeof other.evalPplBefore).toBe("number");
    expect(other.evalPplBefore).not.toBe(straight.evalPplBefore);
  });

  it("refuses checkpoints without a store, resume from an empty store, and a corrupt checkpoint, with typed errors", async () => {
    await expect(runFinetune(input(undefined))).rejects.toMatchObject({ code: "BAD_OPTION" });
    await expect(runFinetune({ ...input(memoryStore()), resume: true })).rejects.toMatchObject({ code: "NO_CHECKPOINT" });
    // A corrupt checkpoint (here: random bytes) is a typed error naming the problem.
    const garbage: CheckpointStore = {
      name: "garbage",
      load: async () => [{ name: "garbage", bytes: async () => Uint8Array.from({ length: 64 }, (_, i) => (i * 37) & 255) }],
      save: async () => {},
    };
    await expect(runFinetune({ ...input(garbage), resume: true })).rejects.toMatchObject({ name: "CheckpointError", code: "BAD_CHECKPOINT" });
  });
});
