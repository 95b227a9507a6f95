// Smoke test of the blockwise schedule on the real stories260K: teacher = the float model, student = its
// DLT ternarization (g = 64; rows of 64 and 172 = 64 + 64 + 44), block 0's α, γ and norm gains trained
// against the teacher's block-0 output with OFF. The loss on a held-out batch must drop (fixed seed, no
// timing involved).
import { beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { tokenizerFromGguf } from "../src/runtime/tokenizer/index.ts";
import { type FloatModel, loadFloatModel } from "../src/train/teacher.ts";
import { buildTrainModel } from "../src/train/model.ts";
import { type BlockwiseOptions, blockwiseLoss, blockwiseStep, createBlockState } from "../src/train/blockwise.ts";
import { sequentialBatch } from "../src/train/data.ts";
import { ropeTable } from "../src/train/ops/rope.ts";
import { blockParams } from "../src/train/block.ts";
import { sharedPath } from "./helpers/shared.ts";

let model: FloatModel;
let tokens: Int32Array;

beforeAll(async () => {
  const source = await openFileSource(sharedPath("models/stories260K.gguf"));
  try {
    model = await loadFloatModel(source);
  } finally {
    await source.close();
  }
  const text = readFileSync(sharedPath("corpus/tinystories-train-2MiB.txt"), "utf8").slice(0, 24_000);
  tokens = Int32Array.from(tokenizerFromGguf(model.header.metadata).encode(text, { addBos: true }));
});

describe("blockwise DLT + OFF on stories260K", () => {
  it("training block 0's α, γ and gains for 24 steps lowers the held-out OFF loss", () => {
    const { config, tensors } = model;
    expect([config.dim, config.ffnDim]).toEqual([64, 172]);
    const teacher = buildTrainModel(config, tensors, { precision: "f32" });
    const student = buildTrainModel(config, tensors, {
      precision: "f32",
      dlt: { group: 64, refine: true },
      train: { alpha: true, gamma: true, norms: true },
    });
    const seqLen = 32;
    const heldOut = sequentialBatch(tokens.subarray(tokens.length - 4 * seqLen - 1), 0, 4, seqLen).batch;
    const train = tokens.subarray(0, tokens.length - 4 * seqLen - 1);
    const rope = ropeTable(config.rope, seqLen);
    const evalLoss = () => blockwiseLoss(student, teacher, 0, heldOut, rope, "off").loss;

    const o: BlockwiseOptions = { batch: 4, seqLen, sampling: "random", schedule: { lr: 5e-3, steps: 24, warmup: 3 }, clip: 1, feature: "off" };
    const s = createBlockState(student, 0, 1234);
    expect(s.params.map((p) => p.name)).toEqual(
      blockParams(student.blocks[0]!)
        .filter((p) => p.trainable)
        .map((p) => p.name),
    );
    expect(s.params.some((p) => p.name.endsWith(".weight") && !p.name.includes("norm"))).toBe(false); // latents frozen

    const before = evalLoss();
    const losses: number[] = [];
    for (let i = 0; i < 24; i++) losses.push(blockwiseStep(student, teacher, 0, train, s, o).loss);
    const after = evalLoss();
    console.log(`block 0 OFF: held-out ${before.toFixed(5)} → ${after.toFixed(5)}; train ${losses[0]!.toFixed(5)} → ${losses.at(-1)!.toFixed(5)}`);
    expect(before).toBeGreaterThan(0);
    expect(after).toBeLessThan(0.8 * before);
    expect(losses.slice(-4).reduce((a, b) => a + b) / 4).toBeLessThan(losses.slice(0, 4).reduce((a, b) => a + b) / 4);
  });
});
