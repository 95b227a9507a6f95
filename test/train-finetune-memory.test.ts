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
import { editHeader } from "./hostile/checkpoint-bytes.ts";
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

describe("runFinetune's resume verifies where a checkpoint comes from", () => {
  const small = (checkpoints: CheckpointStore): FinetuneRunInput => ({ ...input(checkpoints), steps: 6, checkpointEvery: 3 });
  /** A store that offers the given checkpoints, newest first, and records what the run saves. */
  const offering = (...kept: Uint8Array[]): CheckpointStore => ({
    name: "offered",
    load: async () => kept.map((bytes, i) => ({ name: `kept-${i}`, bytes: async () => bytes })),
    save: async () => {},
  });
  let good: Uint8Array;
  let straight: Uint8Array;
  it("(a straight run, and its checkpoint at step 3)", async () => {
    const store: CheckpointStore = {
      name: "first",
      load: async () => [],
      save: async (c, step) => {
        if (step === 3) good = encodeCheckpoint(c);
      },
    };
    straight = await writeGgufToBytes((await runFinetune(small(store))).student);
    expect(good).toBeInstanceOf(Uint8Array);
  });

  it("refuses another teacher of the same length, other data and other options, naming which", async () => {
    const otherTeacher = Uint8Array.from(teacher);
    otherTeacher[otherTeacher.length - 1000]! ^= 0x40; // a weight's byte: the same header, the same length
    const resume = (change: Partial<FinetuneRunInput>) => runFinetune({ ...small(offering(good)), ...change, resume: true });
    await expect(resume({ teacher: otherTeacher })).rejects.toMatchObject({
      name: "CheckpointError",
      code: "BAD_CHECKPOINT",
      message: expect.stringMatching(
        /^kept-0 fails verification: it was written with another teacher \(sha256 [0-9a-f]{12}…, this one's sha256 [0-9a-f]{12}…\)$/,
      ),
    });
    await expect(resume({ dataText: dataText.slice(1) })).rejects.toMatchObject({
      code: "BAD_CHECKPOINT",
      message: expect.stringMatching(/it was written with other training data/),
    });
    await expect(resume({ lr: 0.02, seed: 4 })).rejects.toMatchObject({
      code: "BAD_CHECKPOINT",
      message: expect.stringMatching(/it was written with other options: lr 0.001 there, 0.02 here; seed 9 there, 4 here$/),
    });
  });

  it("refuses a loss history that is not finite or not as long as the run", async () => {
    for (const losses of ["[1,2]", "[1,2,null]", "oops"]) {
      const bytes = editHeader(good, (h) => void (h.meta.losses = losses));
      await expect(runFinetune({ ...small(offering(bytes)), resume: true })).rejects.toMatchObject({
        code: "BAD_CHECKPOINT",
        message: expect.stringMatching(/its loss history (holds 2 steps, its run 3|is not a list of finite numbers)/),
      });
    }
  });

  it("falls back to the previous kept checkpoint when the latest fails, says so, and ends as the straight run", async () => {
    const damaged = Uint8Array.from(good);
    damaged[damaged.length - 7]! ^= 1;
    const notices: string[] = [];
    const r = await runFinetune({ ...small(offering(damaged, good)), resume: true }, { onNotice: (m) => notices.push(m) });
    expect(notices).toEqual([
      expect.stringMatching(
        /^kept-0 fails verification: not a valid ternion checkpoint: checksum mismatch .*; resuming from the previous checkpoint kept-1$/,
      ),
    ]);
    expect(Buffer.from(await writeGgufToBytes(r.student)).equals(Buffer.from(straight))).toBe(true);
    // The previous one is verified too; when it also fails, the error names it.
    const stale = editHeader(good, (h) => void (h.meta.options = "{}"));
    await expect(runFinetune({ ...small(offering(damaged, stale)), resume: true })).rejects.toMatchObject({
      code: "BAD_CHECKPOINT",
      message: expect.stringMatching(/^kept-1 fails verification: it was written with other options/),
    });
  });

  it("refuses training tokens outside the teacher's vocabulary with TrainError BAD_TOKEN", async () => {
    const { dataText: _, ...rest } = input(undefined);
    await expect(
      runFinetune({ ...rest, checkpointEvery: 0, dataTokens: Int32Array.from({ length: 100 }, (_, i) => (i === 50 ? 512 : 1)) }),
    ).rejects.toMatchObject({
      name: "TrainError",
      code: "BAD_TOKEN",
      message: "dataTokens[50] is 512, outside the teacher's vocabulary of 512",
    });
    await expect(runFinetune({ ...rest, checkpointEvery: 0, dataTokens: [1, 2, 3] as unknown as Int32Array })).rejects.toMatchObject({
      code: "BAD_OPTION",
    });
  });
});
