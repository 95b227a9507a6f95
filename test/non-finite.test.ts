// Non-finite values are errors, never text: NaN or ∞ logits stop sampling and perplexity with NON_FINITE_LOGITS
// (naming the position), and loading refuses NaN or ∞ in norms and scales with NON_FINITE_WEIGHTS (naming the
// tensor). Before, such a model generated token 0 over and over with stop reason max-tokens, and ppl printed NaN.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { createLocalEngine } from "../src/engine/local-engine.ts";
import { ModelError } from "../src/runtime/errors.ts";
import { ggufInputFromSource, writeGgufToBytes } from "../src/runtime/gguf/writer.ts";
import { readGgufHeader, readTensorData } from "../src/runtime/gguf/reader.ts";
import { bytesSource } from "../src/runtime/gguf/sources.ts";
import { checkFiniteLogits } from "../src/runtime/sampling/finite-logits.ts";
import { Sampler } from "../src/runtime/sampling/sampler.ts";
import { GgmlType, tensorTypeTraits } from "../src/runtime/tensor-types/table.ts";
import { i2sScaleOffset } from "../src/runtime/tensor-types/i2_s.ts";
import { f16Bytes, f32Bytes, patchTensor } from "./helpers/patch-tensor.ts";
import { syntheticModel } from "./helpers/synthetic-model.ts";

const DEFAULT_MODEL = new Uint8Array(readFileSync(new URL("../models/stories260K-ternary.gguf", import.meta.url)));
const TEXT = readFileSync(new URL("../../shared/corpus/tinystories-valid-a.txt", import.meta.url), "utf8").slice(0, 8000);
const F16_NAN = 0x7e00;
const F16_INF = 0x7c00;

const nonFinite = (code: string, message: RegExp) => ({ name: "ModelError", code, message: expect.stringMatching(message) });

describe("checkFiniteLogits", () => {
  it("passes finite logits, the extremes of f32 included", () => {
    expect(() => checkFiniteLogits(Float32Array.of(3.4e38, -3.4e38, 0, 1e-45))).not.toThrow();
    expect(() => checkFiniteLogits(new Float32Array(100_000).fill(3.4e38))).not.toThrow();
  });

  it.each([Number.NaN, Infinity, -Infinity])("refuses %s, naming the token and the position", (bad) => {
    const logits = new Float32Array(10).fill(0.5);
    logits[7] = bad;
    expect(() => checkFiniteLogits(logits, 42)).toThrow(ModelError);
    expect(() => checkFiniteLogits(logits, 42)).toThrow(
      expect.objectContaining(nonFinite("NON_FINITE_LOGITS", new RegExp(`position 42: token 7 is ${bad}`))),
    );
  });

  it("the sampler refuses them, greedy or not", () => {
    const logits = Float32Array.of(0.1, Number.NaN, 0.3);
    for (const temperature of [0, 0.8]) {
      expect(() => new Sampler({ temperature, seed: 1 }).sample(logits, 5)).toThrow(
        expect.objectContaining(nonFinite("NON_FINITE_LOGITS", /position 5: token 1 is NaN/)),
      );
    }
  });
});

describe("a model whose logits are NaN (every output weight NaN)", async () => {
  const file = await patchTensor(DEFAULT_MODEL, "output.weight", 0, new Uint8Array(new Float32Array(64 * 512).fill(Number.NaN).buffer));

  it("generation rejects with NON_FINITE_LOGITS at the first sampled position, greedy or sampled", async () => {
    const engine = await createLocalEngine({ model: file, backend: "wasm", threads: 1 });
    try {
      for (const temperature of [0, 0.8]) {
        await expect(engine.complete("Once upon a time", { maxTokens: 8, temperature, seed: 1 })).rejects.toMatchObject(
          nonFinite("NON_FINITE_LOGITS", /non-finite logit for position \d+: token 0 is NaN/),
        );
      }
    } finally {
      await engine.dispose();
    }
  });

  it("perplexity rejects with NON_FINITE_LOGITS instead of returning NaN", async () => {
    const engine = await createLocalEngine({ model: file, backend: "wasm", threads: 1 });
    try {
      await expect(engine.perplexity(TEXT, { ctx: 32 })).rejects.toMatchObject(nonFinite("NON_FINITE_LOGITS", /position 17\b/));
    } finally {
      await engine.dispose();
    }
  });
});

describe("loading refuses non-finite norms and scales", () => {
  const load = (model: Uint8Array) => createLocalEngine({ model, backend: "wasm", threads: 1 });

  it("a NaN norm gain", async () => {
    const file = await patchTensor(DEFAULT_MODEL, "blk.2.ffn_norm.weight", 4 * 9, f32Bytes(Number.NaN));
    await expect(load(file)).rejects.toMatchObject(nonFinite("NON_FINITE_WEIGHTS", /tensor blk\.2\.ffn_norm\.weight .*element 9 is NaN/));
  });

  it("an infinite DLT α", async () => {
    const file = await patchTensor(DEFAULT_MODEL, "blk.1.attn_v.dlt_alpha", 2 * 3, f16Bytes(F16_INF));
    await expect(load(file)).rejects.toMatchObject(nonFinite("NON_FINITE_WEIGHTS", /tensor blk\.1\.attn_v\.dlt_alpha .*element 3 is Infinity/));
  });

  it.each([
    ["TQ2_0", GgmlType.TQ2_0 as const, 66, 64],
    ["TQ1_0", GgmlType.TQ1_0 as const, 54, 52],
  ])("a NaN %s block scale", async (name, type, blockBytes, scaleAt) => {
    const model = await writeGgufToBytes(syntheticShape(type));
    const file = await patchTensor(model, "blk.0.ffn_up.weight", 2 * blockBytes + scaleAt, f16Bytes(F16_NAN));
    await expect(load(file)).rejects.toMatchObject(
      nonFinite("NON_FINITE_WEIGHTS", new RegExp(`tensor blk\\.0\\.ffn_up\\.weight .*the ${name} scale of block 2 is NaN`)),
    );
  });

  it("a NaN Q8_0 block scale (a matrix the CPU backend streams into wasm memory)", async () => {
    const model = await withQ8Output(DEFAULT_MODEL);
    // output.weight [64, 512] as Q8_0: 2 blocks of 34 bytes per row, the scale first.
    const file = await patchTensor(model, "output.weight", 34 * 777, f16Bytes(F16_NAN));
    await expect(load(file)).rejects.toMatchObject(nonFinite("NON_FINITE_WEIGHTS", /tensor output\.weight .*the Q8_0 scale of block 777 is NaN/));
    const engine = await load(model);
    expect((await engine.complete("Once", { maxTokens: 2, temperature: 0 })).tokens).toHaveLength(2);
    await engine.dispose();
  });

  it("an infinite I2_S tensor scale", async () => {
    const model = await writeGgufToBytes(syntheticShape(GgmlType.I2_S));
    const file = await patchTensor(model, "blk.1.attn_q.weight", i2sScaleOffset(256 * 256), f32Bytes(-Infinity));
    await expect(load(file)).rejects.toMatchObject(nonFinite("NON_FINITE_WEIGHTS", /tensor blk\.1\.attn_q\.weight .*I2_S tensor scale is -Infinity/));
  });

  it("the same models unpatched load and generate", async () => {
    for (const model of [
      DEFAULT_MODEL,
      await writeGgufToBytes(syntheticShape(GgmlType.TQ1_0)),
      await writeGgufToBytes(syntheticShape(GgmlType.I2_S)),
    ]) {
      const engine = await load(model);
      const r = await engine.complete("Once", { maxTokens: 2, temperature: 0 });
      expect(r.tokens).toHaveLength(2);
      await engine.dispose();
    }
  });
});

/** `file` with output.weight stored as Q8_0. */
async function withQ8Output(file: Uint8Array): Promise<Uint8Array> {
  const source = bytesSource(file);
  const header = await readGgufHeader(source);
  const input = ggufInputFromSource(source, header);
  const output = header.tensors.find((t) => t.name === "output.weight")!;
  const values = new Float32Array(64 * 512);
  tensorTypeTraits(output.type).dequantize(await readTensorData(source, header, output), values);
  const q8 = tensorTypeTraits(GgmlType.Q8_0).quantize(values);
  const tensors = input.tensors.map((t) => (t.name === "output.weight" ? { ...t, type: GgmlType.Q8_0, data: async () => q8 } : t));
  return writeGgufToBytes({ ...input, tensors });
}

function syntheticShape(ternary: GgmlType.TQ2_0 | GgmlType.TQ1_0 | GgmlType.I2_S) {
  return syntheticModel({
    name: "non-finite",
    architecture: "llama",
    dim: 256,
    layers: 2,
    heads: 4,
    kvHeads: 4,
    ffn: 512,
    vocab: 300,
    contextLength: 64,
    ternary,
    embedding: GgmlType.F32,
    tiedOutput: false,
    seed: 7,
  });
}
