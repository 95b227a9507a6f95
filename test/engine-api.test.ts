// The Engine interface (src/engine), one suite run against both engines: createLocalEngine (the model in
// this thread) and createEngine (the model in a worker thread, dist/engine-worker.js: `npm run build` first).
// Then what only one of them has: backend choice and GPU device loss (in-thread, where the test can hand in a
// WebGPU object and destroy its device), and the worker's crash and restart.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createLocalEngine } from "../src/engine/local-engine.ts";
import { createEngine, killEngineWorker } from "../src/engine/worker-engine.ts";
import type { Engine, EngineOptions, LoadProgress } from "../src/engine/engine.ts";
import { CHAT_TEMPLATE_KEY } from "../src/engine/chat-template.ts";
import { AbortError, ContextError, EngineCrashedError, EngineError, GpuError, ModelError, OptionError } from "../src/runtime/errors.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { readGgufHeader } from "../src/runtime/gguf/reader.ts";
import { ggufInputFromSource } from "../src/runtime/gguf/writer.ts";
import { writeGgufFile } from "../src/runtime/gguf/writer-node.ts";
import { GgufValueType } from "../src/runtime/gguf/types.ts";
import { STORIES_CONTINUATION, sharedPath } from "./helpers/shared.ts";
import { kvRowBytes } from "../src/runtime/cpu/attention.ts";
import { SWIFTSHADER_ICD, testGpu } from "./helpers/gpu.ts";
import { lacks } from "./helpers/optional-deps.ts";

const STORIES = sharedPath("models/stories260K.gguf");
const LONG_PROMPT = "Once upon a time there was a big dog who liked to run and play in the sun all day";
// A chat template that only a real Jinja renders as below: a loop, tests on the role, filters, the BOS text.
const TEMPLATE =
  "{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}[{{ m.content | upper }}] " +
  "{% else %}{{ m.role | capitalize }}: {{ m.content | trim }}\n{% endif %}{% endfor %}" +
  "{% if add_generation_prompt %}Assistant:{% endif %}";

let dir: string;
let templated: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ternion-engine-api-"));
  // stories260K with a chat template, written with the project's GGUF writer.
  templated = join(dir, "stories260K-chat.gguf");
  const source = await openFileSource(STORIES);
  try {
    const header = await readGgufHeader(source);
    const input = ggufInputFromSource(source, header);
    const metadata = new Map(input.metadata);
    metadata.set(CHAT_TEMPLATE_KEY, { type: GgufValueType.STRING, value: TEMPLATE });
    await writeGgufFile(templated, { ...input, metadata });
  } finally {
    await source.close();
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Factory = (options: EngineOptions) => Promise<Engine>;
const engines: [string, Factory][] = [
  ["createLocalEngine", createLocalEngine],
  ["createEngine", createEngine],
];

describe.each(engines)("%s", (_name, create) => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await create({ model: STORIES, backend: "wasm", threads: 1, kvType: "f32" });
  });
  afterAll(() => engine?.dispose());

  it('greedy continuation of "Once upon a time" is the reference text, with its statistics', async () => {
    const r = await engine.complete("Once upon a time", { temperature: 0, maxTokens: 60 });
    expect(r.text.startsWith(STORIES_CONTINUATION), r.text).toBe(true);
    expect(r.tokens).toHaveLength(60);
    expect(r.stopReason).toBe("max-tokens");
    expect(r.stats).toMatchObject({ promptTokens: 5, generatedTokens: 60, backend: "wasm", threads: 1 });
    expect(["relaxed", "simd128"]).toContain(r.stats.simd);
    expect(r.stats.prefillTokensPerSecond).toBeGreaterThan(0);
    expect(r.stats.decodeTokensPerSecond).toBeGreaterThan(0);
    expect(r.stats.timeToFirstTokenMs).toBeGreaterThan(0);
  });

  it("streams chunks that concatenate to complete()'s text, and the same seed gives the same text", async () => {
    const options = { temperature: 0.9, seed: 42, maxTokens: 40 };
    const stream = engine.generate("The dog", options);
    const chunks: { text: string; token: number }[] = [];
    for await (const c of stream) chunks.push(c);
    const streamed = await stream.result;
    expect(chunks.map((c) => c.token)).toEqual(streamed.tokens);
    expect(chunks.map((c) => c.text).join("")).toBe(streamed.text);
    const again = await engine.complete("The dog", options);
    expect(again.text).toBe(streamed.text);
    expect(again.tokens).toEqual(streamed.tokens);
    const other = await engine.complete("The dog", { ...options, seed: 7 });
    expect(other.tokens).not.toEqual(streamed.tokens);
  });

  it("aborts mid-generation: the stream ends with what was generated, stopReason abort", async () => {
    const controller = new AbortController();
    const stream = engine.generate("Once upon a time", { temperature: 0, maxTokens: 400, signal: controller.signal });
    let text = "";
    let n = 0;
    for await (const c of stream) {
      text += c.text;
      if (++n === 5) controller.abort();
    }
    const r = await stream.result;
    expect(r.stopReason).toBe("abort");
    expect(r.tokens.length).toBeGreaterThanOrEqual(5);
    expect(r.tokens.length).toBeLessThan(400);
    expect(text).toBe(r.text);
    // the engine goes on normally
    const next = await engine.complete("Once upon a time", { temperature: 0, maxTokens: 10 });
    expect(next.tokens).toHaveLength(10);
    expect(STORIES_CONTINUATION.startsWith(next.text)).toBe(true);
  });

  it("runs calls in the order they were made", async () => {
    const order: string[] = [];
    const track = <T>(name: string, p: Promise<T>) => p.then((v) => (order.push(name), v));
    const text = readFileSync(sharedPath("corpus/tinystories-valid-a.txt"), "utf8").slice(0, 2000);
    const a = track("a", engine.complete("Once upon a time", { temperature: 0, maxTokens: 30 }));
    const windows: number[] = [];
    const b = track("b", engine.perplexity(text, { ctx: 64, onWindow: (w) => windows.push(w) }));
    const c = track("c", engine.complete("The cat", { temperature: 0, maxTokens: 5 }));
    const d = track("d", engine.complete("Once upon a time", { temperature: 0, maxTokens: 30 }));
    const [ra, rb, , rd] = await Promise.all([a, b, c, d]);
    expect(order).toEqual(["a", "b", "c", "d"]);
    expect(ra.text.startsWith(STORIES_CONTINUATION.slice(0, 40))).toBe(true);
    expect(rd.text).toBe(ra.text);
    expect(rb.ppl).toBeGreaterThan(1);
    expect(rb.windows).toBe(Math.floor(rb.tokens / 64));
    expect(windows).toEqual(Array.from({ length: rb.windows }, (_, i) => i + 1));
  });

  it("a queued call whose signal fires leaves the queue at once; the next one takes its place", async () => {
    const running = engine.complete("Once upon a time", { temperature: 0, maxTokens: 300 });
    let runningDone = false;
    void running.then(() => (runningDone = true));
    const controller = new AbortController();
    const queued = engine.complete("The cat", { temperature: 0, maxTokens: 50, signal: controller.signal });
    const after = engine.complete("Once upon a time", { temperature: 0, maxTokens: 10 });
    await new Promise((r) => setTimeout(r, 20));
    controller.abort();
    const q = await queued;
    expect(runningDone).toBe(false); // it left while the first call was still running
    expect(q).toMatchObject({ text: "", tokens: [], stopReason: "abort" });
    const [r, a] = await Promise.all([running, after]);
    expect(r.tokens).toHaveLength(300);
    expect(STORIES_CONTINUATION.startsWith(a.text)).toBe(true);
    expect(a.tokens).toHaveLength(10);
  });

  it("rejects with the same typed errors in-thread and across the worker", async () => {
    const small = await create({ model: STORIES, backend: "wasm", threads: 1, contextLength: 16 });
    try {
      const err = await small.complete(LONG_PROMPT, { maxTokens: 4 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ContextError);
      expect(err).toMatchObject({ name: "ContextError", code: "PROMPT_TOO_LONG" });
      expect((err as Error).message).toMatch(/the prompt has \d+ tokens, more than the context of 16/);
      await expect(small.complete("x", { topP: 2 })).rejects.toSatisfy(
        (e) => e instanceof OptionError && (e as OptionError).code === "BAD_OPTION_VALUE",
      );
      await expect(small.complete("x", { bogus: 1 } as never)).rejects.toMatchObject({ name: "OptionError", code: "UNKNOWN_OPTION" });
      await expect(small.detokenize([9999])).rejects.toBeInstanceOf(OptionError);
      await expect(small.perplexity("Once upon a time.", { ctx: 8 })).rejects.toMatchObject({ code: "TEXT_TOO_SHORT" });
      // the engine still works after its errors
      expect((await small.complete("Once upon a time", { temperature: 0, maxTokens: 4 })).tokens).toHaveLength(4);
    } finally {
      await small.dispose();
    }
    const missing = await create({ model: join(dir, "no-such-model.gguf") }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ModelError);
    expect(missing).toMatchObject({ code: "MODEL_NOT_FOUND" });
  });

  it("takes a prompt as token ids (the same text as the string), and refuses ids outside the vocabulary", async () => {
    const ids = await engine.tokenize("Once upon a time", { addBos: true });
    const byIds = await engine.complete(ids, { temperature: 0, maxTokens: 12 });
    const byText = await engine.complete("Once upon a time", { temperature: 0, maxTokens: 12 });
    expect(byIds.text).toBe(byText.text);
    await expect(engine.complete([1, 100000], { maxTokens: 1 })).rejects.toMatchObject({ name: "OptionError", code: "BAD_TOKEN" });
  });

  it("tokenizes, detokenizes and reports info", async () => {
    const ids = await engine.tokenize("Once upon a time", { addBos: true });
    expect(ids[0]).toBe(1);
    expect(await engine.detokenize(ids.slice(1))).toBe("Once upon a time");
    const info = await engine.info();
    expect(info).toMatchObject({ backend: "wasm", threads: 1, contextLength: 2048, kvType: "f32", chatTemplate: "fallback" });
    expect(info.backendReason).toMatch(/wasm requested/);
    expect(info.model).toMatchObject({ architecture: "llama", vocabSize: 512, layers: 5 });
    expect(info.metadata["general.architecture"]).toBe("llama");
    expect(info.memory.weights).toBeGreaterThan(1_000_000);
    expect(info.memory.total).toBeGreaterThanOrEqual(info.memory.weights + info.memory.kvCache);
  });

  it('kvType "q8_0": an int8 cache (info and the memory plan say so) that still continues greedily as the f32 one', async () => {
    const q8 = await create({ model: STORIES, backend: "wasm", threads: 1, kvType: "q8_0", contextLength: 256 });
    try {
      const info = await q8.info();
      expect(info.kvType).toBe("q8_0");
      // stories260K: 5 layers, 4 kv heads of 8 → rows of 8 codes + one f32 scale
      expect(info.memory.kvCache).toBe(2 * 5 * Math.ceil((4 * 256 * kvRowBytes("q8_0", 8)) / 64) * 64);
      const r = await q8.complete("Once upon a time", { temperature: 0, maxTokens: 60 });
      expect(r.tokens).toHaveLength(60);
      expect(r.text.startsWith(STORIES_CONTINUATION), r.text).toBe(true);
    } finally {
      await q8.dispose();
    }
  });

  it("chats in the OpenAI shape with the plain fallback template (no template in the file)", async () => {
    const messages = [
      { role: "system", content: "You tell stories." },
      { role: "user", content: "Tell me about a cat." },
    ];
    const prompt = await engine.applyChatTemplate(messages);
    expect(prompt).toBe("You tell stories.\n\nUser: Tell me about a cat.\nAssistant:");
    const request = { messages, max_tokens: 30, temperature: 0 };
    const c = await engine.chat.completions.create(request);
    expect(c).toMatchObject({ object: "chat.completion", choices: [{ index: 0, message: { role: "assistant" } }] });
    expect(["stop", "length"]).toContain(c.choices[0].finish_reason);
    const plain = await engine.complete(prompt, { temperature: 0, maxTokens: 30, stop: ["\nUser:"] });
    expect(c.choices[0].message.content).toBe(plain.text);
    expect(c.usage).toEqual({
      prompt_tokens: plain.stats.promptTokens,
      completion_tokens: plain.tokens.length,
      total_tokens: plain.stats.promptTokens + plain.tokens.length,
    });

    const stream = await engine.chat.completions.create({ ...request, stream: true });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0]!.choices[0].delta.role).toBe("assistant");
    expect(chunks.map((k) => k.choices[0].delta.content ?? "").join("")).toBe(plain.text);
    expect(chunks.at(-1)!.choices[0].finish_reason).toBe(c.choices[0].finish_reason);
    expect(chunks.slice(0, -1).every((k) => k.object === "chat.completion.chunk" && k.choices[0].finish_reason === null)).toBe(true);
    expect(chunks.at(-1)!.usage).toEqual(c.usage);
  });

  it("chats with the GGUF's chat template, rendered by Jinja", async () => {
    const chat = await create({ model: templated, backend: "wasm", threads: 1, kvType: "f32" });
    try {
      expect((await chat.info()).chatTemplate).toBe("gguf");
      const messages = [
        { role: "system", content: "be brief" },
        { role: "user", content: "  Once upon a time  " },
      ];
      const rendered = await chat.applyChatTemplate(messages);
      expect(rendered).toBe("<s>[BE BRIEF] User: Once upon a time\nAssistant:");
      const c = await chat.chat.completions.create({ messages, max_tokens: 20, temperature: 0 });
      // "<s>" is the BOS token (parsed as such, once): the same as the text after it with BOS prepended.
      const plain = await chat.complete(rendered.slice("<s>".length), { temperature: 0, maxTokens: 20 });
      expect(c.choices[0].message.content).toBe(plain.text);
      expect(c.usage.prompt_tokens).toBe(plain.stats.promptTokens);
      await expect(chat.chat.completions.create({ messages: [] })).rejects.toMatchObject({ name: "OptionError", code: "BAD_MESSAGES" });
    } finally {
      await chat.dispose();
    }
  });

  it("reuses the KV cache across chat turns: the same text as a fresh prompt, less prefill", async () => {
    const turn1 = [{ role: "user", content: "Tell me a story." }];
    const first = await engine.chat.completions.create({ messages: turn1, max_tokens: 24, temperature: 0 });
    const turn2 = [...turn1, { role: "assistant", content: first.choices[0].message.content }, { role: "user", content: "And then?" }];
    const reused = await engine.chat.completions.create({ messages: turn2, max_tokens: 24, temperature: 0 });
    const fresh = await create({ model: STORIES, backend: "wasm", threads: 1, kvType: "f32" });
    try {
      const cold = await fresh.chat.completions.create({ messages: turn2, max_tokens: 24, temperature: 0 });
      expect(reused.choices[0].message.content).toBe(cold.choices[0].message.content);
      expect(cold.stats.cachedTokens).toBe(0);
      expect(reused.stats.cachedTokens).toBeGreaterThanOrEqual(first.usage.prompt_tokens);
      expect(reused.stats.promptTokens).toBe(cold.stats.promptTokens);
      expect((await engine.info()).cachedTokens).toBeGreaterThan(reused.stats.promptTokens);
    } finally {
      await fresh.dispose();
    }
  });

  it("reports load progress and cancels a load", async () => {
    const events: LoadProgress[] = [];
    const e = await create({ model: STORIES, backend: "wasm", threads: 1, onProgress: (p) => events.push({ ...p }) });
    await e.dispose();
    const size = readFileSync(STORIES).length;
    const reads = events.filter((p) => p.phase === "read");
    const uploads = events.filter((p) => p.phase === "upload");
    expect(reads.length).toBeGreaterThan(1);
    expect(reads.every((p, i) => p.total === size && p.loaded <= size && (i === 0 || p.loaded >= reads[i - 1]!.loaded))).toBe(true);
    expect(reads.at(-1)!.loaded).toBeGreaterThan(0.95 * size);
    expect(uploads.at(-1)).toEqual({ phase: "upload", loaded: 48, total: 48 });
    expect(events.at(-1)).toEqual({ phase: "ready", loaded: size, total: size });
    // Each event says something new: within a phase the count only grows, and no event repeats another.
    for (const phase of [reads, uploads]) expect(phase.every((p, i) => i === 0 || p.loaded > phase[i - 1]!.loaded)).toBe(true);
    expect(new Set(events.map((p) => JSON.stringify(p))).size).toBe(events.length);

    const controller = new AbortController();
    let seen = 0;
    const aborted = await create({
      model: STORIES,
      backend: "wasm",
      threads: 1,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase === "upload" && ++seen === 3) controller.abort();
      },
    }).catch((err: unknown) => err);
    expect(aborted).toBeInstanceOf(AbortError);
    expect(aborted).toMatchObject({ name: "AbortError", code: "ABORTED" });
    const early = new AbortController();
    early.abort();
    await expect(create({ model: STORIES, signal: early.signal })).rejects.toBeInstanceOf(AbortError);
  });

  it("rejects calls after dispose, and queued calls at dispose, with EngineError DISPOSED", async () => {
    const e = await create({ model: STORIES, backend: "wasm", threads: 1 });
    const running = e.complete("Once upon a time", { temperature: 0, maxTokens: 500 });
    const queued = e.complete("The cat", { temperature: 0, maxTokens: 5 }).catch((err: unknown) => err);
    await new Promise((r) => setTimeout(r, 20));
    await e.dispose();
    expect((await running).stopReason).toBe("abort");
    const err = await queued;
    expect(err).toBeInstanceOf(EngineError);
    expect(err).toMatchObject({ code: "DISPOSED" });
    await expect(e.complete("x")).rejects.toMatchObject({ code: "DISPOSED" });
  });
});

/**
 * A WebGPU entry point on SwiftShader whose adapter reports itself as a hardware GPU, and hands out its devices
 * (so that a test can lose one). It gets the hardware workgroup shapes, slow on SwiftShader: few tokens there.
 */
async function disguisedGpu(): Promise<{ gpu: GPU; devices: GPUDevice[] }> {
  const real = (await testGpu()).gpu!;
  const devices: GPUDevice[] = [];
  const gpu = {
    wgslLanguageFeatures: real.wgslLanguageFeatures,
    getPreferredCanvasFormat: () => real.getPreferredCanvasFormat(),
    async requestAdapter(options?: GPURequestAdapterOptions) {
      const adapter = await real.requestAdapter(options);
      if (!adapter) return null;
      return new Proxy(adapter, {
        get(target, key) {
          if (key === "info") return { vendor: "test", architecture: "disguised", description: "hardware-like GPU", device: "" };
          if (key === "isFallbackAdapter") return false;
          if (key === "requestDevice") {
            return async (d?: GPUDeviceDescriptor) => {
              const device = await target.requestDevice(d);
              devices.push(device);
              return device;
            };
          }
          const v = Reflect.get(target, key, target);
          return typeof v === "function" ? v.bind(target) : v;
        },
      });
    },
  } as unknown as GPU;
  return { gpu, devices };
}

describe.skipIf(lacks("webgpu"))("backend choice and GPU device loss (in-thread engine)", () => {
  it("auto: wasm when the only adapter is software (SwiftShader), and when there is none", async () => {
    const { gpu } = await testGpu();
    const soft = await createLocalEngine({ model: STORIES, gpu: gpu!, threads: 1 });
    try {
      const info = await soft.info();
      expect(info.backend).toBe("wasm");
      expect(info.backendReason).toMatch(/runs on the CPU/);
      expect(info.backendReason).toMatch(/SwiftShader/i);
    } finally {
      await soft.dispose();
    }
    const none = { requestAdapter: async () => null } as unknown as GPU;
    const fallback = await createLocalEngine({ model: STORIES, gpu: none, threads: 1 });
    try {
      expect((await fallback.info()).backendReason).toMatch(/WebGPU unavailable .*no adapter/);
      expect((await fallback.complete("Once upon a time", { temperature: 0, maxTokens: 60 })).text.startsWith(STORIES_CONTINUATION)).toBe(true);
    } finally {
      await fallback.dispose();
    }
    await expect(createLocalEngine({ model: STORIES, backend: "webgpu", gpu: none })).rejects.toMatchObject({ name: "GpuError", code: "NO_ADAPTER" });
  });

  it("webgpu: greedy text on the GPU (argmax read back) is the reference", async () => {
    const { gpu } = await testGpu();
    const e = await createLocalEngine({ model: STORIES, backend: "webgpu", gpu: gpu!, contextLength: 128 });
    try {
      const info = await e.info();
      expect(info).toMatchObject({ backend: "webgpu", threads: 0, kvType: "f32", contextLength: 128 });
      expect(info.adapter).toMatch(/SwiftShader/i);
      const r = await e.complete("Once upon a time", { temperature: 0, maxTokens: 60 });
      expect(r.text.startsWith(STORIES_CONTINUATION), r.text).toBe(true);
      expect(r.stats).toMatchObject({ backend: "webgpu", threads: 0, simd: "none" });
      // sampled decoding reads the logits back: the same seed gives the same text as on wasm
      const wasm = await createLocalEngine({ model: STORIES, backend: "wasm", threads: 1, kvType: "f32" });
      try {
        const options = { temperature: 0.8, seed: 3, maxTokens: 20 };
        expect((await e.complete("The dog", options)).text).toBe((await wasm.complete("The dog", options)).text);
      } finally {
        await wasm.dispose();
      }
    } finally {
      await e.dispose();
    }
  });

  it("auto picks a hardware adapter; after the device is lost the next call runs on wasm", async () => {
    const { gpu, devices } = await disguisedGpu();
    const e = await createLocalEngine({ model: STORIES, gpu, threads: 1, kvType: "f32", contextLength: 128 });
    try {
      let info = await e.info();
      expect(info.backend).toBe("webgpu");
      expect(info.backendReason).toMatch(/auto: WebGPU adapter .*hardware-like GPU/);
      const onGpu = await e.complete("Once upon a time", { temperature: 0, maxTokens: 12 });
      expect(onGpu.tokens).toHaveLength(12);
      expect(STORIES_CONTINUATION.startsWith(onGpu.text), onGpu.text).toBe(true);
      devices.at(-1)!.destroy();
      await devices.at(-1)!.lost;
      const after = await e.complete("Once upon a time", { temperature: 0, maxTokens: 12 });
      expect(after.text).toBe(onGpu.text);
      expect(after.stats.backend).toBe("wasm");
      info = await e.info();
      expect(info.backend).toBe("wasm");
      expect(info.backendReason).toMatch(/device was lost/);
      // restart() tries the original choice again: back on the GPU
      await e.restart();
      expect((await e.info()).backend).toBe("webgpu");
    } finally {
      await e.dispose();
    }
  });

  it("webgpu: a lost device fails the call with GpuError DEVICE_LOST; restart brings the GPU or wasm back", async () => {
    const { gpu, devices } = await disguisedGpu();
    const e = await createLocalEngine({ model: STORIES, backend: "webgpu", gpu, contextLength: 128 });
    try {
      devices.at(-1)!.destroy();
      const err = await e.complete("Once upon a time", { temperature: 0, maxTokens: 10 }).catch((x: unknown) => x);
      expect(err).toBeInstanceOf(GpuError);
      expect(err).toMatchObject({ code: "DEVICE_LOST" });
      await expect(e.complete("Once upon a time", { temperature: 0, maxTokens: 10 })).rejects.toMatchObject({ code: "DEVICE_LOST" });
      await e.restart();
      const again = await e.complete("Once upon a time", { temperature: 0, maxTokens: 12 });
      expect(again.stats.backend).toBe("webgpu");
      expect(STORIES_CONTINUATION.startsWith(again.text), again.text).toBe(true);
      await e.restart({ backend: "wasm" });
      const info = await e.info();
      expect(info.backend).toBe("wasm");
      expect((await e.complete("Once upon a time", { temperature: 0, maxTokens: 60 })).text.startsWith(STORIES_CONTINUATION)).toBe(true);
    } finally {
      await e.dispose();
    }
  });
});

describe("worker engine", () => {
  it("a dead worker rejects every pending call with EngineCrashedError, and restart() brings it back", async () => {
    const e = await createEngine({ model: STORIES, backend: "wasm", threads: 1, kvType: "f32" });
    try {
      const stream = e.generate("Once upon a time", { temperature: 0, maxTokens: 1000 });
      const queued = e.complete("The cat", { maxTokens: 5 });
      const info = e.info();
      let chunks = 0;
      const consumed = (async () => {
        for await (const _ of stream) if (++chunks === 3) killEngineWorker(e);
      })();
      await expect(consumed).rejects.toBeInstanceOf(EngineCrashedError);
      await expect(stream.result).rejects.toMatchObject({ name: "EngineCrashedError", code: "CRASHED" });
      await expect(queued).rejects.toBeInstanceOf(EngineCrashedError);
      await info; // answered before the crash, or rejected by it: never left hanging
      await expect(e.tokenize("x")).rejects.toBeInstanceOf(EngineCrashedError);
      await e.restart();
      const r = await e.complete("Once upon a time", { temperature: 0, maxTokens: 60 });
      expect(r.text.startsWith(STORIES_CONTINUATION)).toBe(true);
    } finally {
      await e.dispose();
    }
  });

  it("calls made while restart() starts a crashed worker again wait for it and succeed (no TypeError)", async () => {
    const e = await createEngine({ model: STORIES, backend: "wasm", threads: 1, kvType: "f32" });
    try {
      killEngineWorker(e);
      await expect(e.complete("x", { maxTokens: 1000, ignoreEos: true })).rejects.toBeInstanceOf(EngineCrashedError); // the crash is seen
      const restarted = e.restart();
      // Made before the new worker has loaded the model: each waits for the restart.
      const during = [e.complete("Once upon a time", { temperature: 0, maxTokens: 60 }), e.tokenize("Once"), e.info()] as const;
      const [completion, tokens, info] = await Promise.all(during);
      await restarted;
      expect(completion.text.startsWith(STORIES_CONTINUATION)).toBe(true);
      expect(tokens.length).toBeGreaterThan(0);
      expect(info.backend).toBe("wasm");
    } finally {
      await e.dispose();
    }
  });

  it.skipIf(lacks("webgpu"))('runs the WebGPU backend inside the worker (gpu: "webgpu", SwiftShader)', async () => {
    await testGpu(); // sets the Vulkan environment the worker inherits
    expect(process.env.VK_ICD_FILENAMES).toBe(SWIFTSHADER_ICD);
    const e = await createEngine({ model: pathToFileURL(STORIES), backend: "webgpu", gpu: "webgpu", contextLength: 128 });
    try {
      expect((await e.info()).backend).toBe("webgpu");
      const r = await e.complete("Once upon a time", { temperature: 0, maxTokens: 60 });
      expect(r.text.startsWith(STORIES_CONTINUATION), r.text).toBe(true);
    } finally {
      await e.dispose();
    }
  });

  it("takes the model as bytes and as a Blob, and names a missing worker script", async () => {
    const bytes = new Uint8Array(readFileSync(STORIES));
    for (const model of [bytes, new Blob([bytes])]) {
      const e = await createEngine({ model, backend: "wasm", threads: 1 });
      try {
        expect((await e.complete("Once upon a time", { temperature: 0, maxTokens: 20 })).tokens).toHaveLength(20);
      } finally {
        await e.dispose();
      }
    }
    await expect(createEngine({ model: STORIES, workerUrl: join(dir, "missing-worker.js") })).rejects.toMatchObject({
      name: "EngineError",
      code: "WORKER_NOT_FOUND",
    });
    await expect(createEngine({ model: STORIES, gpu: {} as GPU })).rejects.toBeInstanceOf(OptionError);
  });
});
