import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeGgufFile } from "../src/runtime/gguf/writer-node.ts";
import { GgufValueType, type GgufValue } from "../src/runtime/gguf/types.ts";
import { GgmlType, tensorTypeTraits } from "../src/runtime/tensor-types/table.ts";
import { runCli } from "./helpers/cli.ts";

const dir = mkdtempSync(join(tmpdir(), "ternion-inspect-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Ternary values ±0.5 with a zero wherever `isZero(i)`; signs alternate so every block has both. */
function ternaryWeights(n: number, isZero: (i: number) => boolean): Float32Array {
  const w = new Float32Array(n);
  for (let i = 0; i < n; i++) w[i] = isZero(i) ? 0 : i % 2 ? 0.5 : -0.5;
  return w;
}

function tensor(name: string, type: GgmlType, dims: number[], values: Float32Array) {
  return { name, type, dims, data: tensorTypeTraits(type).quantize(values) };
}

describe("ternion inspect on a ternary model", () => {
  it("reports the fraction of zero weights per tensor and per layer", async () => {
    const path = join(dir, "sparse.gguf");
    const metadata = new Map<string, GgufValue>([
      ["general.architecture", { type: GgufValueType.STRING, value: "llama" }],
      ["llama.block_count", { type: GgufValueType.UINT32, value: 2 }],
    ]);
    await writeGgufFile(path, {
      metadata,
      tensors: [
        tensor("token_embd.weight", GgmlType.F16, [256, 4], new Float32Array(1024).fill(0.25)),
        // layer 0: 1/4 zeros (TQ2_0) and 1/2 zeros (TQ1_0) → (256 + 256) zeros of 1536 weights
        tensor(
          "blk.0.ffn_up.weight",
          GgmlType.TQ2_0,
          [256, 4],
          ternaryWeights(1024, (i) => i % 4 === 0),
        ),
        tensor(
          "blk.0.ffn_down.weight",
          GgmlType.TQ1_0,
          [256, 2],
          ternaryWeights(512, (i) => i % 2 === 0),
        ),
        // layer 1: 3/4 zeros (I2_S; the odd ones at i % 4 == 3 keep a nonzero per group)
        tensor(
          "blk.1.attn_q.weight",
          GgmlType.I2_S,
          [128, 4],
          ternaryWeights(512, (i) => i % 4 !== 3),
        ),
      ],
    });
    const r = runCli(["inspect", path, "--json"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout);
    const zeros = Object.fromEntries(report.tensors.map((t: { name: string; zeroFraction?: number }) => [t.name, t.zeroFraction]));
    expect(zeros).toEqual({
      "token_embd.weight": undefined,
      "blk.0.ffn_up.weight": 0.25,
      "blk.0.ffn_down.weight": 0.5,
      "blk.1.attn_q.weight": 0.75,
    });
    expect(report.layerSparsity).toEqual([
      { layer: 0, ternaryElements: 1536, zeroFraction: 512 / 1536 },
      { layer: 1, ternaryElements: 512, zeroFraction: 0.75 },
    ]);
    expect(report.ternaryZeroFraction).toBe((512 + 384) / 2048);
    expect(report.tensors.find((t: { name: string }) => t.name === "blk.1.attn_q.weight").bytes).toBe(512 / 4 + 32);

    const table = runCli(["inspect", path]);
    expect(table.status).toBe(0);
    expect(table.stdout).toMatch(/blk\.0\.ffn_up\.weight\s+TQ2_0\s+256 x 4\s+1\.0K\s+264 B\s+25\.0%/);
    expect(table.stdout).toMatch(/^\s*0\s+1\.5K\s+33\.3%/m);
    expect(table.stdout).toMatch(/^\s*1\s+512\s+75\.0%/m);
    expect(table.stdout).toContain("all ternary tensors: 43.8% zeros");
  });
});
