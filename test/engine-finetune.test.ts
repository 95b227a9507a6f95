// engine.finetune: on-device fine-tuning (src/train's runFinetune) through both engines, in this thread and in
// the worker (dist/engine-worker.js: `npm run build` first). A few blockwise steps on stories260K: progress after
// each step, a student GGUF that an engine runs, the same bytes from both engines (training does not depend on
// where it runs), an AbortSignal that stops it between steps, checkpoints handed to the caller and a resume
// from one, typed errors.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { createLocalEngine } from "../src/engine/local-engine.ts";
import { createEngine } from "../src/engine/worker-engine.ts";
import type { Engine, EngineFinetuneOptions, EngineFinetuneResult, EngineOptions } from "../src/engine/engine.ts";
import { AbortError, CheckpointError, OptionError } from "../src/runtime/errors.ts";
import type { FinetuneProgress } from "../src/train/finetune-run.ts";
import { sharedPath } from "./helpers/shared.ts";

const STORIES = sharedPath("models/stories260K.gguf");
const TEXT = readFileSync(sharedPath("corpus/tinystories_sample.txt"), "utf8").slice(0, 20_000);
const RUN: EngineFinetuneOptions = { data: TEXT, steps: 6, mode: "blockwise", group: 64, batch: 2, seqLen: 16, seed: 3 };

const results = new Map<string, EngineFinetuneResult>();
const engines: [string, (o: EngineOptions) => Promise<Engine>][] = [
  ["createLocalEngine", createLocalEngine],
  ["createEngine", createEngine],
];

describe.each(engines)("%s: finetune", (name, create) => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await create({ model: STORIES, backend: "wasm", threads: 1 });
  });
  afterAll(() => engine?.dispose());

  it("trains the engine's own model: progress per step, then a student GGUF that an engine runs", async () => {
    const progress: FinetuneProgress[] = [];
    const phases: string[] = [];
    const r = await engine.finetune({ ...RUN, onProgress: (p) => progress.push(p), onPhase: (p) => phases.push(p) });
    results.set(name, r);
    expect(progress.map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const p of progress) {
      expect(p.steps).toBe(6);
      expect(Number.isFinite(p.loss) && p.loss > 0).toBe(true);
      expect(Number.isFinite(p.off)).toBe(true);
      expect(p.tokensPerSecond).toBeGreaterThan(0);
      expect(p.etaSeconds).toBeGreaterThanOrEqual(0);
    }
    expect(progress.at(-1)!.etaSeconds).toBe(0);
    // Blockwise over 5 blocks: each step says its block and its loss relative to the block's first.
    expect(progress.map((p) => [p.block, p.blockStep, p.blockSteps])).toEqual([
      [0, 1, 2],
      [0, 2, 2],
      [1, 1, 1],
      [2, 1, 1],
      [3, 1, 1],
      [4, 1, 1],
    ]);
    expect(progress[1]!.relativeLoss).toBe(progress[1]!.loss / progress[0]!.loss);
    expect(r.blockLosses).toHaveLength(5);
    expect(r).toMatchObject({ teacherTernary: false, warnings: [] });
    expect(phases).toEqual(["load", "export"]);
    expect(r).toMatchObject({ steps: 6, mode: "blockwise", evalPplBefore: null, evalPplAfter: null });
    expect(r.losses).toEqual(progress.map((p) => p.loss));
    expect(r.lossCurveSvg).toMatch(/^<svg/);
    expect(new TextDecoder().decode(r.student.subarray(0, 4))).toBe("GGUF");

    // The engine's own model is untouched and still answers.
    const text = (await engine.complete("Once upon a time", { temperature: 0, maxTokens: 12 })).text;
    expect(text.startsWith(", there was a little girl")).toBe(true);
    // The student runs.
    const student = await createLocalEngine({ model: r.student, backend: "wasm", threads: 1 });
    try {
      const s = await student.complete("Once upon a time", { temperature: 0, maxTokens: 12 });
      expect(s.tokens).toHaveLength(12);
      expect((await student.info()).metadata["ternion.dlt.group_size"]).toBe(64);
    } finally {
      await student.dispose();
    }
  });

  it("an AbortSignal stops the run between two steps with AbortError; the engine goes on", async () => {
    const controller = new AbortController();
    const steps: number[] = [];
    const err = await engine
      .finetune({ ...RUN, steps: 50, signal: controller.signal, onProgress: (p) => (steps.push(p.step), p.step === 2 && controller.abort()) })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    // In this thread the signal is seen at the next step; a worker hears it a step or a few later (the abort is a
    // message that crosses to it while it trains; runFinetune lets messages in between any two steps).
    const stoppedAt = Number(/aborted at step (\d+) of 50/.exec((err as AbortError).message)?.[1]);
    if (name === "createLocalEngine") expect(stoppedAt).toBe(2);
    else expect(stoppedAt >= 2 && stoppedAt < 50, String(stoppedAt)).toBe(true);
    expect(steps).toEqual(Array.from({ length: stoppedAt }, (_, i) => i + 1));
    expect((await engine.complete("Once upon a time", { temperature: 0, maxTokens: 5 })).tokens).toHaveLength(5);
  });

  it("hands checkpoints to the caller; aborted and resumed from the last one, it ends with the uninterrupted run's bytes", async () => {
    const run = { ...RUN, steps: 16, checkpointEvery: 2 };
    const straight = await engine.finetune(run);
    const checkpoints: number[] = [];
    let last: Uint8Array | undefined;
    const controller = new AbortController();
    const err = await engine
      .finetune({
        ...run,
        signal: controller.signal,
        onProgress: (p) => p.step === 3 && controller.abort(),
        onCheckpoint: (bytes, step) => {
          checkpoints.push(step);
          last = bytes;
        },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AbortError);
    // Periodic ones at steps 2, 4, … until the abort is seen (step 3 here, a few steps later in a worker),
    // then one at the step where the run stopped.
    expect(checkpoints[0]).toBe(2);
    const stoppedAt = checkpoints.at(-1)!;
    expect(stoppedAt).toBeGreaterThanOrEqual(3);
    expect(stoppedAt).toBeLessThan(16);
    expect(checkpoints.slice(0, -1)).toEqual(Array.from({ length: checkpoints.length - 1 }, (_, i) => 2 * (i + 1)));
    const resumed = await engine.finetune({ ...run, resumeFrom: last });
    expect(Buffer.from(resumed.student).equals(Buffer.from(straight.student))).toBe(true);
    expect(resumed.losses).toEqual(straight.losses);
    // A checkpoint of other options is refused, and so is a damaged one: CheckpointError, in a worker too.
    await expect(engine.finetune({ ...run, seed: 4, resumeFrom: last })).rejects.toMatchObject({
      code: "BAD_CHECKPOINT",
      message: expect.stringMatching(
        /^the checkpoint passed as resumeFrom fails verification: it was written with other options: seed 3 there, 4 here$/,
      ),
    });
    const damaged = Uint8Array.from(last!);
    damaged[damaged.length - 1]! ^= 1;
    const refused = await engine.finetune({ ...run, resumeFrom: damaged }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CheckpointError);
    expect(refused).toMatchObject({ code: "BAD_CHECKPOINT", message: expect.stringMatching(/checksum mismatch/) });
  });

  it("bad options are typed errors; a ternary teacher trains, with a warning", async () => {
    await expect(engine.finetune({ ...RUN, group: 7 })).rejects.toSatisfy(
      (e) => e instanceof OptionError && /group must be 64, 128 or 256/.test(e.message),
    );
    await expect(engine.finetune({ ...RUN, data: undefined })).rejects.toSatisfy((e) => e instanceof OptionError && /one of data/.test(e.message));
    await expect(engine.finetune({ ...RUN, resume: true } as EngineFinetuneOptions)).rejects.toMatchObject({
      name: "OptionError",
      code: "UNKNOWN_OPTION",
    });
    // The student of the first test is ternary (DLT): it teaches (decoded to α·(code − 1) + γ), with a warning
    // as a notice event, in the result, and flagged.
    const notices: string[] = [];
    const r = await engine.finetune({ ...RUN, teacher: results.get(name)!.student, onNotice: (m) => notices.push(m) });
    expect(r.teacherTernary).toBe(true);
    expect(notices).toEqual(r.warnings);
    expect(notices).toEqual([expect.stringMatching(/^warning: the teacher is ternary already \(it is a DLT student/)]);
    expect(r.losses.every(Number.isFinite)).toBe(true);
  });
});

describe("finetune through both engines", () => {
  it("gives the same losses and the same student bytes in this thread and in the worker", () => {
    const local = results.get("createLocalEngine")!;
    const worker = results.get("createEngine")!;
    expect(worker.losses).toEqual(local.losses);
    expect(Buffer.from(worker.student).equals(Buffer.from(local.student))).toBe(true);
  });
});
