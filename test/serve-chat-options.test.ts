// The chat options and the context shift as an OpenAI client meets them through `ternion serve --ctx 96`: the
// `openai` package's calls answered with what the engine in this process computes (logprobs in chat and in
// legacy completions, stopReason and finish_reason), refusals as BadRequestError naming the field, and a
// conversation longer than the context answered (oldest turns left out) unless context_shift is false.
import OpenAI, { type APIError } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "../src/engine/engine.ts";
import type { GenerateChunk } from "../src/engine/generate.ts";
import { createLocalEngine } from "../src/engine/local-engine.ts";
import { repoRoot } from "./helpers/cli.ts";
import { type ServeProcess, startServe } from "./helpers/serve.ts";

const MODEL = `${repoRoot}models/stories260K-ternary.gguf`;
const USER = [{ role: "user" as const, content: "Tell me a story about a cat." }];

/** A conversation longer than 96 tokens: six long answered turns, then a question. */
function longConversation(): { role: "user" | "assistant"; content: string }[] {
  const messages: { role: "user" | "assistant"; content: string }[] = [];
  for (let i = 0; i < 6; i++) {
    messages.push({ role: "user", content: `Tell me story number ${i}.` });
    messages.push({ role: "assistant", content: "Once upon a time there was a little dog who liked to run in the park with his friends." });
  }
  messages.push({ role: "user", content: "What happened next?" });
  return messages;
}

describe("ternion serve: chat options and context shift", () => {
  let server: ServeProcess;
  let client: OpenAI;
  let engine: Engine;

  beforeAll(async () => {
    [server, engine] = await Promise.all([
      startServe(["--threads", "1", "--ctx", "96"]),
      createLocalEngine({ model: MODEL, threads: 1, contextLength: 96 }),
    ]);
    client = new OpenAI({ baseURL: server.baseUrl, apiKey: "unused", maxRetries: 0 });
  });
  afterAll(async () => {
    await engine?.dispose();
    if (server) expect(await server.stop()).toEqual({ code: 0, signal: null });
  });

  it("chat logprobs, streamed and not, are the engine's; finish_reason and stopReason say why it ended", async () => {
    const request = { messages: USER, max_tokens: 10, temperature: 0, logprobs: true, top_logprobs: 3 };
    const want = await engine.chat.completions.create(request);
    const got = await client.chat.completions.create({ model: "m", ...request });
    expect(got.choices[0]!.logprobs).toEqual(want.choices[0].logprobs);
    expect(got.choices[0]!.logprobs!.content![0]!.top_logprobs).toHaveLength(3);
    expect(got.choices[0]!.finish_reason).toBe("length");
    expect((got as unknown as { stopReason: string }).stopReason).toBe("max-tokens");
    const streamed = [];
    for await (const chunk of await client.chat.completions.create({ model: "m", ...request, stream: true }))
      streamed.push(...(chunk.choices[0]?.logprobs?.content ?? []));
    expect(streamed).toEqual(want.choices[0].logprobs!.content);
    const stopped = await client.chat.completions.create({ model: "m", messages: USER, max_tokens: 60, temperature: 0, stop: "." });
    expect(stopped.choices[0]!.finish_reason).toBe("stop");
    expect((stopped as unknown as { stopReason: string }).stopReason).toBe("stop");
  });

  it("legacy completions take logprobs as a count: tokens, token_logprobs, top_logprobs, text_offset", async () => {
    const chunks: GenerateChunk[] = [];
    for await (const c of engine.generate("Once upon a time", { maxTokens: 8, temperature: 0, logprobs: 2 })) chunks.push(c);
    const got = await client.completions.create({ model: "m", prompt: "Once upon a time", max_tokens: 8, temperature: 0, logprobs: 2 });
    const lp = got.choices[0]!.logprobs!;
    const scored = chunks.filter((c) => c.logprobs);
    expect(lp.token_logprobs).toEqual(scored.map((c) => c.logprobs!.logprob));
    expect(lp.tokens).toEqual(scored.map((c) => c.logprobs!.text));
    expect(lp.top_logprobs!.map((t) => Object.keys(t).length)).toEqual(scored.map(() => 2));
    expect(lp.text_offset![0]).toBe(0);
    expect(lp.tokens!.join("")).toBe(got.choices[0]!.text);
    const streamed: number[] = [];
    for await (const c of await client.completions.create({
      model: "m",
      prompt: "Once upon a time",
      max_tokens: 8,
      temperature: 0,
      logprobs: 2,
      stream: true,
    }))
      streamed.push(...(c.choices[0]?.logprobs?.token_logprobs ?? []));
    expect(streamed).toEqual(lp.token_logprobs);
    const bad = await client.completions.create({ model: "m", prompt: "x", logprobs: 6 }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(OpenAI.BadRequestError);
    expect((bad as APIError).param).toBe("logprobs");
  });

  it("refuses tools, functions and n > 1 as unsupported and misspelled fields as unknown, naming them", async () => {
    const cases: [Record<string, unknown>, string, string][] = [
      [{ tools: [{ type: "function", function: { name: "f", parameters: {} } }] }, "tools", "unsupported_option"],
      [{ tool_choice: "auto" }, "tool_choice", "unsupported_option"],
      [{ functions: [{ name: "f" }] }, "functions", "unsupported_option"],
      [{ n: 2 }, "n", "unsupported_option"],
      [{ max_token: 5 }, "max_token", "unknown_option"],
      [{ top_logprobs: 2 }, "top_logprobs", "bad_option_value"],
      [{ logprobs: true, top_logprobs: 21 }, "top_logprobs", "bad_option_value"],
    ];
    for (const [fields, param, code] of cases) {
      const e = await client.chat.completions.create({ model: "m", messages: USER, max_tokens: 2, ...fields } as never).catch((x: unknown) => x);
      expect(e, param).toBeInstanceOf(OpenAI.BadRequestError);
      expect({ param: (e as APIError).param, code: (e as APIError).code }, JSON.stringify(fields)).toEqual({ param, code });
      expect((e as APIError).message).toContain(param);
    }
  });

  it("answers a conversation longer than the context (oldest turns left out); context_shift: false is a 400", async () => {
    const messages = longConversation();
    const r = await client.chat.completions.create({ model: "m", messages, max_tokens: 16, temperature: 0 });
    expect(r.choices[0]!.message.content!.length).toBeGreaterThan(0);
    expect(r.usage!.prompt_tokens).toBeLessThanOrEqual(96);
    expect((r as unknown as { stats: { droppedMessages: number } }).stats.droppedMessages).toBeGreaterThan(0);
    const refused = await client.chat.completions
      .create({ model: "m", messages, max_tokens: 16, context_shift: false } as never)
      .catch((x: unknown) => x);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect((refused as APIError).code).toBe("context_length_exceeded");
  });
});
