// Structured output through `ternion serve` (dist/cli.js: `npm run build` first) with the official `openai`
// client: response_format json_schema and json_object, streamed and not, the same answer as the engine in this
// process gives for the same seed, validated by ajv; a schema the server cannot honour is a 400 naming
// response_format; llama.cpp's `grammar` extension field.
import Ajv from "ajv";
import OpenAI, { APIError } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "../src/engine/engine.ts";
import { createLocalEngine } from "../src/engine/local-engine.ts";
import { repoRoot } from "./helpers/cli.ts";
import { type ServeProcess, startServe } from "./helpers/serve.ts";

const MODEL = `${repoRoot}models/stories260K-ternary.gguf`;
const USER = [{ role: "user" as const, content: "Tell me about a cat." }];
const SCHEMA = {
  type: "object",
  properties: {
    name: { enum: ["Tom", "Lily", "Ben"] },
    legs: { type: "integer" },
    friends: { type: "array", items: { type: "string", maxLength: 6 }, maxItems: 2 },
  },
  required: ["name", "legs", "friends"],
  additionalProperties: false,
};
const ajv = new Ajv({ strict: true });

describe("ternion serve with response_format", () => {
  let server: ServeProcess;
  let client: OpenAI;
  let engine: Engine;

  beforeAll(async () => {
    [server, engine] = await Promise.all([startServe(["--threads", "1"]), createLocalEngine({ model: MODEL, threads: 1 })]);
    client = new OpenAI({ baseURL: server.baseUrl, apiKey: "unused", maxRetries: 0 });
  });
  afterAll(async () => {
    await engine?.dispose();
    if (server) expect(await server.stop()).toEqual({ code: 0, signal: null });
  });

  const format = { type: "json_schema" as const, json_schema: { name: "cat", schema: SCHEMA, strict: true } };

  it("json_schema: the answer validates and is the engine's answer for the same seed", async () => {
    for (const seed of [1, 2, 3]) {
      const want = await engine.chat.completions.create({ messages: USER, response_format: format, seed });
      const got = await client.chat.completions.create({ model: "m", messages: USER, response_format: format, seed });
      const content = got.choices[0]!.message.content!;
      expect(content).toBe(want.choices[0].message.content);
      expect(ajv.validate(SCHEMA, JSON.parse(content)), content).toBe(true);
      expect(got.choices[0]!.finish_reason).toBe("stop");
    }
  });

  it("json_schema streamed: the chunks join to a valid answer", async () => {
    const stream = await client.chat.completions.create({ model: "m", messages: USER, response_format: format, seed: 7, stream: true });
    let content = "";
    let finish: string | null = null;
    for await (const chunk of stream) {
      content += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(ajv.validate(SCHEMA, JSON.parse(content)), content).toBe(true);
    expect(finish).toBe("stop");
  });

  it("json_object: a stopped answer is a JSON object", async () => {
    let stopped = 0;
    for (let seed = 1; seed <= 8; seed++) {
      const r = await client.chat.completions.create({ model: "m", messages: USER, response_format: { type: "json_object" }, seed, max_tokens: 40 });
      if (r.choices[0]!.finish_reason !== "stop") continue;
      stopped++;
      const value = JSON.parse(r.choices[0]!.message.content!) as unknown;
      expect(typeof value === "object" && value !== null && !Array.isArray(value)).toBe(true);
    }
    expect(stopped).toBeGreaterThan(0);
  });

  it("the grammar extension field constrains the answer", async () => {
    const r = await client.chat.completions.create({
      model: "m",
      messages: USER,
      seed: 5,
      // llama.cpp's server extension: GBNF text.
      ...({ grammar: 'root ::= ("yes" | "no") "!"' } as object),
    });
    expect(r.choices[0]!.message.content).toMatch(/^(yes|no)!$/);
  });

  it("completions take llama.cpp's json_schema and grammar fields; a bad one is a 400 naming it", async () => {
    const r = await client.completions.create({
      model: "m",
      prompt: "Once upon a time",
      max_tokens: 100,
      seed: 2,
      ...({ json_schema: SCHEMA } as object),
    });
    expect(ajv.validate(SCHEMA, JSON.parse(r.choices[0]!.text)), r.choices[0]!.text).toBe(true);
    expect(r.choices[0]!.finish_reason).toBe("stop");
    const g = await client.completions.create({
      model: "m",
      prompt: "Q:",
      max_tokens: 10,
      seed: 2,
      ...({ grammar: 'root ::= [0-9] "!"' } as object),
    });
    expect(g.choices[0]!.text).toMatch(/^[0-9]!$/);
    for (const [field, value, code] of [
      ["grammar", "root ::= x", "undefined_rule"],
      ["json_schema", { type: "string", pattern: "a" }, "unsupported_schema"],
      ["grammar", 5, "bad_option_value"],
    ] as const) {
      const e = (await client.completions
        .create({ model: "m", prompt: "Q:", ...({ [field]: value } as object) })
        .catch((x: unknown) => x)) as APIError;
      expect(e).toBeInstanceOf(APIError);
      expect({ status: e.status, param: e.param, code: e.code }).toEqual({ status: 400, param: field, code });
    }
  });

  it("a schema keyword it cannot honour, or a malformed response_format, is a 400 naming response_format", async () => {
    const refusals = [
      { type: "json_schema", json_schema: { name: "x", schema: { type: "string", format: "email" } } },
      { type: "json_schema", json_schema: { schema: {} } },
      { type: "xml" },
    ];
    for (const response_format of refusals) {
      const e = await client.chat.completions
        .create({ model: "m", messages: USER, response_format: response_format as never })
        .catch((x: unknown) => x);
      expect(e).toBeInstanceOf(APIError);
      expect((e as APIError).status).toBe(400);
      expect((e as APIError).param).toBe("response_format");
    }
    const e = (await client.chat.completions
      .create({ model: "m", messages: USER, response_format: refusals[0] as never })
      .catch((x: unknown) => x)) as APIError;
    expect(e.code).toBe("unsupported_schema");
    expect(e.message).toContain('"format"');
  });

  it("a chat request's bad grammar field is a 400 naming grammar", async () => {
    const e = (await client.chat.completions
      .create({ model: "m", messages: USER, ...({ grammar: "root ::= x" } as object) })
      .catch((x: unknown) => x)) as APIError;
    expect(e).toBeInstanceOf(APIError);
    expect({ status: e.status, param: e.param, code: e.code }).toEqual({ status: 400, param: "grammar", code: "undefined_rule" });
  });
});
