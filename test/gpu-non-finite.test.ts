// Non-finite logits on the WebGPU backend (SwiftShader): the greedy path, whose argmax runs on the GPU and reads
// back one token id, reports NaN or ∞ logits as the CPU sampler does (NON_FINITE_LOGITS), and so do sampled
// generation and perplexity, which read the logits back; loading checks norms as the CPU backend does.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import type { GpuContext } from "../src/gpu/device.ts";
import { GpuLanguageModel } from "../src/gpu/language-model.ts";
import { generate } from "../src/engine/generate.ts";
import { bytesSource } from "../src/runtime/gguf/sources.ts";
import { perplexity } from "../src/runtime/model/perplexity.ts";
import { testGpu } from "./helpers/gpu.ts";
import { lacks } from "./helpers/optional-deps.ts";
import { f32Bytes, patchTensor } from "./helpers/patch-tensor.ts";

const DEFAULT_MODEL = new Uint8Array(readFileSync(new URL("../models/stories260K-ternary.gguf", import.meta.url)));
const TEXT = readFileSync(new URL("../../shared/corpus/tinystories-valid-a.txt", import.meta.url), "utf8").slice(0, 4000);
const nonFiniteLogits = { name: "ModelError", code: "NON_FINITE_LOGITS", message: expect.stringMatching(/non-finite logit for position \d+/) };

describe.skipIf(lacks("webgpu"))("WebGPU: non-finite values", () => {
  let gpu: GpuContext;
  let model: GpuLanguageModel;
  beforeAll(async () => {
    gpu = await testGpu();
    // One output row NaN and one +∞: the largest logit is finite, so a plain argmax would still pick a token.
    let file = await patchTensor(DEFAULT_MODEL, "output.weight", 64 * 4 * 100, new Uint8Array(new Float32Array(64).fill(Number.NaN).buffer));
    file = await patchTensor(file, "output.weight", 64 * 4 * 300, new Uint8Array(new Float32Array(64).fill(Infinity).buffer));
    model = await GpuLanguageModel.load(gpu, bytesSource(file), { contextLength: 128 });
  });
  afterAll(() => model?.dispose());

  it("the GPU argmax (greedy) rejects NaN/∞ logits", async () => {
    await expect(generate(model, "Once upon a time", { maxTokens: 4, temperature: 0, repeatLastN: 0 })).rejects.toMatchObject(nonFiniteLogits);
  });

  it("sampled generation and perplexity reject them", async () => {
    await expect(generate(model, "Once upon a time", { maxTokens: 4, temperature: 0.8, seed: 1 })).rejects.toMatchObject(nonFiniteLogits);
    await expect(perplexity(model, TEXT, { ctx: 16 })).rejects.toMatchObject(nonFiniteLogits);
  });

  it("a finite model still generates greedily on the GPU", async () => {
    const ok = await GpuLanguageModel.load(gpu, bytesSource(DEFAULT_MODEL), { contextLength: 64 });
    try {
      const r = await generate(ok, "Once upon a time", { maxTokens: 4, temperature: 0, repeatLastN: 0 });
      expect(r.tokens).toHaveLength(4);
    } finally {
      ok.dispose();
    }
  });

  it("loading refuses a NaN norm", async () => {
    const file = await patchTensor(DEFAULT_MODEL, "output_norm.weight", 0, f32Bytes(Number.NaN));
    await expect(GpuLanguageModel.load(gpu, bytesSource(file), { contextLength: 64 })).rejects.toMatchObject({
      code: "NON_FINITE_WEIGHTS",
      message: expect.stringMatching(/output_norm\.weight/),
    });
  });
});
