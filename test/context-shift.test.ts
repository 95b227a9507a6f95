// Context shift (src/engine/context-shift.ts, chat-fit.ts): a generation longer than the context slides its
// window and goes on, re-evaluating only the tokens after the kept head; a chat longer than the context leaves
// out its oldest turns and its next turns reuse the KV cache; `contextShift: false` keeps the old endings. Both
// engines (createEngine: `npm run build` first).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generate } from "../src/engine/generate.ts";
import { keptHead, slideWindow } from "../src/engine/context-shift.ts";
import type { ChatMessage } from "../src/engine/chat-types.ts";
import type { Engine } from "../src/engine/engine.ts";
import { createLocalEngine } from "../src/engine/local-engine.ts";
import { createEngine } from "../src/engine/worker-engine.ts";
import { CpuLanguageModel } from "../src/runtime/cpu/language-model.ts";
import { CpuModel } from "../src/runtime/cpu/model.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import type { LanguageModel } from "../src/runtime/model/language-model.ts";
import { testGpu } from "./helpers/gpu.ts";
import { lacks } from "./helpers/optional-deps.ts";

const MODEL = new URL("../models/stories260K-ternary.gguf", import.meta.url).pathname;

async function cpuModel(contextLength: number): Promise<CpuModel> {
  const source = await openFileSource(MODEL);
  try {
    return await CpuModel.load(source, { threads: 1, contextLength, kvType: "f32" });
  } finally {
    await source.close();
  }
}

/** A language model that records every forward call: where it started, what it fed, the logits it returned. */
function recording(lm: LanguageModel) {
  const calls: { position: number; ids: number[]; logits: Float32Array }[] = [];
  const model = Object.create(lm) as LanguageModel;
  Object.defineProperty(model, "forwardArgmax", { value: undefined });
  model.forward = async (ids) => {
    const position = lm.position;
    const logits = await lm.forward(ids);
    calls.push({ position, ids: Array.from(ids), logits: logits.slice() });
    return logits;
  };
  return { model, calls };
}

describe("slideWindow", () => {
  it("keeps the head and the newest tokens, dropping at least half of the rest; fitting tokens are unchanged", () => {
    const t = Array.from({ length: 33 }, (_, i) => i);
    expect(slideWindow(t.slice(0, 32), 32, 4)).toEqual(t.slice(0, 32));
    const w = slideWindow(t, 32, 4);
    expect(w.slice(0, 4)).toEqual([0, 1, 2, 3]);
    expect(w.at(-1)).toBe(32);
    expect(w.length).toBe(33 - 14); // ceil((32 − 4) / 2) dropped
    expect(w).toEqual([0, 1, 2, 3, ...t.slice(18)]);
    // A head larger than half the context is cut to half, so that a shift always frees room.
    expect(keptHead(100, 32)).toBe(16);
    expect(slideWindow(t, 32, 100).length).toBeLessThanOrEqual(32);
  });
});

describe("the generation loop at a full context", () => {
  it("slides: 100 tokens in a context of 32, the head kept in the KV cache, the tail re-evaluated exactly", async () => {
    const cpu = await cpuModel(32);
    try {
      const { model, calls } = recording(new CpuLanguageModel(cpu));
      const r = await generate(model, "Once upon a time", { temperature: 0, maxTokens: 100, ignoreEos: true, contextKeep: 3 });
      expect(r.stopReason).toBe("max-tokens");
      expect(r.tokens).toHaveLength(100);
      expect(r.stats.contextShifts).toBeGreaterThan(0);
      const shifts = calls.filter((c, i) => i > 0 && c.ids.length > 1);
      expect(shifts).toHaveLength(r.stats.contextShifts);
      // Each shift starts after the kept head (its KV entries are reused) and evaluates the rest again.
      for (const s of shifts) expect(s.position).toBe(3);
      expect(r.stats.shiftedTokens).toBe(shifts.reduce((n, s) => n + s.ids.length - 1, 0));
      // Every token fed: the prompt, each generated token but the last, and the shifts' re-evaluated tokens.
      const fed = calls.reduce((n, c) => n + c.ids.length, 0);
      expect(fed).toBe(r.stats.promptTokens + r.tokens.length - 1 + r.stats.shiftedTokens);
      expect(r.sequence.length).toBeLessThanOrEqual(32);
      expect(r.sequence.slice(0, 3)).toEqual(calls[0]!.ids.slice(0, 3));
      // The logits after a shift are those of the window evaluated from scratch: the shift is exact.
      const first = shifts[0]!;
      const window = [...calls[0]!.ids.slice(0, 3), ...first.ids];
      const fresh = new CpuLanguageModel(await cpuModel(32));
      try {
        const want = await fresh.forward(window);
        let diff = 0;
        for (let i = 0; i < want.length; i++) diff = Math.max(diff, Math.abs(want[i]! - first.logits[i]!));
        expect(diff).toBeLessThan(1e-3);
      } finally {
        fresh.dispose();
      }
    } finally {
      cpu.dispose();
    }
  });

  it('contextShift: false stops at the full context (stopReason "context"); "error" fails there (CONTEXT_FULL)', async () => {
    const cpu = await cpuModel(32);
    try {
      const options = { temperature: 0, maxTokens: 100, ignoreEos: true } as const;
      const r = await generate(new CpuLanguageModel(cpu), "Once upon a time", { ...options, contextShift: false });
      expect(r.stopReason).toBe("context");
      expect(r.stats.promptTokens + r.tokens.length).toBe(33);
      expect(r.stats.contextShifts).toBe(0);
      const streamed: number[] = [];
      const failing = generate(new CpuLanguageModel(cpu), "Once upon a time", {
        ...options,
        contextShift: "error",
        onToken: (t) => streamed.push(t.token),
      });
      await expect(failing).rejects.toMatchObject({
        name: "ContextError",
        code: "CONTEXT_FULL",
        message: expect.stringMatching(/context of 32 tokens is full/),
      });
      // Every token that fitted was streamed, the same as false gave; the one that did not fit was not.
      expect(streamed).toEqual(r.tokens.slice(0, -1));
      // A generation that ends before the context is full is not failed.
      const short = await generate(new CpuLanguageModel(cpu), "Once upon a time", { ...options, maxTokens: 4, contextShift: "error" });
      expect(short.stopReason).toBe("max-tokens");
    } finally {
      cpu.dispose();
    }
  });
});

/** A conversation of `turns` user/assistant pairs with long answers, then a question. */
function conversation(turns: number, system?: string): ChatMessage[] {
  const messages: ChatMessage[] = system ? [{ role: "system", content: system }] : [];
  for (let i = 0; i < turns; i++) {
    messages.push({ role: "user", content: `Tell me story number ${i}.` });
    messages.push({ role: "assistant", content: "Once upon a time there was a little dog who liked to run in the park with his friends." });
  }
  messages.push({ role: "user", content: "What happened next?" });
  return messages;
}

const ENGINES: [string, (options: never) => Promise<Engine>][] = [
  ["createLocalEngine", createLocalEngine as never],
  ["createEngine (worker)", createEngine as never],
];

describe.each(ENGINES)("%s with a context of 96", (_name, create) => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await create({ model: MODEL, threads: 1, contextLength: 96, kvType: "f32" } as never);
  });
  afterAll(async () => {
    await engine?.dispose();
  });

  it("generates past the context by sliding it (default), and stops there with contextShift: false", async () => {
    const r = await engine.complete("Once upon a time", { temperature: 0, maxTokens: 300, ignoreEos: true });
    expect(r.stopReason).toBe("max-tokens");
    expect(r.tokens).toHaveLength(300);
    expect(r.stats.contextShifts).toBeGreaterThanOrEqual(3);
    expect(r.stats.shiftedTokens).toBeGreaterThan(0);
    const off = await engine.complete("Once upon a time", { temperature: 0, maxTokens: 300, ignoreEos: true, contextShift: false });
    expect(off.stopReason).toBe("context");
    expect(off.tokens.length).toBeLessThan(100);
    await expect(engine.complete("Once upon a time", { maxTokens: 300, ignoreEos: true, contextShift: "error" })).rejects.toMatchObject({
      name: "ContextError",
      code: "CONTEXT_FULL",
    });
    // The text before the first shift is the same either way.
    expect(r.text.startsWith(off.text.slice(0, 100))).toBe(true);
    await expect(engine.complete("once ".repeat(200), { maxTokens: 4 })).rejects.toMatchObject({ name: "ContextError", code: "PROMPT_TOO_LONG" });
  });

  it("a chat longer than the context leaves out its oldest turns, keeps the system prompt, and the next turn reuses the cache", async () => {
    const messages = conversation(6, "You tell stories.");
    const long = (await engine.tokenize(await engine.applyChatTemplate(messages))).length;
    expect(long).toBeGreaterThan(96);
    const first = await engine.chat.completions.create({ messages, max_tokens: 16, temperature: 0 });
    expect(first.stats.droppedMessages).toBeGreaterThan(0);
    expect(first.usage.prompt_tokens).toBeLessThanOrEqual(96 / 2);
    // The prompt kept the system message: it is what the template renders for the messages left.
    const kept = [messages[0]!, ...messages.slice(1 + first.stats.droppedMessages!)];
    expect(first.usage.prompt_tokens).toBe((await engine.tokenize(await engine.applyChatTemplate(kept))).length);
    // The next turn of the same conversation leaves out as many and extends the prompt: its KV cache is reused.
    const next = [...messages, { role: "assistant", content: first.choices[0].message.content }, { role: "user", content: "And then?" }];
    const second = await engine.chat.completions.create({ messages: next, max_tokens: 8, temperature: 0 });
    expect(second.stats.droppedMessages).toBe(first.stats.droppedMessages);
    expect(second.stats.cachedTokens).toBeGreaterThanOrEqual(first.usage.prompt_tokens);
    // An answer that fills the context slides it instead of stopping.
    const answer = await engine.chat.completions.create({ messages: conversation(0), max_tokens: 200, temperature: 0 });
    expect(answer.stopReason === "max-tokens" || answer.stopReason === "eos" || answer.stopReason === "stop").toBe(true);
    if (answer.usage.total_tokens > 96) expect(answer.stats.contextShifts).toBeGreaterThan(0);
  });

  it("a conversation that fits leaves nothing out, even in the array that held a longer one", async () => {
    const messages = conversation(6);
    expect((await engine.chat.completions.create({ messages, max_tokens: 4, temperature: 0 })).stats.droppedMessages).toBeGreaterThan(0);
    messages.splice(0, messages.length, ...conversation(1)); // the caller reuses its array for a new, short chat
    expect((await engine.chat.completions.create({ messages, max_tokens: 4, temperature: 0 })).stats.droppedMessages).toBe(0);
  });

  it("context_shift: false fails the long chat with PROMPT_TOO_LONG; a message alone longer than the context is MESSAGE_TOO_LONG", async () => {
    await expect(engine.chat.completions.create({ messages: conversation(6), max_tokens: 4, context_shift: false })).rejects.toMatchObject({
      name: "ContextError",
      code: "PROMPT_TOO_LONG",
    });
    const huge = [{ role: "user", content: "once ".repeat(200) }];
    await expect(engine.chat.completions.create({ messages: huge, max_tokens: 4 })).rejects.toMatchObject({
      name: "ContextError",
      code: "MESSAGE_TOO_LONG",
      message: expect.stringMatching(/more than the context of 96/),
    });
  });
});

describe.skipIf(lacks("webgpu"))("WebGPU (SwiftShader)", () => {
  it("slides the context on the greedy argmax path and with sampling, giving wasm's tokens", async () => {
    const { gpu } = await testGpu();
    const options = { model: MODEL, contextLength: 32, kvType: "f32" } as const;
    const [webgpu, wasm] = await Promise.all([
      createLocalEngine({ ...options, backend: "webgpu", gpu: gpu! }),
      createLocalEngine({ ...options, backend: "wasm", threads: 1 }),
    ]);
    try {
      for (const sampling of [{ temperature: 0 }, { temperature: 0.8, seed: 5 }]) {
        const call = { ...sampling, maxTokens: 50, ignoreEos: true };
        const [g, w] = await Promise.all([webgpu.complete("Once upon a time", call), wasm.complete("Once upon a time", call)]);
        expect(g.stats.backend).toBe("webgpu");
        expect(g.tokens).toHaveLength(50);
        expect(g.stats.contextShifts).toBeGreaterThan(0);
        expect(g.stats.shiftedTokens).toBe(w.stats.shiftedTokens);
        expect(g.tokens).toEqual(w.tokens);
      }
    } finally {
      await Promise.all([webgpu.dispose(), wasm.dispose()]);
    }
  });
});
