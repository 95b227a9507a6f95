// The forward pass's per-op profile (runtime/cpu/step-profile.ts, `ternion bench --profile`): it reads the clock
// only when attached, sees every op a bitnet step runs, and does not change the logits.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { CpuModel } from "../src/runtime/cpu/model.ts";
import { OP, STEP_OPS, StepProfile } from "../src/runtime/cpu/step-profile.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { writeGgufFile } from "../src/runtime/gguf/writer-node.ts";
import { GgmlType } from "../src/runtime/tensor-types/table.ts";
import { syntheticModel } from "./helpers/synthetic-model.ts";

const dir = mkdtempSync(join(tmpdir(), "ternion-profile-"));
let model: CpuModel;

beforeAll(async () => {
  const path = join(dir, "profile.gguf");
  await writeGgufFile(
    path,
    syntheticModel({
      name: "profile",
      architecture: "bitnet",
      dim: 256,
      layers: 2,
      heads: 4,
      kvHeads: 2,
      ffn: 512,
      vocab: 300,
      contextLength: 64,
      ternary: GgmlType.TQ2_0,
      embedding: GgmlType.F16,
      tiedOutput: true,
      seed: 3,
    }),
  );
  const source = await openFileSource(path);
  model = await CpuModel.load(source, { threads: 1 });
  await source.close();
});

afterAll(() => {
  model?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe("step profile", () => {
  it("reads no clock while no profile is attached", () => {
    const now = vi.spyOn(performance, "now");
    try {
      model.reset();
      model.eval([1, 2, 3]);
      model.eval([4]);
      expect(now).not.toHaveBeenCalled();
    } finally {
      now.mockRestore();
    }
  });

  it("times every op of prefill and decode, and leaves the logits as they were", () => {
    model.reset();
    const plain = [model.eval([5, 6, 7, 8])!.slice(), model.eval([9])!.slice()];
    const p = new StepProfile();
    model.reset();
    model.setProfile(p);
    const profiled = [model.eval([5, 6, 7, 8])!.slice(), model.eval([9])!.slice()];
    model.setProfile(undefined);
    expect(profiled).toEqual(plain);
    expect(p.tokens).toBe(5);
    // every op of a bitnet step ran (a zero would mean its time went to another op, or nowhere)
    for (const op of STEP_OPS) expect(p.ms[OP[op]], op).toBeGreaterThan(0);
    // detached: nothing more is added
    const before = p.ms.slice();
    model.eval([10]);
    expect(p.ms).toEqual(before);
  });
});
