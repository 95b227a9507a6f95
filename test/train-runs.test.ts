// The run drivers (blockwise over all blocks, full) on a tiny model: a run interrupted at any step —
// inside a block, at a block boundary — and resumed in a fresh run from its checkpoint bytes ends with
// exactly the parameters of an uninterrupted run; the blockwise driver trains blocks 0…L−1 in turn.
import { describe, expect, it } from "vitest";
import { type BlockwiseRun, blockSteps } from "../src/train/blockwise-run.ts";
import { decodeCheckpoint, encodeCheckpoint } from "../src/train/checkpoint.ts";
import { buildTrainModel, modelLinears } from "../src/train/model.ts";
import { LIGHT, type MakeRun, snapshot, tinyRunOptions, tinyRuns } from "./helpers/train-runs.ts";

const options = tinyRunOptions({ steps: 11, seed: 77, loss: { off: 1, ce: 1, kl: 0.5, feature: "off" } });
const { config, tensors, blockwise, full } = tinyRuns({ tensors: 31, stream: 32, streamLength: 600 }, options, 3);
type Make = MakeRun;

function straight(make: Make) {
  const { run, student } = make();
  const losses: number[] = [];
  while (run.step < run.steps) losses.push(run.next().loss);
  return { losses, params: snapshot(student) };
}

function interrupted(make: Make, at: number) {
  const first = make();
  const losses: number[] = [];
  while (first.run.step < at) losses.push(first.run.next().loss);
  const bytes = encodeCheckpoint(first.run.checkpoint());
  const second = make();
  second.run.restore(decodeCheckpoint(bytes));
  expect(second.run.step).toBe(at);
  while (second.run.step < second.run.steps) losses.push(second.run.next().loss);
  return { losses, params: snapshot(second.student) };
}

describe("blockwise driver", () => {
  it("shares the steps out over the blocks", () => {
    expect([0, 1, 2].map((l) => blockSteps(11, 3, l))).toEqual([4, 4, 3]);
    expect([0, 1, 2].map((l) => blockSteps(2, 3, l))).toEqual([1, 1, 0]);
  });

  it("trains every block in turn and leaves the latent weights and codes alone", () => {
    const { run, student } = blockwise();
    const init = buildTrainModel(config, tensors, LIGHT);
    const seen: number[] = [];
    while (run.step < run.steps) {
      seen.push((run as BlockwiseRun).currentBlock);
      run.next();
    }
    expect(seen).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2]);
    expect((run as BlockwiseRun).currentBlock).toBe(3);
    const trained = modelLinears(student);
    modelLinears(init).forEach((b, i) => {
      const a = trained[i]!;
      if (a.kind !== "dlt" || b.kind !== "dlt") return;
      expect(Buffer.from(a.ternary.codes).equals(Buffer.from(b.ternary.codes))).toBe(true);
      expect(Buffer.from(a.latent.value.buffer).equals(Buffer.from(b.latent.value.buffer))).toBe(true);
      expect(Buffer.from(a.alpha.value.buffer).equals(Buffer.from(b.alpha.value.buffer))).toBe(false); // every block was trained
    });
  });

  for (const at of [2, 4, 5, 8, 10, 11]) {
    it(`resumed at step ${at} ends with the same bytes as a straight run`, () => {
      const a = straight(blockwise);
      const b = interrupted(blockwise, at);
      expect(b.losses).toEqual(a.losses);
      expect(b.params === a.params).toBe(true);
    });
  }
});

describe("full driver", () => {
  for (const at of [1, 6]) {
    it(`resumed at step ${at} ends with the same bytes as a straight run`, () => {
      const a = straight(full);
      const b = interrupted(full, at);
      expect(b.losses).toEqual(a.losses);
      expect(b.params === a.params).toBe(true);
    });
  }

  it("refuses a checkpoint of the other schedule", () => {
    const bytes = encodeCheckpoint(blockwise().run.checkpoint());
    expect(() => full().run.restore(decodeCheckpoint(bytes))).toThrow(/does not fit this full run: it is one of a "blockwise" run/);
  });
});
