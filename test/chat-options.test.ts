// OpenAI's chat options on both engines (createEngine: `npm run build` first): logprobs in OpenAI's documented
// shapes, equal to the model's own log-softmax; seed, stop, presence and frequency penalties doing what they
// say; stopReason beside finish_reason; every field ternion does not do refused by name (UNSUPPORTED_OPTION),
// every field nobody knows refused by name (UNKNOWN_OPTION).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChatCompletionChunk, ChatTokenLogprob } from "../src/engine/chat-types.ts";
import type { Engine } from "../src/engine/engine.ts";
import type { GenerateChunk } from "../src/engine/generate.ts";
import { createLocalEngine } from "../src/engine/local-engine.ts";
import { createEngine } from "../src/engine/worker-engine.ts";
import { CpuLanguageModel } from "../src/runtime/cpu/language-model.ts";
import { CpuModel } from "../src/runtime/cpu/model.ts";
import { OptionError } from "../src/runtime/errors.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";

const MODEL = new URL("../models/stories260K-ternary.gguf", import.meta.url).pathname;
const MESSAGES = [{ role: "user", content: "Tell me a story about a cat." }];

/** log-softmax of `logits` at `id`, in doubles. */
function logSoftmax(logits: Float32Array, id: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (const x of logits) max = Math.max(max, x);
  let sum = 0;
  for (const x of logits) sum += Math.exp(x - max);
  return logits[id]! - max - Math.log(sum);
}

/** OpenAI's ChatCompletionTokenLogprob: exactly these keys, a top list sorted most likely first. */
function expectOpenAiTokenLogprob(entry: ChatTokenLogprob, top: number): void {
  expect(Object.keys(entry).sort()).toEqual(["bytes", "logprob", "token", "top_logprobs"]);
  expect(typeof entry.token).toBe("string");
  expect(entry.logprob).toBeLessThanOrEqual(0);
  // The bytes are the token's UTF-8 (a token that is part of a character reads as U+FFFD in `token`).
  if (!entry.token.includes("\uFFFD")) expect(entry.bytes).toEqual(Array.from(new TextEncoder().encode(entry.token)));
  expect(entry.top_logprobs).toHaveLength(top);
  for (const t of entry.top_logprobs) expect(Object.keys(t).sort()).toEqual(["bytes", "logprob", "token"]);
  for (let i = 1; i < top; i++) expect(entry.top_logprobs[i]!.logprob).toBeLessThanOrEqual(entry.top_logprobs[i - 1]!.logprob);
}

const ENGINES: [string, (options: never) => Promise<Engine>][] = [
  ["createLocalEngine", createLocalEngine as never],
  ["createEngine (worker)", createEngine as never],
];

describe.each(ENGINES)("%s", (_name, create) => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await create({ model: MODEL, threads: 1 } as never);
  });
  afterAll(async () => {
    await engine?.dispose();
  });

  it("generate's logprobs are the model's log-softmax at each chosen token, with the most likely alternatives", async () => {
    const prompt = await engine.tokenize("Once upon a time", { addBos: true });
    const chunks: GenerateChunk[] = [];
    const stream = engine.generate(prompt, { temperature: 0, maxTokens: 6, logprobs: 3, ignoreEos: true });
    for await (const c of stream) chunks.push(c);
    expect(chunks).toHaveLength(6);
    const source = await openFileSource(MODEL);
    const cpu = await CpuModel.load(source, { threads: 1 }).finally(() => source.close());
    const lm = new CpuLanguageModel(cpu);
    try {
      let logits = await lm.forward(prompt);
      for (const c of chunks) {
        const l = c.logprobs!;
        expect(l.token).toBe(c.token);
        expect(l.logprob).toBeCloseTo(logSoftmax(logits, c.token), 3);
        expect(l.top).toHaveLength(3);
        expect(l.top[0]!.token).toBe(c.token); // greedy: the chosen token is the most likely
        for (const t of l.top) expect(t.logprob).toBeCloseTo(logSoftmax(logits, t.token), 3);
        const others = Array.from(logits.keys()).filter((i) => !l.top.some((t) => t.token === i));
        expect(Math.max(...others.map((i) => logits[i]!))).toBeLessThanOrEqual(logits[l.top[2]!.token]!);
        logits = await lm.forward([c.token]);
      }
    } finally {
      cpu.dispose();
    }
    // Without the option no chunk carries them.
    for await (const c of engine.generate(prompt, { temperature: 0, maxTokens: 3 })) expect(c.logprobs).toBeUndefined();
  });

  it("chat logprobs in OpenAI's shapes, streamed and not, the same entries either way; none without logprobs: true", async () => {
    const request = { messages: MESSAGES, max_tokens: 12, temperature: 0, logprobs: true, top_logprobs: 2 } as const;
    const whole = await engine.chat.completions.create(request);
    const logprobs = whole.choices[0].logprobs!;
    expect(Object.keys(logprobs).sort()).toEqual(["content", "refusal"]);
    expect(logprobs.content).toHaveLength(whole.usage.completion_tokens - (whole.stopReason === "eos" ? 1 : 0));
    for (const entry of logprobs.content!) expectOpenAiTokenLogprob(entry, 2);
    expect(
      logprobs
        .content!.map((e) => e.token)
        .join("")
        .trim(),
    ).toBe(whole.choices[0].message.content);
    const chunks: ChatCompletionChunk[] = [];
    for await (const c of await engine.chat.completions.create({ ...request, stream: true })) chunks.push(c);
    const streamed = chunks.flatMap((c) => c.choices[0].logprobs?.content ?? []);
    expect(streamed).toEqual(logprobs.content);
    expect(chunks.at(-1)!.stopReason).toBe(whole.stopReason);
    const plain = await engine.chat.completions.create({ messages: MESSAGES, max_tokens: 4, temperature: 0 });
    expect(plain.choices[0].logprobs).toBeNull();
  });

  it("seed, stop, presence and frequency penalties change the answer as they say", async () => {
    const sampled = (seed: number) =>
      engine.chat.completions.create({ messages: MESSAGES, max_tokens: 20, temperature: 1, seed }).then((r) => r.choices[0].message.content);
    expect(await sampled(3)).toBe(await sampled(3));
    expect(new Set(await Promise.all([1, 2, 3, 4].map(sampled))).size).toBeGreaterThan(1);

    const stopped = await engine.chat.completions.create({ messages: MESSAGES, max_tokens: 60, temperature: 0, stop: "." });
    const free = await engine.chat.completions.create({ messages: MESSAGES, max_tokens: 60, temperature: 0 });
    expect(free.choices[0].message.content).toContain(".");
    expect(free.choices[0].message.content.startsWith(stopped.choices[0].message.content)).toBe(true);
    expect(stopped.choices[0].message.content).not.toContain(".");
    expect(stopped.choices[0].finish_reason).toBe("stop");
    expect(stopped.stopReason).toBe("stop");
    expect(free.stopReason).toBe("max-tokens");
    expect(free.choices[0].finish_reason).toBe("length");

    // Greedy answers repeat themselves; a penalty on tokens already said makes them repeat less.
    const repeats = async (penalty: { frequency_penalty?: number; presence_penalty?: number }) => {
      const r = await engine.chat.completions.create({ messages: MESSAGES, max_tokens: 80, temperature: 0, ...penalty });
      const tokens = await engine.tokenize(r.choices[0].message.content);
      return tokens.length - new Set(tokens).size;
    };
    const none = await repeats({});
    expect(await repeats({ frequency_penalty: 1 })).toBeLessThan(none / 2);
    expect(await repeats({ presence_penalty: 1 })).toBeLessThan(none / 2);
  });

  it("refuses what it does not do by name, and misspelled fields by name", async () => {
    const refused = async (request: Record<string, unknown>) => {
      const e = await engine.chat.completions.create({ messages: MESSAGES, ...request } as never).then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeInstanceOf(OptionError);
      return e as OptionError;
    };
    for (const field of ["tools", "tool_choice", "functions", "function_call"]) {
      const e = await refused({ [field]: field === "tool_choice" || field === "function_call" ? "auto" : [{ name: "f" }] });
      expect(e.code).toBe("UNSUPPORTED_OPTION");
      expect(e.message).toContain(`"${field}"`);
      expect(e.message).toMatch(/not implemented yet/);
    }
    const n = await refused({ n: 3 });
    expect(n).toMatchObject({ code: "UNSUPPORTED_OPTION", message: expect.stringMatching(/"n" must be 1/) });
    const typo = await refused({ max_token: 5 });
    expect(typo).toMatchObject({ code: "UNKNOWN_OPTION", message: expect.stringContaining('"max_token"') });
    // OpenAI's own fields that ternion honours or ignores harmlessly are accepted.
    const ok = await engine.chat.completions.create({
      messages: MESSAGES,
      max_tokens: 2,
      n: 1,
      user: "u",
      logit_bias: {},
      stream_options: { include_usage: true },
      response_format: { type: "text" },
    } as never as { messages: typeof MESSAGES });
    expect(ok.choices[0].finish_reason).toBeDefined();
  });
});
