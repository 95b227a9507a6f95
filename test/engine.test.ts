// The CPU engine end to end without llama.cpp: the reference texts of docs/ARCHITECTURE.md section 5 (stories260K and the
// real ternary bitllama-1M checkpoint converted to I2_S), the I2_S/BitNet path against the naive reference
// forward pass, embedding lookups of every weight type, invariances (threads, batch size, KV type), the
// generation loop's controls (seed, stop strings, abort, max tokens, context end) and the typed errors.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { convertBitllama } from "../src/runtime/convert/bitllama.ts";
import { embeddingRow } from "../src/runtime/cpu/embedding.ts";
import { CpuKernels } from "../src/runtime/cpu/kernels.ts";
import type { MatrixType } from "../src/runtime/cpu/layout.ts";
import { packI2_S, packTq1_0, packTq2_0 } from "../src/runtime/tensor-types/ternary-codes.ts";
import { CpuModel } from "../src/runtime/cpu/model.ts";
import { ContextError, ModelError, OptionError } from "../src/runtime/errors.ts";
import { generate } from "../src/engine/generate.ts";
import { readGgufHeader } from "../src/runtime/gguf/reader.ts";
import type { ByteSource } from "../src/runtime/gguf/source.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { writeGguf } from "../src/runtime/gguf/writer.ts";
import { writeGgufFile } from "../src/runtime/gguf/writer-node.ts";
import { GgmlType, tensorTypeTraits } from "../src/runtime/tensor-types/table.ts";
import { perplexity } from "../src/runtime/model/perplexity.ts";
import { CpuLanguageModel } from "../src/runtime/cpu/language-model.ts";
import { loadWeights as referenceWeights, referenceLogits } from "./helpers/reference-forward.ts";
import { rng } from "./helpers/random.ts";
import { STORIES_CONTINUATION, sharedPath } from "./helpers/shared.ts";
import { syntheticModel } from "./helpers/synthetic-model.ts";

const STORIES = sharedPath("models/stories260K.gguf");
const BITLLAMA_START = "Once upon a time, there was a little girl named Lily. She loved to play with her toys";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ternion-engine-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function load(path: string, options: Parameters<typeof CpuModel.load>[1] = {}): Promise<CpuModel> {
  const source = await openFileSource(path);
  try {
    return await CpuModel.load(source, { threads: 1, ...options });
  } finally {
    await source.close();
  }
}

function lastLogits(model: CpuModel, tokens: number[], chunk = tokens.length): Float32Array {
  model.reset();
  let logits: Float32Array | undefined;
  for (let i = 0; i < tokens.length; i += chunk) logits = model.eval(tokens.slice(i, i + chunk));
  return logits!;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i]! - b[i]!));
  return e;
}

describe("stories260K", () => {
  let model: CpuModel;
  beforeAll(async () => {
    model = await load(STORIES, { kvType: "f32" });
  });
  afterAll(() => model?.dispose());

  it('greedy continuation of "Once upon a time" is exactly the reference text (BOS prepended)', async () => {
    const r = await generate(new CpuLanguageModel(model), "Once upon a time", { temperature: 0, maxTokens: 60 });
    expect(r.text.startsWith(STORIES_CONTINUATION)).toBe(true);
    expect(r.stopReason).toBe("max-tokens");
    expect(r.tokens).toHaveLength(60);
    expect(r.stats).toMatchObject({ promptTokens: 5, generatedTokens: 60, threads: 1 });
    expect(r.stats.decodeTokensPerSecond).toBeGreaterThan(0);
    expect(r.stats.prefillTokensPerSecond).toBeGreaterThan(0);
  });

  it("gives the same text with an f16 KV cache, 2 threads and token-by-token prefill", async () => {
    const other = await load(STORIES, { kvType: "f16", threads: 2, batchSize: 1, parallelThreshold: 0 });
    try {
      const r = await generate(new CpuLanguageModel(other), "Once upon a time", { temperature: 0, maxTokens: 60 });
      expect(r.text.startsWith(STORIES_CONTINUATION)).toBe(true);
      expect(r.stats.threads).toBe(2);
    } finally {
      other.dispose();
    }
  });

  it("prefill in batches and token by token give the same logits", () => {
    const tokens = model.tokenizer.encode("One day, a little cat went to the park to play with a ball.", { addBos: true });
    const batched = lastLogits(model, tokens);
    const single = lastLogits(model, tokens, 1);
    expect(maxAbsDiff(batched, single)).toBeLessThan(1e-5);
  });

  it("streams exactly the returned text, and the same seed gives the same text", async () => {
    const pieces: string[] = [];
    const a = await generate(new CpuLanguageModel(model), "The dog", { temperature: 0.9, seed: 42, maxTokens: 40, onText: (t) => pieces.push(t) });
    const b = await generate(new CpuLanguageModel(model), "The dog", { temperature: 0.9, seed: 42, maxTokens: 40 });
    const c = await generate(new CpuLanguageModel(model), "The dog", { temperature: 0.9, seed: 7, maxTokens: 40 });
    expect(pieces.join("")).toBe(a.text);
    expect(b.text).toBe(a.text);
    expect(b.tokens).toEqual(a.tokens);
    expect(c.tokens).not.toEqual(a.tokens);
  });

  it("stops at a stop string (cut before it) and at an abort", async () => {
    const s = await generate(new CpuLanguageModel(model), "Once upon a time", { temperature: 0, maxTokens: 60, stop: ["Lily"] });
    expect(s.stopReason).toBe("stop");
    expect(s.text).toBe(", there was a little girl named ");
    const controller = new AbortController();
    const a = await generate(new CpuLanguageModel(model), "Once upon a time", {
      temperature: 0,
      maxTokens: 60,
      signal: controller.signal,
      onText: () => controller.abort(),
    });
    expect(a.stopReason).toBe("abort");
    expect(a.tokens.length).toBe(1);
  });

  it("generates from BOS alone for an empty prompt", async () => {
    const r = await generate(new CpuLanguageModel(model), "", { temperature: 0, maxTokens: 20 });
    expect(r.stats.promptTokens).toBe(1);
    expect(r.text.length).toBeGreaterThan(10);
  });

  it("rejects bad options with typed errors", async () => {
    await expect(generate(new CpuLanguageModel(model), "x", { maxTokens: -1 })).rejects.toBeInstanceOf(OptionError);
    await expect(generate(new CpuLanguageModel(model), "x", { topP: 2 })).rejects.toBeInstanceOf(OptionError);
    expect(() => model.eval([9999])).toThrow(OptionError);
    expect(() => model.reset(model.position + 1)).toThrow(OptionError);
  });
});

describe("context length", () => {
  it("is enforced with ContextError: a prompt longer than the context, eval past its end", async () => {
    const model = await load(STORIES, { contextLength: 16 });
    try {
      const long = "Once upon a time there was a big dog who liked to run and play in the sun all day";
      await expect(generate(new CpuLanguageModel(model), long, { maxTokens: 4, contextShift: false })).rejects.toMatchObject({
        name: "ContextError",
        code: "PROMPT_TOO_LONG",
      });
      model.reset();
      model.eval(Array.from({ length: 16 }, () => 300));
      expect(() => model.eval([300])).toThrow(ContextError);
      expect(model.position).toBe(16); // nothing was evaluated
      // generation that reaches the end of the context stops there
      const r = await generate(new CpuLanguageModel(model), "Once upon a time", { temperature: 0, maxTokens: 100, contextShift: false });
      expect(r.stopReason).toBe("context");
      expect(r.stats.promptTokens + r.tokens.length).toBe(17); // the last sampled token needs no position
    } finally {
      model.dispose();
    }
  });

  it("refuses a contextLength beyond the model's", async () => {
    await expect(load(STORIES, { contextLength: 4096 })).rejects.toBeInstanceOf(OptionError);
  });
});

describe("a model larger than wasm32 can address", () => {
  it("is refused from its header, before any large allocation", async () => {
    // A llama model with 4.3 GiB of F32 weights: only the header exists; the tensor data reads as zeros.
    const input = syntheticModel({
      name: "too-large",
      architecture: "llama",
      dim: 4096,
      layers: 2,
      heads: 32,
      kvHeads: 32,
      ffn: 11008,
      vocab: 140000,
      contextLength: 4096,
      ternary: GgmlType.TQ2_0,
      embedding: GgmlType.F32,
      tiedOutput: false,
      seed: 1,
    });
    // The writer hands the header over complete when it reaches a tensor of at least a chunk: a norm goes first,
    // every other tensor's data fails, and the bytes written up to then are the header.
    const chunks: Uint8Array[] = [];
    const stop = new Error("header written");
    const norm = input.tensors.find((t) => t.name === "output_norm.weight")!;
    const rest = input.tensors.filter((t) => t !== norm).map((t) => ({ ...t, data: () => Promise.reject(stop) }));
    await writeGguf({ ...input, tensors: [norm, ...rest] }, async (c) => void chunks.push(c.slice()), { chunkSize: 1024 }).catch((e) => {
      if (e !== stop) throw e;
    });
    const head = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) head.set(c, (at += c.length) - c.length);
    const size = head.length + input.tensors.reduce((n, t) => n + tensorTypeTraits(t.type).byteLength(t.dims.reduce((a, b) => a * b, 1)) + 64, 0);
    const source: ByteSource = {
      size,
      read: async (offset, length) => {
        const out = new Uint8Array(Math.min(length, size - offset));
        if (offset < head.length) out.set(head.subarray(offset, Math.min(head.length, offset + length)));
        return out;
      },
    };
    const header = await readGgufHeader(source);
    expect(header.tensors.length).toBe(input.tensors.length);
    const before = process.memoryUsage().rss;
    const err = await CpuModel.load(source, { threads: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelError);
    expect(err).toMatchObject({ code: "MODEL_TOO_LARGE" });
    expect((err as Error).message).toMatch(/4 GiB/);
    expect(process.memoryUsage().rss - before).toBeLessThan(256 << 20);
  });
});

describe("bitllama-1M converted to GGUF (bitnet, I2_S)", () => {
  let path: string;
  let model: CpuModel;
  beforeAll(async () => {
    path = join(dir, "bitllama-1M.gguf");
    const source = await openFileSource(sharedPath("models/bitllama-1M.bin"));
    try {
      const { input } = await convertBitllama(source, readFileSync(sharedPath("models/tok512.bin")));
      await writeGgufFile(path, input);
    } finally {
      await source.close();
    }
    model = await load(path, { kvType: "f32" });
  });
  afterAll(() => model?.dispose());

  it("greedy text from BOS begins with the reference sentence", async () => {
    expect(model.config).toMatchObject({ architecture: "bitnet", activationQuant: "int8-per-token", tiedOutput: true, subNorms: true });
    const r = await generate(new CpuLanguageModel(model), "", { temperature: 0, maxTokens: 40 });
    expect((" " + r.text).trimStart().startsWith(BITLLAMA_START)).toBe(true);
  });

  it("logits follow the naive reference forward pass (I2_S, int8 per token, sub-norms, NEOX RoPE, GQA)", async () => {
    const source = await openFileSource(path);
    const header = await readGgufHeader(source);
    const weights = await referenceWeights(source, header);
    await source.close();
    const tokens = [1, ...model.tokenizer.encode("Once upon a time, there was a dog.")];
    const want = referenceLogits(model.config, weights, tokens);
    model.reset();
    let err = 0;
    model.eval(tokens, "all", (i, logits) => (err = Math.max(err, maxAbsDiff(logits, want[i]!))));
    // int8 rounding of the same values by two codes (round-half-even vs half-away) may differ at exact ties
    expect(err).toBeLessThan(2e-3);
  });
});

describe("ternary models (synthetic, TQ2_0 / TQ1_0)", () => {
  it.each([
    ["TQ2_0", GgmlType.TQ2_0],
    ["TQ1_0", GgmlType.TQ1_0],
  ] as const)("%s: 1 and 2 threads, batch and token-by-token prefill agree", async (name, type) => {
    const path = join(dir, `synthetic-${name}.gguf`);
    await writeGgufFile(
      path,
      syntheticModel({
        name,
        architecture: "bitnet",
        dim: 256,
        layers: 2,
        heads: 4,
        kvHeads: 1,
        ffn: 768,
        vocab: 300,
        contextLength: 64,
        ternary: type,
        embedding: GgmlType.F16,
        tiedOutput: true,
        seed: 5,
      }),
    );
    const one = await load(path, { threads: 1 });
    const two = await load(path, { threads: 2, parallelThreshold: 0 });
    try {
      const tokens = Array.from({ length: 20 }, (_, i) => 3 + ((i * 37) % 290));
      const a = lastLogits(one, tokens);
      const b = lastLogits(two, tokens);
      expect(Array.from(b)).toEqual(Array.from(a)); // the kernels split rows, never a sum: bit-identical
      expect(maxAbsDiff(lastLogits(one, tokens, 1), a)).toBeLessThan(1e-4);
    } finally {
      one.dispose();
      two.dispose();
    }
  });
});

describe("embedding lookup", () => {
  it.each(["F32", "F16", "Q8_0", "TQ2_0", "TQ1_0", "I2_S"] as MatrixType[])("%s rows decode to the dequantized tensor", async (type) => {
    const K = await CpuKernels.create({ threads: 1 });
    try {
      const rows = 6;
      const cols = 512;
      const r = rng(cols + type.length);
      const codes = Uint8Array.from({ length: rows * cols }, () => Math.floor(r() * 3));
      const values = Float32Array.from({ length: rows * cols }, () => r() * 2 - 1);
      const id = { F32: GgmlType.F32, F16: GgmlType.F16, Q8_0: GgmlType.Q8_0, TQ2_0: GgmlType.TQ2_0, TQ1_0: GgmlType.TQ1_0, I2_S: GgmlType.I2_S }[
        type as "F32"
      ];
      const d = Float32Array.from({ length: (rows * cols) / 256 }, () => 0.01 + r() * 0.1);
      const data =
        type === "TQ2_0"
          ? packTq2_0(codes, d, rows, cols)
          : type === "TQ1_0"
            ? packTq1_0(codes, d, rows, cols)
            : type === "I2_S"
              ? packI2_S(codes, 0.37, rows, cols)
              : tensorTypeTraits(id).quantize(values);
      const want = new Float32Array(rows * cols);
      tensorTypeTraits(id).dequantize(data, want);
      const m = K.uploadMatrix(id, rows, cols, data);
      const out = K.heap.alloc(cols * 4);
      for (let row = 0; row < rows; row++) {
        embeddingRow(K, m, row, out);
        expect(Array.from(K.heap.f32View(out, cols))).toEqual(Array.from(want.subarray(row * cols, (row + 1) * cols)));
      }
    } finally {
      K.dispose();
    }
  });
});

describe("perplexity", () => {
  it("follows llama.cpp's windows and rejects a text too short for them", async () => {
    const model = await load(STORIES, { contextLength: 64, kvType: "f32" });
    try {
      const text = readFileSync(sharedPath("corpus/tinystories-valid-a.txt"), "utf8").slice(0, 3000);
      const r = await perplexity(new CpuLanguageModel(model), text, { ctx: 64 });
      expect(r.windows).toBe(Math.floor(r.tokens / 64));
      expect(r.scored).toBe(r.windows * 31);
      expect(r.ppl).toBeGreaterThan(1);
      expect(r.ppl).toBeLessThan(20);
      await expect(perplexity(new CpuLanguageModel(model), "Once upon a time.", { ctx: 64 })).rejects.toMatchObject({ code: "TEXT_TOO_SHORT" });
      await expect(perplexity(new CpuLanguageModel(model), text, { ctx: 128 })).rejects.toBeInstanceOf(ContextError);
    } finally {
      model.dispose();
    }
  });
});
