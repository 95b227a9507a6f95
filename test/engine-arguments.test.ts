// Every public call of both engines (createLocalEngine, and createEngine's worker: `npm run build` first) answers
// a wrong argument with a rejected promise carrying an OptionError and its code, never a synchronous throw: wrong
// types, null, NaN, negative and out-of-range numbers, unknown option keys. A stream's `result` and its
// iteration both reject. One table of method × bad argument, run against each engine.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLocalEngine } from "../src/engine/local-engine.ts";
import { createEngine } from "../src/engine/worker-engine.ts";
import type { Engine, GenerationStream } from "../src/engine/engine.ts";
import { OptionError } from "../src/runtime/errors.ts";

const MODEL = new URL("../models/stories260K-ternary.gguf", import.meta.url).pathname;
const MESSAGES = [{ role: "user", content: "Hi" }];

type Call = (engine: Engine) => unknown;
/** [what is called, the call, the code it must reject with] */
type Row = [string, Call, string];

const bad =
  (code: string) =>
  (label: string, call: Call): Row => [label, call, code];
const arg = bad("BAD_ARGUMENT");
const obj = bad("BAD_OPTION");
const unknown = bad("UNKNOWN_OPTION");
const value = bad("BAD_OPTION_VALUE");
const unsupported = bad("UNSUPPORTED_OPTION");
const chat = (request: Record<string, unknown>) => (e: Engine) => e.chat.completions.create(any({ messages: MESSAGES, ...request }));
const any = (x: unknown) => x as never;

const GENERATION_ROWS = (name: "generate" | "complete"): Row[] => {
  const g = (e: Engine, ...a: unknown[]) => (e[name] as (...x: unknown[]) => unknown)(...a);
  return [
    arg(`${name}(null)`, (e) => g(e, null)),
    arg(`${name}(undefined)`, (e) => g(e)),
    arg(`${name}(42)`, (e) => g(e, 42)),
    arg(`${name}({})`, (e) => g(e, {})),
    arg(`${name}([1.5])`, (e) => g(e, [1.5])),
    arg(`${name}([-1])`, (e) => g(e, [-1])),
    arg(`${name}([NaN])`, (e) => g(e, [Number.NaN])),
    obj(`${name}("x", null)`, (e) => g(e, "x", null)),
    obj(`${name}("x", 5)`, (e) => g(e, "x", 5)),
    obj(`${name}("x", [])`, (e) => g(e, "x", [])),
    unknown(`${name}("x", { bogus })`, (e) => g(e, "x", { bogus: 1 })),
    unknown(`${name}("x", { onToken })`, (e) => g(e, "x", { onToken: () => {} })),
    value(`${name}("x", { maxTokens: -1 })`, (e) => g(e, "x", { maxTokens: -1 })),
    value(`${name}("x", { maxTokens: NaN })`, (e) => g(e, "x", { maxTokens: Number.NaN })),
    value(`${name}("x", { maxTokens: 1.5 })`, (e) => g(e, "x", { maxTokens: 1.5 })),
    value(`${name}("x", { maxTokens: "8" })`, (e) => g(e, "x", { maxTokens: "8" })),
    value(`${name}("x", { temperature: -1 })`, (e) => g(e, "x", { temperature: -1 })),
    value(`${name}("x", { temperature: NaN })`, (e) => g(e, "x", { temperature: Number.NaN })),
    value(`${name}("x", { topP: 2 })`, (e) => g(e, "x", { topP: 2 })),
    value(`${name}("x", { topK: -1 })`, (e) => g(e, "x", { topK: -1 })),
    value(`${name}("x", { minP: Infinity })`, (e) => g(e, "x", { minP: Infinity })),
    value(`${name}("x", { seed: -1 })`, (e) => g(e, "x", { seed: -1 })),
    value(`${name}("x", { seed: 2 ** 32 })`, (e) => g(e, "x", { seed: 2 ** 32 })),
    value(`${name}("x", { repetitionPenalty: 0 })`, (e) => g(e, "x", { repetitionPenalty: 0 })),
    value(`${name}("x", { stop: "." })`, (e) => g(e, "x", { stop: "." })),
    value(`${name}("x", { stop: [1] })`, (e) => g(e, "x", { stop: [1] })),
    value(`${name}("x", { addBos: "yes" })`, (e) => g(e, "x", { addBos: "yes" })),
    value(`${name}("x", { ignoreEos: 1 })`, (e) => g(e, "x", { ignoreEos: 1 })),
    value(`${name}("x", { signal: {} })`, (e) => g(e, "x", { signal: {} })),
    value(`${name}("x", { contextShift: "slide" })`, (e) => g(e, "x", { contextShift: "slide" })),
    value(`${name}("x", { contextKeep: -1 })`, (e) => g(e, "x", { contextKeep: -1 })),
    value(`${name}("x", { logprobs: 21 })`, (e) => g(e, "x", { logprobs: 21 })),
    value(`${name}("x", { logprobs: true })`, (e) => g(e, "x", { logprobs: true })),
  ];
};

const ROWS: Row[] = [
  ...GENERATION_ROWS("generate"),
  ...GENERATION_ROWS("complete"),
  arg("tokenize(null)", (e) => e.tokenize(any(null))),
  arg("tokenize(42)", (e) => e.tokenize(any(42))),
  obj('tokenize("x", null)', (e) => e.tokenize("x", any(null))),
  unknown('tokenize("x", { bogus })', (e) => e.tokenize("x", any({ bogus: 1 }))),
  value('tokenize("x", { addBos: 1 })', (e) => e.tokenize("x", any({ addBos: 1 }))),
  arg("detokenize(null)", (e) => e.detokenize(any(null))),
  arg('detokenize("x")', (e) => e.detokenize(any("x"))),
  arg("detokenize([1.5])", (e) => e.detokenize([1.5])),
  arg("detokenize([-1])", (e) => e.detokenize([-1])),
  obj("detokenize([1], 7)", (e) => e.detokenize([1], any(7))),
  unknown("detokenize([1], { bogus })", (e) => e.detokenize([1], any({ bogus: 1 }))),
  arg("perplexity(null)", (e) => e.perplexity(any(null))),
  obj('perplexity("x", null)', (e) => e.perplexity("x", any(null))),
  value('perplexity("x", { ctx: 2 })', (e) => e.perplexity("x", { ctx: 2 })),
  value('perplexity("x", { ctx: NaN })', (e) => e.perplexity("x", { ctx: Number.NaN })),
  value('perplexity("x", { onWindow: 5 })', (e) => e.perplexity("x", any({ onWindow: 5 }))),
  unknown('perplexity("x", { bogus })', (e) => e.perplexity("x", any({ bogus: 1 }))),
  arg("applyChatTemplate(null)", (e) => e.applyChatTemplate(any(null))),
  arg('applyChatTemplate("Hi")', (e) => e.applyChatTemplate(any("Hi"))),
  arg("chat.completions.create(null)", (e) => e.chat.completions.create(any(null))),
  arg('chat.completions.create("Hi")', (e) => e.chat.completions.create(any("Hi"))),
  // A request's fields are options: a wrong value is BAD_OPTION_VALUE whichever the field.
  value("chat.completions.create({ messages: null })", (e) => e.chat.completions.create(any({ messages: null }))),
  value("chat.completions.create({}) (no messages)", (e) => e.chat.completions.create(any({}))),
  value("chat.completions.create({ n: 0 })", chat({ n: 0 })),
  value('chat.completions.create({ stream: "yes" })', chat({ stream: "yes" })),
  value("chat.completions.create({ max_tokens: -1 })", chat({ max_tokens: -1 })),
  value("chat.completions.create({ max_completion_tokens: 1.5 })", chat({ max_completion_tokens: 1.5 })),
  value('chat.completions.create({ logprobs: "yes" })', chat({ logprobs: "yes" })),
  value("chat.completions.create({ top_logprobs: 21, logprobs })", chat({ logprobs: true, top_logprobs: 21 })),
  value("chat.completions.create({ top_logprobs: 2 }) without logprobs", chat({ top_logprobs: 2 })),
  value('chat.completions.create({ context_shift: "slide" })', chat({ context_shift: "slide" })),
  value("chat.completions.create({ stop: [1] })", chat({ stop: [1] })),
  value("chat.completions.create({ seed: -1 })", chat({ seed: -1 })),
  value("chat.completions.create({ presence_penalty: NaN })", chat({ presence_penalty: Number.NaN })),
  unsupported("chat.completions.create({ n: 2 })", chat({ n: 2 })),
  unsupported("chat.completions.create({ tools })", chat({ tools: [{ type: "function", function: { name: "f" } }] })),
  unsupported('chat.completions.create({ tool_choice: "auto" })', chat({ tool_choice: "auto" })),
  unsupported("chat.completions.create({ functions })", chat({ functions: [{ name: "f" }] })),
  unsupported('chat.completions.create({ function_call: "auto" })', chat({ function_call: "auto" })),
  unsupported("chat.completions.create({ parallel_tool_calls })", chat({ parallel_tool_calls: true })),
  unsupported("chat.completions.create({ logit_bias: { 5: 1 } })", chat({ logit_bias: { 5: 1 } })),
  unsupported('chat.completions.create({ modalities: ["audio"] })', chat({ modalities: ["audio"] })),
  unknown("chat.completions.create({ max_token: 5 }) (misspelled)", chat({ max_token: 5 })),
  unknown("chat.completions.create({ temprature: 0 }) (misspelled)", chat({ temprature: 0 })),
  unknown("chat.completions.create({ topP: 0.5 }) (the engine's spelling)", chat({ topP: 0.5 })),
  value("chat.completions.create({ temperature: NaN })", (e) => e.chat.completions.create(any({ messages: MESSAGES, temperature: Number.NaN }))),
  value("chat.completions.create({ stream, top_p: 0 })", (e) => e.chat.completions.create(any({ messages: MESSAGES, stream: true, top_p: 0 }))),
  obj("chat.completions.create(request, null)", (e) => e.chat.completions.create(any({ messages: MESSAGES }), any(null))),
  unknown("chat.completions.create(request, { bogus })", (e) => e.chat.completions.create(any({ messages: MESSAGES }), any({ bogus: 1 }))),
  obj("restart(null)", (e) => e.restart(any(null))),
  value('restart({ backend: "gpu" })', (e) => e.restart(any({ backend: "gpu" }))),
  unknown("restart({ bogus })", (e) => e.restart(any({ bogus: 1 }))),
  arg("finetune()", (e) => e.finetune(any(undefined))),
  arg("finetune(null)", (e) => e.finetune(any(null))),
  unknown("finetune({ bogus })", (e) => e.finetune(any({ steps: 1, bogus: 1 }))),
  unknown("finetune({ resume })", (e) => e.finetune(any({ steps: 1, resume: true }))),
  value("finetune({ onProgress: 5 })", (e) => e.finetune(any({ steps: 1, onProgress: 5 }))),
  value('finetune({ resumeFrom: "x" })', (e) => e.finetune(any({ steps: 1, resumeFrom: "x" }))),
  value("finetune({ data: 5 })", (e) => e.finetune(any({ steps: 1, data: 5 }))),
];

/** Calls `call` and checks it did not throw, then that it (or its stream's result and iteration) rejects with `code`. */
async function expectRejection(call: () => unknown, code: string): Promise<void> {
  let returned: unknown;
  expect(() => {
    returned = call();
  }).not.toThrow();
  const want = { name: "OptionError", code };
  if (returned instanceof Promise) {
    const error = await returned.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OptionError);
    expect(error).toMatchObject(want);
    expect((error as Error).message).not.toMatch(/undefined is not|cannot read prop/i);
    return;
  }
  const stream = returned as GenerationStream;
  await expect(stream.result).rejects.toMatchObject(want);
  await expect(
    (async () => {
      for await (const _ of stream);
    })(),
  ).rejects.toMatchObject(want);
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
  afterAll(() => engine?.dispose());

  it.each(ROWS)("%s rejects (%#)", async (_label, call, code) => {
    await expectRejection(() => call(engine), code);
  });

  it("still works after all of them", async () => {
    const r = await engine.complete("Once upon a time", { maxTokens: 4, temperature: 0 });
    expect(r.tokens).toHaveLength(4);
  });

  const MODEL_OPTIONS: [string, unknown, string][] = [
    ["no options", undefined, "BAD_OPTION"],
    ["null", null, "BAD_OPTION"],
    ["a string", MODEL, "BAD_OPTION"],
    ["no model", {}, "BAD_OPTION"],
    ["model: null", { model: null }, "BAD_OPTION"],
    ["model: 42", { model: 42 }, "BAD_OPTION"],
    ["threads: 0", { model: MODEL, threads: 0 }, "BAD_OPTION_VALUE"],
    ["threads: NaN", { model: MODEL, threads: Number.NaN }, "BAD_OPTION_VALUE"],
    ["threads: 1.5", { model: MODEL, threads: 1.5 }, "BAD_OPTION_VALUE"],
    ["contextLength: -1", { model: MODEL, contextLength: -1 }, "BAD_OPTION_VALUE"],
    ["batchSize: 0", { model: MODEL, batchSize: 0 }, "BAD_OPTION_VALUE"],
    ['kvType: "f8"', { model: MODEL, kvType: "f8" }, "BAD_OPTION_VALUE"],
    ['backend: "gpu"', { model: MODEL, backend: "gpu" }, "BAD_OPTION_VALUE"],
    ['cache: "no"', { model: MODEL, cache: "no" }, "BAD_OPTION_VALUE"],
    ["onProgress: 5", { model: MODEL, onProgress: 5 }, "BAD_OPTION_VALUE"],
    ["signal: {}", { model: MODEL, signal: {} }, "BAD_OPTION_VALUE"],
    ["an unknown key", { model: MODEL, contextSize: 64 }, "UNKNOWN_OPTION"],
  ];
  it.each(MODEL_OPTIONS)("%s: the engine's promise rejects", async (_label, options, code) => {
    await expectRejection(() => create(options as never), code);
  });
});
