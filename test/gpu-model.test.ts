// The GPU forward pass on SwiftShader, whole models: stories260K (F32 llama) against the reference forward
// pass and llama.cpp's greedy text, the converted bitllama-1M (I2_S, bitnet with sub-norms, NEOX RoPE,
// int8-per-token activations) against its known greedy story, and a synthetic TQ2_0 bitnet-b1.58-style
// model (ReLU² gate, Q8_K activations) and a fine-tuned DLT student exported from stories260K against the CPU
// engine.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import type { GpuContext } from "../src/gpu/device.ts";
import { GpuModel } from "../src/gpu/model.ts";
import { convertBitllama } from "../src/runtime/convert/bitllama.ts";
import { CpuModel } from "../src/runtime/cpu/model.ts";
import { GpuError } from "../src/runtime/errors.ts";
import { readGgufHeader } from "../src/runtime/gguf/reader.ts";
import { bytesSource } from "../src/runtime/gguf/sources.ts";
import { writeGgufToBytes } from "../src/runtime/gguf/writer.ts";
import { modelConfigFromGguf } from "../src/runtime/model/config.ts";
import { FFN_ACTIVATION_KEY } from "../src/runtime/model/keys.ts";
import { GgufValueType } from "../src/runtime/gguf/types.ts";
import { GgmlType } from "../src/runtime/tensor-types/table.ts";
import { tokenizerFromGguf } from "../src/runtime/tokenizer/index.ts";
import { testGpu } from "./helpers/gpu.ts";
import { lacks } from "./helpers/optional-deps.ts";
import { loadWeights, referenceLogits } from "./helpers/reference-forward.ts";
import { sharedPath, STORIES_CONTINUATION } from "./helpers/shared.ts";
import { syntheticModel } from "./helpers/synthetic-model.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { exportStudent } from "../src/train/export.ts";
import { buildTrainModel } from "../src/train/model.ts";
import { loadFloatModel } from "../src/train/teacher.ts";

let gpu: GpuContext;
beforeAll(async () => {
  gpu = await testGpu();
});

/** `steps` greedy tokens after `prompt` from the CPU engine, token by token (the reference for the GPU's argmax). */
function cpuGreedy(cpu: CpuModel, prompt: number[], steps: number): number[] {
  const tokens: number[] = [];
  let logits = cpu.eval(prompt)!;
  for (let i = 0; i < steps; i++) {
    let best = 0;
    for (let t = 1; t < logits.length; t++) if (logits[t]! > logits[best]!) best = t;
    tokens.push(best);
    logits = cpu.eval([best])!;
  }
  return tokens;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i]! - b[i]!));
  return e;
}

describe.skipIf(lacks("webgpu"))("stories260K (F32 llama)", () => {
  const bytes = new Uint8Array(readFileSync(sharedPath("models/stories260K.gguf")));
  let model: GpuModel;
  let tokenizer: ReturnType<typeof tokenizerFromGguf>;
  beforeAll(async () => {
    const header = await readGgufHeader(bytesSource(bytes));
    tokenizer = tokenizerFromGguf(header.metadata);
    // Small chunks so that the embedding/head runs as several bindings, a batch of 4 so a prompt takes steps.
    model = await GpuModel.load(gpu, bytesSource(bytes), { header, maxBatch: 4, contextLength: 128, maxChunkBytes: 64 * 1024 });
  });
  afterAll(() => model?.dispose());

  it("logits equal the reference forward pass, prefill and decode", async () => {
    const header = await readGgufHeader(bytesSource(bytes));
    const c = modelConfigFromGguf(header.metadata, header.tensors);
    const tokens = tokenizer.encode("Once upon a time, there was a big dog");
    const want = referenceLogits(c, await loadWeights(bytesSource(bytes), header), tokens);
    // A prefill of 6 tokens (two steps of the batch of 4), then one token at a time.
    let err = maxAbsDiff(await model.forward(tokens.slice(0, 6), 0), want[5]!);
    for (let p = 6; p < tokens.length; p++) err = Math.max(err, maxAbsDiff(await model.forward([tokens[p]!], p), want[p]!));
    console.log(`stories260K: max |GPU − reference| logit ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-3);
  });

  it('greedy text from "Once upon a time" is llama.cpp\'s', async () => {
    const expected = STORIES_CONTINUATION;
    const prompt = tokenizer.encode("Once upon a time");
    const ids = await model.greedy(prompt, 60);
    const text = tokenizer.decode(ids);
    expect(text.startsWith(expected), text).toBe(true);
  });

  it("rejects positions past the context and tokens outside the vocabulary with GpuError", async () => {
    await expect(model.forward([1], 128)).rejects.toBeInstanceOf(GpuError);
    await expect(model.forwardArgmax([600], 0)).rejects.toMatchObject({ code: "BAD_ARGUMENT" });
  });
});

describe.skipIf(lacks("webgpu"))("bitllama-1M converted to GGUF (I2_S, bitnet)", () => {
  it("greedy from BOS gives the reference story", async () => {
    const model = sharedPath("models/bitllama-1M.bin");
    const { input } = await convertBitllama(bytesSource(new Uint8Array(readFileSync(model))), readFileSync(sharedPath("models/tok512.bin")));
    const bytes = await writeGgufToBytes(input);
    const header = await readGgufHeader(bytesSource(bytes));
    const gm = await GpuModel.load(gpu, bytesSource(bytes), { header, contextLength: 64 });
    try {
      const text = tokenizerFromGguf(header.metadata).decode(await gm.greedy([1], 30));
      expect(text.startsWith("Once upon a time, there was a little girl named Lily. She loved to play with her toys"), text).toBe(true);
    } finally {
      gm.dispose();
    }
  });
});

describe.skipIf(lacks("webgpu"))("synthetic TQ2_0 model (bitnet-b1.58 style: ReLU², sub-norms, Q8_K activations)", () => {
  it("gives the CPU engine's logits and greedy tokens", async () => {
    const input = syntheticModel({
      name: "gpu-synthetic",
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
      seed: 11,
    });
    // ReLU² (BitNet b1.58) instead of the architecture's SiLU default, through ternion's key.
    const metadata = new Map(input.metadata);
    metadata.set(FFN_ACTIVATION_KEY, { type: GgufValueType.STRING, value: "relu2" });
    const bytes = await writeGgufToBytes({ ...input, metadata });
    const gm = await GpuModel.load(gpu, bytesSource(bytes), { contextLength: 64, maxBatch: 16 });
    const cpu = await CpuModel.load(bytesSource(bytes), { threads: 1, kvType: "f32" });
    try {
      expect(gm.config.ffnActivation).toBe("relu2");
      const prompt = [1, 17, 250, 42, 99, 7, 123, 5, 260, 33];
      const want = cpu.eval(prompt)!;
      const got = await gm.forward(prompt, 0);
      const err = maxAbsDiff(got, want);
      const scale = Math.max(...Array.from(want, Math.abs));
      console.log(`synthetic TQ2_0: max |GPU − CPU| logit ${err.toExponential(2)} (logits up to ${scale.toFixed(2)})`);
      expect(err).toBeLessThan(1e-3 * Math.max(1, scale));
      // Greedy: the CPU engine token by token, the GPU with its argmax.
      cpu.reset();
      expect(await gm.greedy(prompt, 8)).toEqual(cpuGreedy(cpu, prompt, 8));
    } finally {
      gm.dispose();
      cpu.dispose();
    }
  });
});

describe.skipIf(lacks("webgpu"))("typed errors", () => {
  it("no WebGPU, no adapter", async () => {
    const { acquireGpu } = await import("../src/gpu/device.ts");
    const nav = (globalThis as { navigator?: { gpu?: unknown } }).navigator;
    if (!nav?.gpu) await expect(acquireGpu()).rejects.toMatchObject({ code: "NO_WEBGPU" });
    const noAdapter = { requestAdapter: async () => null } as unknown as GPU;
    await expect(acquireGpu({ gpu: noAdapter })).rejects.toMatchObject({ name: "GpuError", code: "NO_ADAPTER" });
  });

  it("a context beyond the model's or a bad batch is BAD_ARGUMENT before anything is allocated", async () => {
    const bytes = new Uint8Array(readFileSync(sharedPath("models/stories260K.gguf")));
    for (const options of [{ contextLength: 2049 }, { contextLength: 2 ** 40 }, { contextLength: 0 }, { maxBatch: 0.5 }]) {
      await expect(GpuModel.load(gpu, bytesSource(bytes), options)).rejects.toMatchObject({ name: "GpuError", code: "BAD_ARGUMENT" });
    }
  });

  it("a lost device fails the next step with DEVICE_LOST", async () => {
    const { acquireGpu } = await import("../src/gpu/device.ts");
    const own = await acquireGpu({ gpu: gpu.gpu! });
    const bytes = new Uint8Array(readFileSync(sharedPath("models/stories260K.gguf")));
    const model = await GpuModel.load(own, bytesSource(bytes), { contextLength: 16 });
    expect(await model.forwardArgmax([1], 0)).toBeGreaterThanOrEqual(0);
    own.destroy();
    await own.lost;
    await expect(model.forwardArgmax([1], 1)).rejects.toMatchObject({ name: "GpuError", code: "DEVICE_LOST" });
    model.dispose();
  });
});

describe.skipIf(lacks("webgpu"))("DLT student exported from stories260K (per-group α and γ, rows of 64 and 172)", () => {
  it("gives the CPU engine's logits and greedy tokens", async () => {
    const source = await openFileSource(sharedPath("models/stories260K.gguf"));
    const teacher = await loadFloatModel(source).finally(() => source.close());
    // DLT at initialisation (shifts γ ≠ 0, groups of 64 and a short last group of 44) is a real student file.
    const student = buildTrainModel(teacher.config, teacher.tensors, { precision: "f32", dlt: { group: 64, refine: true } });
    const bytes = await writeGgufToBytes(exportStudent(student, teacher.header, teacher.tensors, "dlt").input);
    const gm = await GpuModel.load(gpu, bytesSource(bytes), { contextLength: 64, maxBatch: 16 });
    const cpu = await CpuModel.load(bytesSource(bytes), { threads: 1, kvType: "f32", contextLength: 64 });
    try {
      const prompt = [1, 403, 407, 261, 378]; // "Once upon a time"
      const want = cpu.eval(prompt)!;
      const got = await gm.forward(prompt, 0);
      const err = maxAbsDiff(got, want);
      const scale = Math.max(...Array.from(want, Math.abs));
      console.log(`DLT student: max |GPU − CPU| logit ${err.toExponential(2)} (logits up to ${scale.toFixed(2)})`);
      expect(err).toBeLessThan(1e-3 * Math.max(1, scale));
      cpu.reset();
      expect(await gm.greedy(prompt, 12)).toEqual(cpuGreedy(cpu, prompt, 12));
    } finally {
      gm.dispose();
      cpu.dispose();
    }
  });
});
