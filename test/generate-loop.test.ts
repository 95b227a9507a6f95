// The generation loop on the LanguageModel interface (src/engine/generate.ts): which path a step takes (the
// backend's argmax for plain greedy decoding, the logits otherwise), the KV-cache prefix it keeps, and the
// text it streams. The model is the CPU one, with an argmax fast path added and every call counted.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CpuLanguageModel } from "../src/runtime/cpu/language-model.ts";
import type { LanguageModel } from "../src/runtime/model/language-model.ts";
import { generate, type GenerateChunk } from "../src/engine/generate.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { STORIES_CONTINUATION, sharedPath } from "./helpers/shared.ts";

let cpu: CpuLanguageModel;
beforeAll(async () => {
  const source = await openFileSource(sharedPath("models/stories260K.gguf"));
  try {
    cpu = await CpuLanguageModel.load(source, { threads: 1, kvType: "f32" });
  } finally {
    await source.close();
  }
});
afterAll(() => cpu?.dispose());

/** The CPU model with a counted argmax path (the argmax of its logits) and counted forward calls. */
function withArgmax(model: LanguageModel) {
  const calls = { forward: 0, argmax: 0, evaluated: 0 };
  const m: LanguageModel = Object.assign(Object.create(model) as LanguageModel, {
    async forward(tokens: ArrayLike<number>) {
      calls.forward++;
      calls.evaluated += tokens.length;
      return model.forward(tokens);
    },
    async forwardArgmax(tokens: ArrayLike<number>) {
      calls.argmax++;
      calls.evaluated += tokens.length;
      const logits = await model.forward(tokens);
      let best = 0;
      for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
      return best;
    },
  });
  return { m, calls };
}

describe("generate on a LanguageModel", () => {
  it("plain greedy decoding takes the backend's argmax path and gives the reference text", async () => {
    const { m, calls } = withArgmax(cpu);
    const r = await generate(m, "Once upon a time", { temperature: 0, maxTokens: 60 });
    expect(r.text.startsWith(STORIES_CONTINUATION)).toBe(true);
    expect(calls).toMatchObject({ forward: 0, argmax: 60 }); // the prefill and 59 fed-back tokens
    expect(r.sequence).toEqual([...cpu.tokenizer.encode("Once upon a time", { addBos: true }), ...r.tokens.slice(0, 59)]);
  });

  it("sampling and penalties need the logits", async () => {
    for (const options of [
      { temperature: 0.7, seed: 1 },
      { temperature: 0, repeatPenalty: 1.3 },
    ]) {
      const { m, calls } = withArgmax(cpu);
      await generate(m, "Once upon a time", { ...options, maxTokens: 10 });
      expect(calls).toMatchObject({ forward: 10, argmax: 0 });
    }
  });

  it("keeps the cached prefix of the KV cache and gives the text a fresh prompt gives", async () => {
    const first = await generate(cpu, "Once upon a time", { temperature: 0, maxTokens: 20 });
    const prompt = "Once upon a time" + first.text + " Then";
    const { m, calls } = withArgmax(cpu);
    const reused = await generate(m, prompt, { temperature: 0, maxTokens: 20, cached: first.sequence });
    expect(reused.stats.cachedTokens).toBeGreaterThan(10);
    expect(calls.evaluated).toBe(reused.stats.promptTokens - reused.stats.cachedTokens + 19);
    const fresh = await generate(cpu, prompt, { temperature: 0, maxTokens: 20 });
    expect(fresh.stats.cachedTokens).toBe(0);
    expect(reused.text).toBe(fresh.text);
    // a stale `cached` (not what the cache holds) is ignored
    const stale = await generate(cpu, prompt, { temperature: 0, maxTokens: 20, cached: [1, 2, 3] });
    expect(stale.stats.cachedTokens).toBe(0);
  });

  it("streams one chunk per token; text held back for a stop string comes with the last token", async () => {
    const chunks: GenerateChunk[] = [];
    // ". " may begin the stop string ". She" and is held back until the next token rules it out
    const r = await generate(cpu, "Once upon a time", { temperature: 0, maxTokens: 60, stop: [". She wanted"], onToken: (c) => chunks.push(c) });
    expect(r.stopReason).toBe("stop");
    expect(chunks.map((c) => c.token)).toEqual(r.tokens);
    expect(chunks.map((c) => c.text).join("")).toBe(r.text);
    expect(r.text).toBe(", there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball");
    const held = chunks.filter((c) => c.text === "").length;
    expect(held).toBeGreaterThan(0);
    // Ending at maxTokens in the middle of a possible stop string: the held-back tail comes with the last token.
    const tail: GenerateChunk[] = [];
    const cut = await generate(cpu, "Once upon a time", { temperature: 0, maxTokens: 9, stop: ["l named Lily"], onToken: (c) => tail.push(c) });
    expect(cut.stopReason).toBe("max-tokens");
    expect(cut.text).toBe(STORIES_CONTINUATION.slice(0, cut.text.length));
    expect(tail.map((c) => c.text).join("")).toBe(cut.text);
    // tokens 8 and 9, "l" and " named", might begin "l named Lily": held, then released with token 9
    expect(tail.at(-2)!.text).toBe("");
    expect(tail.at(-1)!.text).toBe("l named");
  });

  it("takes the prompt as token ids, and refuses ids outside the vocabulary", async () => {
    const ids = cpu.tokenizer.encode("Once upon a time", { addBos: true });
    const byIds = await generate(cpu, ids, { temperature: 0, maxTokens: 20 });
    const byText = await generate(cpu, "Once upon a time", { temperature: 0, maxTokens: 20 });
    expect(byIds.text).toBe(byText.text);
    for (const bad of [
      [1, 512],
      [1, -1],
      [1, 2.5],
    ]) {
      await expect(generate(cpu, bad, { maxTokens: 1 })).rejects.toMatchObject({ name: "OptionError", code: "BAD_TOKEN" });
    }
  });

  it("ends at an end-of-generation token, unless ignoreEos (benchmarks) feeds it back and goes on", async () => {
    // The CPU model whose greedy choice is EOS at the third step.
    const eos = cpu.tokenizer.eos!;
    let steps = 0;
    const m: LanguageModel = Object.assign(Object.create(cpu) as LanguageModel, {
      async forwardArgmax(tokens: ArrayLike<number>) {
        const logits = await cpu.forward(tokens);
        if (++steps === 3) return eos;
        let best = 0;
        for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
        return best;
      },
    });
    const ended = await generate(m, "Once upon a time", { temperature: 0, maxTokens: 8 });
    expect(ended.stopReason).toBe("eos");
    expect(ended.tokens).toHaveLength(3);
    expect(ended.tokens[2]).toBe(eos);
    steps = 0;
    const goesOn = await generate(m, "Once upon a time", { temperature: 0, maxTokens: 8, ignoreEos: true });
    expect(goesOn.stopReason).toBe("max-tokens");
    expect(goesOn.tokens).toHaveLength(8);
    expect(goesOn.tokens[2]).toBe(eos);
    expect(goesOn.sequence).toContain(eos); // fed back like any other token
  });
});
