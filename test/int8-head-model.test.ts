// headType "q8_0" on a model (runtime/cpu/weights.ts, output-head.ts): the float head is quantized to Q8_0 at load
// and its logits stay close to the stored head's, the memory plan counts the copy, and a bad value is refused.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CpuModel } from "../src/runtime/cpu/model.ts";
import { int8HeadBytes } from "../src/runtime/cpu/weights.ts";
import { OptionError } from "../src/runtime/errors.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { writeGgufFile } from "../src/runtime/gguf/writer-node.ts";
import { GgmlType } from "../src/runtime/tensor-types/table.ts";
import { syntheticModel } from "./helpers/synthetic-model.ts";

const dir = mkdtempSync(join(tmpdir(), "ternion-int8-head-"));
const path = join(dir, "model.gguf");

beforeAll(async () => {
  await writeGgufFile(
    path,
    syntheticModel({
      name: "int8-head",
      architecture: "bitnet",
      dim: 256,
      layers: 2,
      heads: 4,
      kvHeads: 4,
      ffn: 512,
      vocab: 301,
      contextLength: 64,
      ternary: GgmlType.TQ2_0,
      embedding: GgmlType.F16,
      tiedOutput: true,
      seed: 5,
    }),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function load(headType?: "stored" | "q8_0"): Promise<CpuModel> {
  const source = await openFileSource(path);
  try {
    return await CpuModel.load(source, { threads: 1, headType });
  } finally {
    await source.close();
  }
}

describe('headType "q8_0"', () => {
  it("gives logits within the int8 rounding of the stored head's, and plans the copy's memory", async () => {
    const stored = await load();
    const int8 = await load("q8_0");
    try {
      expect(int8.plan.weights - stored.plan.weights).toBe(int8HeadBytes(int8.config));
      const tokens = [3, 17, 250, 42, 9];
      const a = stored.eval(tokens)!.slice();
      const b = int8.eval(tokens)!.slice();
      expect(b).not.toEqual(a); // the int8 head ran
      let err = 0;
      let scale = 0;
      for (let i = 0; i < a.length; i++) {
        err = Math.max(err, Math.abs(a[i]! - b[i]!));
        scale = Math.max(scale, Math.abs(a[i]!));
      }
      expect(err).toBeLessThan(0.02 * scale);
      // "all" logits (several tokens per head call) agree with one at a time
      int8.reset();
      const rows: Float32Array[] = [];
      int8.eval(tokens, "all", (_, l) => rows.push(l.slice()));
      expect(rows[tokens.length - 1]).toEqual(b);
    } finally {
      stored.dispose();
      int8.dispose();
    }
  });

  it("refuses an unknown head type", async () => {
    await expect(load("q4" as "q8_0")).rejects.toThrow(OptionError);
    await expect(load("q4" as "q8_0")).rejects.toThrow(/headType must be "stored" or "q8_0", got q4/);
  });
});
