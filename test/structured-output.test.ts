// Constrained generation on the real packaged model (models/stories260K-ternary.gguf): random schemas from the
// supported subset with random seeds and temperatures, every output parsed and validated by ajv (an independent,
// well-kept validator); a schema with one valid output gives exactly it; generation stops where the JSON value
// ends; a GBNF grammar; the backend's greedy argmax path is bypassed while a grammar needs the logits; and the
// engine API's jsonSchema / grammar / response_format options.
import Ajv from "ajv";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generate } from "../src/engine/generate.ts";
import { createLocalEngine } from "../src/engine/local-engine.ts";
import type { Engine } from "../src/engine/engine.ts";
import { CpuLanguageModel } from "../src/runtime/cpu/language-model.ts";
import { GrammarError, OptionError } from "../src/runtime/errors.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import type { LanguageModel } from "../src/runtime/model/language-model.ts";
import { constraintGrammar } from "../src/runtime/grammar/constraint-options.ts";
import { GrammarMatcher } from "../src/runtime/grammar/matcher.ts";
import { repoRoot } from "./helpers/cli.ts";

const MODEL = `${repoRoot}models/stories260K-ternary.gguf`;
let lm: CpuLanguageModel;
beforeAll(async () => {
  const source = await openFileSource(MODEL);
  try {
    lm = await CpuLanguageModel.load(source, { threads: 1, kvType: "f32" });
  } finally {
    await source.close();
  }
});
afterAll(() => lm?.dispose());

const ajv = new Ajv({ strict: true });

// Schemas from the supported subset, small enough that every output fits the model's context: leaves with
// bounded strings, nested objects and arrays of at most two members, two levels deep.
const keyArb = fc.constantFrom("a", "b", "name", "id", "x-y", "été");
const leafArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.constant({ type: "boolean" }),
  fc.constant({ type: "null" }),
  fc.constant({ type: "integer" }),
  fc.constant({ type: "number" }),
  fc.integer({ min: 0, max: 6 }).chain((max) => fc.integer({ min: 0, max }).map((min) => ({ type: "string", minLength: min, maxLength: max }))),
  fc
    .uniqueArray(fc.oneof(fc.constantFrom("cat", "dog", "a b", 'q"uote'), fc.integer({ min: -5, max: 5 }), fc.constant(null)), {
      minLength: 1,
      maxLength: 4,
    })
    .map((e) => ({ enum: e })),
  fc.constantFrom({ const: "Lily" }, { const: 7 }, { const: [1, { a: true }] }),
);
const nodeArb = (depth: number): fc.Arbitrary<Record<string, unknown>> =>
  depth === 0
    ? leafArb
    : fc.oneof(
        { weight: 2, arbitrary: leafArb },
        {
          weight: 2,
          arbitrary: fc.uniqueArray(keyArb, { minLength: 1, maxLength: 2 }).chain((keys) =>
            fc
              .tuple(fc.array(nodeArb(depth - 1), { minLength: keys.length, maxLength: keys.length }), fc.subarray(keys))
              .map(([values, required]) => ({
                type: "object",
                properties: Object.fromEntries(keys.map((k, i) => [k, values[i]])),
                required,
                additionalProperties: false,
              })),
          ),
        },
        {
          weight: 1,
          arbitrary: fc
            .tuple(nodeArb(depth - 1), fc.integer({ min: 0, max: 2 }))
            .chain(([items, max]) => fc.integer({ min: 0, max }).map((min) => ({ type: "array", items, minItems: min, maxItems: max }))),
        },
        { weight: 1, arbitrary: fc.tuple(nodeArb(depth - 1), leafArb).map((alts) => ({ anyOf: alts })) },
      );

describe("constrained generation on the packaged model", () => {
  it("random schemas, seeds and temperatures: every output parses and validates", async () => {
    let finished = 0;
    await fc.assert(
      fc.asyncProperty(nodeArb(2), fc.integer({ min: 0, max: 0xffff_ffff }), fc.constantFrom(0, 0.8, 1.5), async (schema, seed, temperature) => {
        const r = await generate(lm, "Once upon a time", { jsonSchema: schema, seed, temperature, maxTokens: 400 });
        expect(["stop", "eos"]).toContain(r.stopReason);
        finished++;
        const value = JSON.parse(r.text) as unknown;
        if (!ajv.validate(schema, value)) throw new Error(`${r.text} does not validate against ${JSON.stringify(schema)}: ${ajv.errorsText()}`);
      }),
      { numRuns: 40 },
    );
    expect(finished).toBe(40);
  }, 120_000);

  it("a schema with one valid output gives exactly that output, and ends there with stopReason stop", async () => {
    const fixed = { const: { story: "Lily had a cat.", moral: ["be kind", 2] } };
    for (const seed of [1, 2, 3]) {
      const r = await generate(lm, "Once upon a time", { jsonSchema: fixed, seed, temperature: 1 });
      expect(r.text).toBe('{"story":"Lily had a cat.","moral":["be kind",2]}');
      expect(r.stopReason).toBe("stop");
    }
  });

  it("stops at the end of the JSON value: the last token closes it, no end-of-text token needed", async () => {
    const schema = { type: "object", properties: { word: { type: "string", maxLength: 8 } }, required: ["word"], additionalProperties: false };
    const r = await generate(lm, "Once upon a time", { jsonSchema: schema, seed: 5, maxTokens: 200 });
    expect(r.stopReason).toBe("stop");
    expect(r.text.endsWith("}")).toBe(true);
    expect(lm.tokenizer.isEog(r.tokens.at(-1)!)).toBe(false);
    expect(lm.tokenizer.decode(r.tokens).trimStart()).toBe(r.text.trimStart());
    // Unconstrained, the same call would have gone on.
    const free = await generate(lm, "Once upon a time", { seed: 5, maxTokens: 200 });
    expect(free.tokens.length).toBeGreaterThan(r.tokens.length);
  });

  it("an end-of-text token the model insists on waits until the value is complete", async () => {
    const eos = lm.tokenizer.eos!;
    const eager: LanguageModel = Object.assign(Object.create(lm) as LanguageModel, {
      async forward(tokens: ArrayLike<number>) {
        const logits = (await lm.forward(tokens)).slice();
        logits[eos] = 100;
        return logits;
      },
    });
    const schema = { type: "array", items: { type: "boolean" }, minItems: 2, maxItems: 2 };
    const r = await generate(eager, "Once upon a time", { jsonSchema: schema, seed: 9, maxTokens: 100 });
    expect(ajv.validate(schema, JSON.parse(r.text))).toBe(true);
    const number = await generate(eager, "Once upon a time", { jsonSchema: { type: "integer" }, seed: 9, maxTokens: 100 });
    expect(number.stopReason).toBe("eos"); // a whole integer may end at any digit: there the end token is allowed
    expect(Number.isInteger(JSON.parse(number.text))).toBe(true);
  });

  it("a GBNF grammar constrains a free-text answer", async () => {
    const grammar = 'root ::= "The " animal " is " ("big" | "small") "."\nanimal ::= "cat" | "dog" | "bird"';
    for (const seed of [1, 2, 3, 4]) {
      const r = await generate(lm, "Once upon a time", { grammar, seed, temperature: 1.2 });
      expect(r.text).toMatch(/^The (cat|dog|bird) is (big|small)\.$/);
      expect(r.stopReason).toBe("stop");
    }
  });

  it("a grammar that admits no token is a GrammarError NO_VALID_TOKEN, not a hang", async () => {
    await expect(generate(lm, "Once upon a time", { grammar: "root ::= [^\\x00-\\U0010FFFF]", maxTokens: 5 })).rejects.toMatchObject({
      name: "GrammarError",
      code: "NO_VALID_TOKEN",
    });
  });

  it("greedy decoding under a grammar reads the logits, not the backend's argmax", async () => {
    const calls = { forward: 0, argmax: 0 };
    const m: LanguageModel = Object.assign(Object.create(lm) as LanguageModel, {
      async forward(tokens: ArrayLike<number>) {
        calls.forward++;
        return lm.forward(tokens);
      },
      async forwardArgmax(): Promise<number> {
        calls.argmax++;
        throw new Error("the argmax path cannot honour a grammar");
      },
    });
    const r = await generate(m, "Once upon a time", { temperature: 0, jsonSchema: { type: "array", items: { type: "integer" }, maxItems: 3 } });
    expect(calls.argmax).toBe(0);
    expect(calls.forward).toBe(r.tokens.length);
    expect(Array.isArray(JSON.parse(r.text))).toBe(true);
  });
});

describe("the engine API", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await createLocalEngine({ model: MODEL, threads: 1 });
  });
  afterAll(() => engine?.dispose());

  it("complete with jsonSchema and generate with grammar", async () => {
    const schema = { type: "object", properties: { name: { enum: ["Tom", "Lily"] }, age: { type: "integer" } }, required: ["name", "age"] };
    const r = await engine.complete("Once upon a time", { jsonSchema: schema, seed: 3 });
    expect(ajv.validate(schema, JSON.parse(r.text))).toBe(true);
    expect(r.stopReason).toBe("stop");
    let streamed = "";
    const stream = engine.generate("Hi", { grammar: 'root ::= "yes" | "no"', seed: 1 });
    for await (const c of stream) streamed += c.text;
    expect(["yes", "no"]).toContain(streamed);
    expect((await stream.result).text).toBe(streamed);
  });

  it("chat.completions.create with response_format json_object and json_schema", async () => {
    const messages = [{ role: "user", content: "Tell me about a cat." }];
    // Any object: the small model often writes a long string, so an answer cut by max_tokens must at least be
    // the start of one (the grammar's matcher says so), and one that stopped must be a whole one.
    const anyObject = new GrammarMatcher(constraintGrammar({ jsonSchema: { type: "object" } })!);
    const finishes = new Set<string>();
    for (let seed = 1; seed <= 10; seed++) {
      const r = await engine.chat.completions.create({ messages, response_format: { type: "json_object" }, seed, max_tokens: 48 });
      const { content } = r.choices[0].message;
      finishes.add(r.choices[0].finish_reason);
      if (r.choices[0].finish_reason === "stop") {
        const parsed = JSON.parse(content) as unknown;
        expect(typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)).toBe(true);
      } else expect(anyObject.advanceBytes(anyObject.initial(), new TextEncoder().encode(content))).toBeDefined();
    }
    expect(finishes).toEqual(new Set(["stop", "length"]));
    const schema = { type: "object", properties: { mood: { enum: ["happy", "sad"] } }, required: ["mood"], additionalProperties: false };
    const r = await engine.chat.completions.create({
      messages,
      response_format: { type: "json_schema", json_schema: { name: "mood", schema, strict: true } },
      seed: 4,
    });
    expect(ajv.validate(schema, JSON.parse(r.choices[0].message.content))).toBe(true);
    expect(r.choices[0].finish_reason).toBe("stop");
  });

  it("refuses a bad response_format, a schema keyword it cannot honour, a bad grammar, and both at once", async () => {
    const messages = [{ role: "user", content: "Hi" }];
    await expect(engine.chat.completions.create({ messages, response_format: { type: "json", schema: {} } as never })).rejects.toMatchObject({
      name: "OptionError",
      code: "BAD_OPTION_VALUE",
      message: expect.stringContaining("response_format"),
    });
    // A wrong part is named with what it is, not described as the whole response_format ("got an object").
    await expect(
      engine.chat.completions.create({ messages, response_format: { type: "json_schema", json_schema: { name: "x", schema: true as never } } }),
    ).rejects.toMatchObject({ code: "BAD_OPTION_VALUE", message: expect.stringMatching(/its schema an object, got true for json_schema\.schema$/) });
    await expect(
      engine.chat.completions.create({ messages, response_format: { type: "json_schema", json_schema: { name: "x", strict: "yes" as never } } }),
    ).rejects.toMatchObject({ code: "BAD_OPTION_VALUE", message: expect.stringMatching(/its strict a boolean, got "yes" for json_schema\.strict$/) });
    await expect(
      engine.chat.completions.create({
        messages,
        response_format: { type: "json_schema", json_schema: { name: "x", schema: { type: "string", pattern: "^a+$" } } },
      }),
    ).rejects.toMatchObject({ name: "GrammarError", code: "UNSUPPORTED_SCHEMA", message: expect.stringContaining('"pattern"') });
    await expect(engine.complete("Hi", { grammar: "root ::= (" })).rejects.toBeInstanceOf(GrammarError);
    await expect(engine.complete("Hi", { grammar: 'root ::= "a"', jsonSchema: {} })).rejects.toBeInstanceOf(OptionError);
    await expect(engine.complete("Hi", { grammar: 3 as never })).rejects.toMatchObject({ code: "BAD_OPTION_VALUE" });
  });
});
