// A chat history of thousands of turns is fitted to the context by leaving out its oldest turns, never failed for
// its length: the fit costs a few renders whatever the history's length (chat-fit.ts).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ChatMessage } from "../src/engine/chat-types.ts";
import type { Engine } from "../src/engine/engine.ts";
import { createLocalEngine } from "../src/engine/local-engine.ts";

const MODEL = new URL("../models/stories260K-ternary.gguf", import.meta.url).pathname;

/** `count` short messages, alternating user and assistant, ending with the user's. */
function history(count: number): ChatMessage[] {
  const messages: ChatMessage[] = [{ role: "system", content: "You tell stories." }];
  for (let i = count - 1; i >= 0; i--) messages.push({ role: i % 2 === 0 ? "user" : "assistant", content: `hi ${i % 10}` });
  return messages;
}

describe("a long chat history on the local engine", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await createLocalEngine({ model: MODEL, threads: 1 });
  });
  afterAll(async () => {
    await engine?.dispose();
  });

  it.each([2_000, 20_000, 200_000])("%i short messages: an answer, the oldest turns left out", async (count) => {
    const started = performance.now();
    const r = await engine.chat.completions.create({ messages: history(count), max_tokens: 4, temperature: 0 });
    expect(r.stats.droppedMessages).toBeGreaterThan(0);
    expect(r.stats.droppedMessages).toBeLessThan(count);
    expect(r.usage.completion_tokens).toBeGreaterThan(0);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});

describe("a message list too large for any template", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await createLocalEngine({ model: MODEL, threads: 1 });
  });
  afterAll(async () => {
    await engine?.dispose();
  });

  it("is the caller's excess (ContextError PROMPT_TOO_LONG), not the template's fault", async () => {
    // 20,000 messages of 4 characters: 80,000 characters, but over 2 Mi as the list the template is given.
    await expect(engine.applyChatTemplate(history(20_000))).rejects.toMatchObject({
      name: "ContextError",
      code: "PROMPT_TOO_LONG",
      message: expect.stringMatching(/20001 messages of \d+ characters make a list of size \d+, more than the 1048576/),
    });
  });
});
