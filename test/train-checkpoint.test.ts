// Determinism and bit-exact resume: N steps straight vs N/2 + checkpoint file + fresh process state + N/2.
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Checkpoint,
  captureCheckpoint,
  decodeCheckpoint,
  encodeCheckpoint,
  restoreCheckpoint,
  sealCheckpoint,
} from "../src/train/checkpoint.ts";
import { readCheckpointFile, writeCheckpointFile } from "../src/train/checkpoint-file.ts";
import { type BuildOptions, type TrainModel, buildTrainModel } from "../src/train/model.ts";
import { type TrainOptions, type TrainState, createTrainState, trainStep } from "../src/train/trainer.ts";
import { type BlockwiseOptions, blockwiseStep, createBlockState } from "../src/train/blockwise.ts";
import { randomTokens, tinyConfig, tinyTensors } from "./helpers/train-fixtures.ts";

const dir = mkdtempSync(join(tmpdir(), "ternion-ckpt-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = tinyConfig("llama");
const tensors = tinyTensors(config, 21);
const stream = randomTokens(400, config.vocabSize, 22);
const FULL: BuildOptions = { precision: "f32", dlt: { group: 64 }, train: { matrices: true, alpha: true, gamma: true, norms: true } };
const LIGHT: BuildOptions = { precision: "f32", dlt: { group: 64, refine: true }, train: { alpha: true, gamma: true, norms: true } };
const teacher = buildTrainModel(config, tensors, { precision: "f32" });

const fullOptions: TrainOptions = {
  batch: 2,
  seqLen: 8,
  sampling: "random",
  schedule: { lr: 5e-3, steps: 6, warmup: 2 },
  adam: { weightDecay: 0.01 },
  clip: 1,
  loss: { off: 1, ce: 1, kl: 0.5 },
};
const blockOptions: BlockwiseOptions = {
  batch: 2,
  seqLen: 8,
  sampling: "sequential",
  schedule: { lr: 1e-2, steps: 6, warmup: 1 },
  clip: 1,
  feature: "off",
};

interface Run {
  build: () => TrainModel;
  state: (m: TrainModel, seed: number) => TrainState;
  step: (m: TrainModel, s: TrainState) => number;
}
const full: Run = {
  build: () => buildTrainModel(config, tensors, FULL),
  state: (m, seed) => createTrainState(m.params, seed),
  step: (m, s) => trainStep(m, teacher, stream, s, fullOptions).loss,
};
const blockwise: Run = {
  build: () => buildTrainModel(config, tensors, LIGHT),
  state: (m, seed) => createBlockState(m, 1, seed),
  step: (m, s) => blockwiseStep(m, teacher, 1, stream, s, blockOptions).loss,
};

/** Byte equality without vitest's element-wise deep compare (slow on ~1 MB); names the first difference. */
function same(a: Uint8Array, b: Uint8Array): string {
  if (a.length !== b.length) return `lengths ${a.length} and ${b.length}`;
  const i = a.findIndex((x, j) => x !== b[j]);
  return i < 0 ? "same" : `first difference at byte ${i}`;
}

function straight(run: Run, steps: number, seed: number): { bytes: Uint8Array; losses: number[] } {
  const m = run.build();
  const s = run.state(m, seed);
  const losses = Array.from({ length: steps }, () => run.step(m, s));
  return { bytes: encodeCheckpoint(captureCheckpoint(m, s)), losses };
}

describe("checkpoint and resume", () => {
  for (const [name, run] of [
    ["full schedule, random windows (PRNG state)", full],
    ["blockwise schedule on block 1, sequential windows (cursor)", blockwise],
  ] as const) {
    it(`${name}: 6 steps straight = 3 + save + load into a fresh model + 3, byte for byte`, async () => {
      const a = straight(run, 6, 42);
      expect(same(straight(run, 6, 42).bytes, a.bytes)).toBe("same"); // the same run twice: the same bytes
      expect(a.losses.every(Number.isFinite)).toBe(true);

      const m1 = run.build();
      const s1 = run.state(m1, 42);
      const before = [run.step(m1, s1), run.step(m1, s1), run.step(m1, s1)];
      const path = join(dir, `${name.split(" ")[0]}.ckpt`);
      await writeCheckpointFile(path, captureCheckpoint(m1, s1, { block: 1 }));

      const m2 = run.build(); // as a new process would: fresh model, fresh state with another seed
      const s2 = run.state(m2, 7);
      const c = await readCheckpointFile(path);
      expect(c.meta).toEqual({ block: 1 });
      restoreCheckpoint(m2, s2, c);
      const after = [run.step(m2, s2), run.step(m2, s2), run.step(m2, s2)];
      expect([...before, ...after]).toEqual(a.losses);
      expect(same(encodeCheckpoint(captureCheckpoint(m2, s2)), a.bytes)).toBe("same");
    });
  }

  it("the comparison can fail: another seed (full) or a skipped window (blockwise) gives other bytes", () => {
    expect(same(straight(full, 6, 43).bytes, straight(full, 6, 42).bytes)).not.toBe("same");
    const m = blockwise.build();
    const s = blockwise.state(m, 42);
    s.cursor = 8;
    for (let i = 0; i < 6; i++) blockwise.step(m, s);
    expect(same(encodeCheckpoint(captureCheckpoint(m, s)), straight(blockwise, 6, 42).bytes)).not.toBe("same");
  });

  it("holds params, both Adam moments, DLT codes, step, cursor and PRNG state", () => {
    const m = full.build();
    const s = full.state(m, 5);
    full.step(m, s);
    const c = decodeCheckpoint(encodeCheckpoint(captureCheckpoint(m, s)));
    expect(c.step).toBe(1);
    expect(c.adamT).toBe(1);
    expect(c.rng).toEqual(s.rng.state());
    const names = [...c.tensors.keys()];
    expect(names).toContain("param:blk.0.attn_q.weight");
    expect(names).toContain("param:blk.0.attn_q.weight.alpha");
    expect(names).toContain("adam.v:blk.1.ffn_down.weight.gamma");
    expect(names).toContain("codes:blk.1.ffn_down.weight");
    expect(c.tensors.get("codes:blk.1.ffn_down.weight")).toBeInstanceOf(Int8Array);
  });

  it("refuses a checkpoint of a differently trained model without touching it, and rejects damaged files", async () => {
    const m = full.build();
    const s = full.state(m, 1);
    const c = captureCheckpoint(m, s);
    const light = blockwise.build();
    const ls = blockwise.state(light, 1);
    const alpha0 = light.blocks[1]!.q.kind === "dlt" ? light.blocks[1]!.q.alpha.value[0] : NaN;
    expect(() => restoreCheckpoint(light, ls, c)).toThrow(/checkpoint/);
    expect(light.blocks[1]!.q.kind === "dlt" && light.blocks[1]!.q.alpha.value[0]).toBe(alpha0);

    const bytes = encodeCheckpoint(c);
    expect(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 1))).toThrow(/truncated/);
    const bad = Uint8Array.from(bytes);
    bad[0] = 0;
    expect(() => decodeCheckpoint(bad)).toThrow(/magic/);
  });

  it("rejects a header whose cursor, counters or PRNG state a resume could not use", () => {
    const m = full.build();
    const c = captureCheckpoint(m, full.state(m, 1));
    const damaged = (change: Partial<Checkpoint>) => () => decodeCheckpoint(encodeCheckpoint({ ...c, ...change }));
    const badCheckpoint = (why: RegExp) => expect.objectContaining({ code: "BAD_CHECKPOINT", message: expect.stringMatching(why) });
    expect(damaged({ cursor: -3 })).toThrow(badCheckpoint(/cursor -3/));
    expect(damaged({ cursor: 1.5 })).toThrow(badCheckpoint(/cursor 1.5/));
    expect(damaged({ step: Number.NaN })).toThrow(badCheckpoint(/step null/));
    expect(damaged({ rng: [1, 2, 3] as unknown as Checkpoint["rng"] })).toThrow(badCheckpoint(/PRNG state \[1,2,3\]/));
    expect(damaged({ rng: [0, 0, 0, 0] })).toThrow(badCheckpoint(/PRNG state/));
    expect(damaged({ rng: [1, 2, 3, 2 ** 32] })).toThrow(badCheckpoint(/PRNG state/));
    expect(decodeCheckpoint(encodeCheckpoint({ ...c, cursor: 7 })).cursor).toBe(7);
    const notJson = encodeCheckpoint(c);
    notJson[52] = 0x5d; // "]" where the header's "{" was
    expect(() => decodeCheckpoint(notJson)).toThrow(badCheckpoint(/checksum mismatch/));
    expect(() => decodeCheckpoint(sealCheckpoint(notJson))).toThrow(badCheckpoint(/not JSON/));
  });

  it("writes atomically: the target is replaced whole and no temporary file is left", async () => {
    const path = join(dir, "atomic.ckpt");
    writeFileSync(path, "old");
    const m = blockwise.build();
    const s = blockwise.state(m, 3);
    await writeCheckpointFile(path, captureCheckpoint(m, s));
    expect((await readCheckpointFile(path)).step).toBe(0);
    expect(readdirSync(dir).filter((f) => f.includes("atomic"))).toEqual(["atomic.ckpt"]);
  });
});
