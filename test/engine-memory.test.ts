// Issue 4's memory bound: a ternary model's wasm memory after load (weights packed, KV cache, scratch) stays
// below 1.25 × the file size + the KV cache. The models are synthetic BitNet-style files whose proportions
// (ternary linear layers dominate, an F16 tied embedding) are those of real BitNet checkpoints, scaled down.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CpuModel } from "../src/runtime/cpu/model.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { writeGgufFile } from "../src/runtime/gguf/writer-node.ts";
import { GgmlType } from "../src/runtime/tensor-types/table.ts";
import { syntheticModel } from "./helpers/synthetic-model.ts";

const dir = mkdtempSync(join(tmpdir(), "ternion-memory-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("memory after load ≤ 1.25 × file size + KV cache", () => {
  it.each([
    ["TQ2_0", GgmlType.TQ2_0],
    ["TQ1_0", GgmlType.TQ1_0],
  ] as const)("%s", async (name, ternary) => {
    const path = join(dir, `${name}.gguf`);
    await writeGgufFile(
      path,
      syntheticModel({
        name: `memory-${name}`,
        architecture: "bitnet",
        dim: 1024,
        layers: 6,
        heads: 8,
        kvHeads: 8,
        ffn: 2816,
        vocab: 4096,
        contextLength: 1024,
        ternary,
        embedding: GgmlType.F16,
        tiedOutput: true,
        seed: 7,
      }),
    );
    const fileBytes = statSync(path).size;
    const source = await openFileSource(path);
    const model = await CpuModel.load(source, { threads: 1 });
    try {
      // A prefill longer than a batch, with every token's logits: every buffer the forward pass has is touched.
      model.eval(
        Array.from({ length: 300 }, (_, i) => (i * 37) % 4096),
        "all",
        () => {},
      );
      const { peakHeapBytes } = model.stats();
      const bound = 1.25 * fileBytes + model.plan.kvCache;
      const mib = (b: number) => (b / 2 ** 20).toFixed(1);
      console.log(
        `${name}: file ${mib(fileBytes)} MiB, KV ${mib(model.plan.kvCache)} MiB, peak wasm heap ${mib(peakHeapBytes)} MiB ` +
          `= ${((peakHeapBytes - model.plan.kvCache) / fileBytes).toFixed(3)} × file + KV (plan ${mib(model.plan.total)} MiB)`,
      );
      expect(peakHeapBytes).toBeLessThanOrEqual(bound);
      // The plan (what is reserved up front) covers what was used.
      expect(peakHeapBytes).toBeLessThanOrEqual(model.plan.total + (32 << 20));
    } finally {
      model.dispose();
      await source.close();
    }
  });
});
