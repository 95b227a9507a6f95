// `ternion serve` as users reach it: the official `openai` client pointed at it, and raw HTTP for what a client
// library would never send (broken bodies, hostile headers, disconnects). The packaged default model, greedy,
// compared with the engine in this process: the server must return exactly what the engine generates.
import { request } from "node:http";
import { connect } from "node:net";
import OpenAI, { APIError } from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Engine } from "../src/engine/engine.ts";
import { createLocalEngine } from "../src/engine/local-engine.ts";
import { createEngine, killEngineWorker } from "../src/engine/worker-engine.ts";
import { lacks } from "./helpers/optional-deps.ts";
import { repoRoot, runCli } from "./helpers/cli.ts";
import { type ServeProcess, startServe } from "./helpers/serve.ts";
import { CONNECTION_MARGIN, startServer } from "../src/server/server.ts";

const MODEL = `${repoRoot}models/stories260K-ternary.gguf`;
const USER = [{ role: "user" as const, content: "Tell me a story about a cat." }];

/** A raw HTTP exchange: status, headers and body text. */
function raw(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: string | Uint8Array; chunked?: boolean } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const headers = { "Content-Type": "application/json", ...init.headers };
    const req = request(url, { method: init.method ?? "POST", headers }, (res) => {
      let text = "";
      res.setEncoding("utf8").on("data", (t: string) => (text += t));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, text }));
      res.on("error", reject);
    });
    req.on("error", reject);
    if (init.chunked) req.setHeader("Transfer-Encoding", "chunked");
    if (init.body !== undefined) req.end(init.body);
    else req.end();
  });
}

function errorOf(text: string): { message: string; type: string; param: string | null; code: string | null } {
  const body = JSON.parse(text) as { error: { message: string; type: string; param: string | null; code: string | null } };
  expect(Object.keys(body.error).sort()).toEqual(["code", "message", "param", "type"]);
  return body.error;
}

async function health(root: string): Promise<{ running: number; waiting: number }> {
  return (await fetch(`${root}/health`)).json() as Promise<{ running: number; waiting: number }>;
}

describe("ternion serve", () => {
  let server: ServeProcess;
  let client: OpenAI;
  let engine: Engine;

  beforeAll(async () => {
    [server, engine] = await Promise.all([
      startServe(["--threads", "1", "--max-queue", "24", "--max-tokens", "2000"]),
      createLocalEngine({ model: MODEL, threads: 1 }),
    ]);
    client = new OpenAI({ baseURL: server.baseUrl, apiKey: "unused", maxRetries: 0 });
  });
  afterAll(async () => {
    await engine?.dispose();
    if (server) expect(await server.stop()).toEqual({ code: 0, signal: null });
  });

  it("lists its one model and answers /health", async () => {
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(["stories260K-ternary"]);
    expect((await client.models.retrieve("stories260K-ternary")).object).toBe("model");
    expect(await (await fetch(`${server.root}/health`)).json()).toMatchObject({ status: "ok", model: "stories260K-ternary" });
  });

  it("answers a chat completion with what the engine generates", async () => {
    const want = await engine.chat.completions.create({ messages: USER, max_tokens: 24, temperature: 0 });
    const got = await client.chat.completions.create({ model: "anything", messages: USER, max_tokens: 24, temperature: 0 });
    expect(got.object).toBe("chat.completion");
    expect(got.model).toBe("stories260K-ternary");
    expect(got.choices[0]!.message).toEqual({ role: "assistant", content: want.choices[0].message.content });
    expect(got.choices[0]!.finish_reason).toBe(want.choices[0].finish_reason);
    expect(got.usage).toEqual(want.usage);
  });

  it("streams a chat completion as server-sent events, usage last with include_usage", async () => {
    const want = await engine.chat.completions.create({ messages: USER, max_tokens: 24, temperature: 0 });
    const stream = await client.chat.completions.create({
      model: "m",
      messages: USER,
      max_tokens: 24,
      temperature: 0,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0]!.choices[0]!.delta.role).toBe("assistant");
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe(want.choices[0].message.content);
    const finish = chunks.at(-2)!;
    expect(finish.choices[0]!.finish_reason).toBe(want.choices[0].finish_reason);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(want.usage);
    expect(new Set(chunks.map((c) => c.id)).size).toBe(1);
  });

  it("frames the stream as OpenAI does: data lines, data: [DONE], no usage unless asked", async () => {
    const r = await raw(`${server.baseUrl}/chat/completions`, {
      body: JSON.stringify({ messages: USER, max_tokens: 5, temperature: 0, stream: true }),
    });
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toMatch(/^text\/event-stream/);
    const events = r.text.split("\n\n");
    expect(events.pop()).toBe("");
    expect(events.at(-1)).toBe("data: [DONE]");
    const chunks = events.slice(0, -1).map((e) => {
      expect(e.startsWith("data: ")).toBe(true);
      return JSON.parse(e.slice(6)) as { object: string; usage?: unknown; choices: { finish_reason: string | null }[] };
    });
    expect(chunks.every((c) => c.object === "chat.completion.chunk" && c.usage === undefined)).toBe(true);
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe("length");
  });

  it("answers completions, streamed and not, with the engine's continuation", async () => {
    const want = await engine.complete("Once upon a time", { maxTokens: 20, temperature: 0 });
    const got = await client.completions.create({ model: "m", prompt: "Once upon a time", max_tokens: 20, temperature: 0 });
    expect(got.object).toBe("text_completion");
    expect(got.choices[0]!.text).toBe(want.text);
    expect(got.choices[0]!.finish_reason).toBe("length");
    expect(got.usage).toEqual({ prompt_tokens: want.stats.promptTokens, completion_tokens: 20, total_tokens: want.stats.promptTokens + 20 });
    const stream = await client.completions.create({ model: "m", prompt: "Once upon a time", max_tokens: 20, temperature: 0, stream: true });
    let text = "";
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]!.text;
      finish = chunk.choices[0]!.finish_reason ?? finish;
    }
    expect(text).toBe(want.text);
    expect(finish).toBe("length");
    // OpenAI's default for a completion is 16 tokens.
    expect((await client.completions.create({ model: "m", prompt: "Once", ignore_eos: true } as never)).usage!.completion_tokens).toBe(16);
  });

  it("cancels the generation of a client that disconnects; the next request starts at once", async () => {
    const abort = new AbortController();
    const response = await fetch(`${server.baseUrl}/completions`, {
      method: "POST",
      body: JSON.stringify({ prompt: "Once", max_tokens: 2000, ignore_eos: true, temperature: 0, stream: true }),
      signal: abort.signal,
    });
    const reader = response.body!.getReader();
    expect((await reader.read()).done).toBe(false);
    // A request waiting behind it whose client leaves is out of the queue at once.
    const leaving = new AbortController();
    const waiting = fetch(`${server.baseUrl}/completions`, {
      method: "POST",
      body: JSON.stringify({ prompt: "Once", max_tokens: 4 }),
      signal: leaving.signal,
    }).catch((e: Error) => e.name);
    await expect.poll(async () => (await health(server.root)).waiting).toBe(1);
    leaving.abort();
    expect(await waiting).toBe("AbortError");
    await expect.poll(async () => (await health(server.root)).waiting).toBe(0);
    abort.abort();
    const next = await client.completions.create({ model: "m", prompt: "Once upon a time", max_tokens: 4, temperature: 0 });
    expect(next.usage!.completion_tokens).toBe(4);
    // The disconnected request's generation ended with the abort, far short of its 2000 tokens.
    const line = await server.waitForLog(/POST \/v1\/completions 200 \(client gone\)/);
    const tokens = Number(/(\d+) tokens, finish abort/.exec(line)?.[1]);
    expect(tokens).toBeLessThan(2000);
    expect((await health(server.root)).running).toBe(0);
  });

  it("serves 20 concurrent clients: all complete, in the order they came, none lost", async () => {
    const prompts = Array.from({ length: 20 }, (_, i) => `Once upon a time there were ${i + 1} cats`);
    const want = await Promise.all(prompts.map((p) => engine.complete(p, { maxTokens: 12, temperature: 0 })));
    const finished: number[] = [];
    let mostInFlight = 0;
    const calls: Promise<OpenAI.Completion>[] = [];
    for (const [i, prompt] of prompts.entries()) {
      // The first one holds the model while the others queue behind it.
      const body = i === 0 ? { prompt, max_tokens: 2000, ignore_eos: true, temperature: 0 } : { prompt, max_tokens: 12, temperature: 0 };
      calls.push(
        client.completions.create({ model: "m", ...body } as never).then((r: OpenAI.Completion) => {
          finished.push(i);
          return r;
        }),
      );
      // The next is sent once the server has taken this one (in flight, or already answered), so that the order
      // they came in is the order they were sent.
      await expect
        .poll(
          async () => {
            const h = await health(server.root);
            mostInFlight = Math.max(mostInFlight, h.running + h.waiting);
            return h.running + h.waiting + finished.length;
          },
          { interval: 5, timeout: 20_000 },
        )
        .toBe(i + 1);
    }
    const results = await Promise.all(calls);
    expect(mostInFlight).toBeGreaterThanOrEqual(10);
    expect(finished).toEqual(prompts.map((_, i) => i));
    expect(results[0]!.usage!.completion_tokens).toBe(2000);
    for (let i = 1; i < 20; i++) expect(results[i]!.choices[0]!.text).toBe(want[i]!.text);
  });

  it("refuses malformed requests with 400 naming the field", async () => {
    const post = (path: string, body: string | Uint8Array) => raw(`${server.baseUrl}${path}`, { body });
    const cases: [string, string | Uint8Array, string | null, string][] = [
      ["/chat/completions", "{not json", null, "invalid_json"],
      ["/chat/completions", "[1,2]", null, "invalid_json"],
      ["/chat/completions", new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), null, "invalid_utf8"],
      ["/chat/completions", `{"messages":${"[".repeat(5000)}${"]".repeat(5000)}}`, null, "invalid_json"],
      ["/chat/completions", "{}", "messages", "missing_field"],
      ["/chat/completions", '{"messages":[]}', "messages", "invalid_value"],
      ["/chat/completions", '{"messages":[{"role":"user","content":5}]}', "messages[0].content", "invalid_value"],
      ["/chat/completions", JSON.stringify({ messages: USER, temperature: "hot" }), "temperature", "invalid_value"],
      ["/chat/completions", JSON.stringify({ messages: USER, max_tokens: 1.5 }), "max_tokens", "invalid_value"],
      ["/chat/completions", JSON.stringify({ messages: USER, stream: "yes" }), "stream", "invalid_value"],
      ["/chat/completions", JSON.stringify({ messages: USER, top_p: 0 }), "top_p", "bad_option_value"],
      ["/chat/completions", JSON.stringify({ messages: USER, n: 2 }), "n", "unsupported_option"],
      ["/completions", JSON.stringify({ prompt: "x", best_of: 3 }), "best_of", "unsupported_value"],
      ["/completions", JSON.stringify({ prompt: "x", frobnicate: 1 }), "frobnicate", "unknown_field"],
      ["/completions", JSON.stringify({ prompt: ["a", "b"] }), "prompt", "unsupported_value"],
      ["/completions", JSON.stringify({ max_tokens: 3 }), "prompt", "missing_field"],
      ["/completions", JSON.stringify({ prompt: "x".repeat(20_000), max_tokens: 3 }), null, "context_length_exceeded"],
    ];
    for (const [path, body, param, code] of cases) {
      const r = await post(path, body);
      const label = `${path} ${typeof body === "string" ? body.slice(0, 60) : "bytes"}`;
      expect(r.status, label).toBe(400);
      const error = errorOf(r.text);
      expect({ param: error.param, code: error.code, type: error.type }, label).toEqual({ param, code, type: "invalid_request_error" });
    }
    // The openai client raises it as a BadRequestError carrying the field.
    const e = await client.chat.completions.create({ model: "m", messages: USER, max_tokens: -1 }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(OpenAI.BadRequestError);
    expect((e as APIError).param).toBe("max_tokens");
  });

  it("answers unknown paths 404, wrong methods 405, bodies over the limit 413", async () => {
    const r404 = await raw(`${server.baseUrl}/embeddings`, { body: "{}" });
    expect(r404.status).toBe(404);
    expect(errorOf(r404.text).code).toBe("not_found");
    const r405 = await raw(`${server.baseUrl}/chat/completions`, { method: "GET" });
    expect(r405.status).toBe(405);
    expect(r405.headers.allow).toBe("POST");
    const big = JSON.stringify({ messages: [{ role: "user", content: "x".repeat(2 << 20) }] });
    for (const chunked of [false, true]) {
      const r = await raw(`${server.baseUrl}/chat/completions`, { body: big, chunked }).catch((e: Error) => ({ status: 0, text: e.message }));
      // A chunked body is refused once it passes the limit; the client may see the reset before the answer.
      if (r.status !== 0 || !chunked) {
        expect(r.status, `chunked ${chunked}`).toBe(413);
        expect(errorOf(r.text).code).toBe("request_too_large");
      }
    }
    expect((await health(server.root)).running).toBe(0);
  });

  it("survives hostile clients: huge headers, a half-sent request, a reset mid-body", async () => {
    const huge = await raw(`${server.baseUrl}/models`, { method: "GET", headers: { "X-Big": "a".repeat(64 << 10) } }).catch(() => ({ status: 0 }));
    expect([0, 431]).toContain(huge.status);
    // A client that sends half a body and resets the connection.
    const { port } = new URL(server.root);
    await new Promise<void>((resolve) => {
      const socket = connect(Number(port), "127.0.0.1", () => {
        socket.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"messages":');
        setTimeout(() => {
          socket.resetAndDestroy();
          resolve();
        }, 50);
      });
      socket.on("error", () => {});
    });
    // One that never finishes its headers holds its socket only, not the server.
    const slow = connect(Number(port), "127.0.0.1", () => slow.write("GET /health HTTP/1.1\r\nHost: x\r\n"));
    slow.on("error", () => {});
    const r = await client.chat.completions.create({ model: "m", messages: USER, max_tokens: 3, temperature: 0 });
    expect(r.usage!.completion_tokens).toBeGreaterThan(0);
    slow.destroy();
    expect((await fetch(`${server.root}/health`)).status).toBe(200);
  });
});

describe("the server's time limits (src/server in this process, short limits)", () => {
  /** What the server sends on a raw connection before it closes it, and how long that took. */
  function exchange(port: number, text: string): Promise<{ reply: string; ms: number }> {
    return new Promise((resolve) => {
      const started = performance.now();
      let reply = "";
      const socket = connect(port, "127.0.0.1", () => socket.write(text));
      socket.setEncoding("utf8").on("data", (t: string) => (reply += t));
      socket.on("error", () => {});
      socket.on("close", () => resolve({ reply, ms: performance.now() - started }));
    });
  }

  it("closes a connection whose headers or body come too slowly (408), and serves others meanwhile", async () => {
    const engine = await createLocalEngine({ model: MODEL, threads: 1 });
    const server = await startServer({ engine, modelId: "m", port: 0, timeouts: { headers: 500, request: 1000 } });
    try {
      const port = server.port;
      const slowHeaders = exchange(port, "GET /health HTTP/1.1\r\nHost: x\r\n");
      const slowBody = exchange(port, 'POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"prompt":');
      const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
      expect((await client.completions.create({ model: "m", prompt: "Once", max_tokens: 3 })).usage!.completion_tokens).toBe(3);
      for (const r of [await slowHeaders, await slowBody]) {
        expect(r.reply).toMatch(/^HTTP\/1\.1 408/);
        expect(r.ms).toBeLessThan(5000);
      }
    } finally {
      await server.close();
      await engine.dispose();
    }
  });

  it("closes a connection past max-queue + 1 + CONNECTION_MARGIN at once, and serves again once one ends", async () => {
    const engine = await createLocalEngine({ model: MODEL, threads: 1 });
    const server = await startServer({ engine, modelId: "m", port: 0, maxQueue: 2, timeouts: { headers: 20_000, request: 20_000 } });
    const held: ReturnType<typeof connect>[] = [];
    try {
      const limit = 2 + 1 + CONNECTION_MARGIN;
      // Connections that are sending a body slowly: each holds its place.
      for (let i = 0; i < limit; i++) {
        const socket = connect(server.port, "127.0.0.1");
        socket.on("error", () => {});
        await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
        socket.write('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"prompt":');
        held.push(socket);
      }
      const refused = await exchange(server.port, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
      expect(refused.reply).toBe("");
      expect(refused.ms).toBeLessThan(5000);
      held.pop()!.destroy();
      await new Promise((r) => setTimeout(r, 100));
      const served = await exchange(server.port, "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      expect(served.reply).toMatch(/^HTTP\/1\.1 200/);
    } finally {
      for (const s of held) s.destroy();
      await server.close();
      await engine.dispose();
    }
  });
});

describe("the server over a worker that dies", () => {
  it("ends the stream it failed with an error event and restarts the worker for the next request", async () => {
    const engine = await createEngine({ model: MODEL, threads: 1 });
    const lines: string[] = [];
    const server = await startServer({ engine, modelId: "m", port: 0, maxTokens: 2000, log: (l) => lines.push(l) });
    try {
      const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "x", maxRetries: 0 });
      const body = { model: "m", prompt: "Once", max_tokens: 2000, ignore_eos: true, stream: true };
      const stream = (await client.completions.create(body as never)) as unknown as AsyncIterable<unknown>;
      const error = await (async () => {
        try {
          for await (const _ of stream) killEngineWorker(engine);
        } catch (e) {
          return e;
        }
      })();
      expect(error).toBeInstanceOf(APIError);
      expect((error as APIError).message).toMatch(/worker stopped/);
      // The next request waits for the new worker.
      const next = await client.completions.create({ model: "m", prompt: "Once", max_tokens: 3 });
      expect(next.usage!.completion_tokens).toBe(3);
      expect(lines.join("\n")).toMatch(/restarting it/);
    } finally {
      await server.close();
      await engine.dispose();
    }
  });
});

describe("ternion serve --api-key --max-queue --cors", () => {
  let server: ServeProcess;
  beforeAll(async () => {
    server = await startServe(["--threads", "1", "--api-key", "s3cret", "--max-queue", "1", "--cors", "https://app.example"]);
  });
  afterAll(async () => {
    if (server) expect(await server.stop()).toEqual({ code: 0, signal: null });
  });

  it("answers a wrong or missing key 401; /health needs none", async () => {
    const wrong = new OpenAI({ baseURL: server.baseUrl, apiKey: "nope", maxRetries: 0 });
    const e = await wrong.models.list().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(OpenAI.AuthenticationError);
    const missing = await raw(`${server.baseUrl}/models`, { method: "GET" });
    expect(missing.status).toBe(401);
    expect(errorOf(missing.text)).toMatchObject({ type: "authentication_error", code: "invalid_api_key" });
    const right = new OpenAI({ baseURL: server.baseUrl, apiKey: "s3cret", maxRetries: 0 });
    expect((await right.models.list()).data).toHaveLength(1);
    expect((await fetch(`${server.root}/health`)).status).toBe(200);
  });

  it("answers 429 with Retry-After when the queue is full", async () => {
    const auth = { Authorization: "Bearer s3cret" };
    const long = (max_tokens: number) =>
      raw(`${server.baseUrl}/completions`, { headers: auth, body: JSON.stringify({ prompt: "Once", max_tokens, ignore_eos: true }) });
    const running = long(2000);
    await expect.poll(async () => (await health(server.root)).running).toBe(1);
    const waiting = long(5);
    await expect.poll(async () => (await health(server.root)).waiting).toBe(1);
    const refused = await long(5);
    expect(refused.status).toBe(429);
    expect(refused.headers["retry-after"]).toBe("1");
    expect(errorOf(refused.text)).toMatchObject({ type: "rate_limit_error", code: "queue_full" });
    expect((await running).status).toBe(200);
    expect((await waiting).status).toBe(200);
  });

  it("sends CORS headers and answers preflights", async () => {
    const pre = await raw(`${server.baseUrl}/chat/completions`, {
      method: "OPTIONS",
      headers: { Origin: "https://app.example", "Access-Control-Request-Headers": "authorization, content-type" },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers["access-control-allow-origin"]).toBe("https://app.example");
    expect(pre.headers["access-control-allow-headers"]).toBe("authorization, content-type");
    const r = await raw(`${server.baseUrl}/models`, { method: "GET", headers: { Authorization: "Bearer s3cret" } });
    expect(r.headers["access-control-allow-origin"]).toBe("https://app.example");
  });
});

describe("ternion serve flags", () => {
  it("refuses a bad flag value before loading anything, in one line with exit code 2", () => {
    for (const [args, message] of [
      [["--port", "70000"], /--port must be an integer in \[0, 65535\]/],
      [["--max-queue", "-1"], /--max-queue must be an integer ≥ 0/],
      [["--api-key", ""], /--api-key/],
      [["--model", "missing.gguf"], /missing\.gguf/],
    ] as const) {
      const r = runCli(["serve", ...args]);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    }
  });
});

describe("ternion serve --max-tokens", () => {
  it("refuses a larger token limit naming its field, and gives it to a chat request without one", async () => {
    const server = await startServe(["--threads", "1", "--max-tokens", "3"]);
    try {
      const client = new OpenAI({ baseURL: server.baseUrl, apiKey: "x", maxRetries: 0 });
      const refusals: [() => Promise<unknown>, string][] = [
        [() => client.chat.completions.create({ model: "m", messages: USER, max_tokens: 4 }), "max_tokens"],
        [() => client.chat.completions.create({ model: "m", messages: USER, max_completion_tokens: 4 }), "max_completion_tokens"],
        [() => client.completions.create({ model: "m", prompt: "Once", max_tokens: 4 }), "max_tokens"],
      ];
      for (const [call, param] of refusals) {
        const e = await call().catch((x: unknown) => x);
        expect(e, param).toBeInstanceOf(OpenAI.BadRequestError);
        expect((e as APIError).param).toBe(param);
        expect((e as APIError).message).toContain("--max-tokens");
      }
      const chat = await client.chat.completions.create({ model: "m", messages: USER, temperature: 0 });
      expect(chat.usage!.completion_tokens).toBe(3);
      expect(chat.choices[0]!.finish_reason).toBe("length");
      // A completion without max_tokens gets OpenAI's 16, lowered to the cap.
      const completion = await client.completions.create({ model: "m", prompt: "Once", temperature: 0 });
      expect(completion.usage!.completion_tokens).toBe(3);
    } finally {
      await server.stop();
    }
  });
});

describe("ternion serve shutdown", () => {
  it("ends an in-flight stream with an error event on SIGTERM and exits 0", async () => {
    const server = await startServe(["--threads", "1", "--max-tokens", "2000"]);
    const client = new OpenAI({ baseURL: server.baseUrl, apiKey: "x", maxRetries: 0 });
    const stream = await client.completions.create({ model: "m", prompt: "Once", max_tokens: 2000, ignore_eos: true, stream: true } as never);
    let chunks = 0;
    const error = await (async () => {
      try {
        for await (const _ of stream as unknown as AsyncIterable<unknown>) if (++chunks === 1) server.signal("SIGTERM");
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(APIError);
    expect((error as APIError).message).toMatch(/shutting down/);
    expect(chunks).toBeLessThan(2000);
    expect(await server.exited).toEqual({ code: 0, signal: null });
    expect(server.log()).toMatch(/SIGTERM: closing/);
  });
});

describe.skipIf(lacks("deno"))("ternion serve under Deno", () => {
  it("serves a chat completion and ends on SIGTERM", async () => {
    const server = await startServe(["--threads", "1"], { deno: ["--allow-read", "--allow-env", "--allow-sys", "--allow-net=127.0.0.1"] });
    try {
      const client = new OpenAI({ baseURL: server.baseUrl, apiKey: "x", maxRetries: 0 });
      const r = await client.chat.completions.create({ model: "m", messages: USER, max_tokens: 8, temperature: 0 });
      expect(r.usage!.completion_tokens).toBeGreaterThan(0);
      const stream = await client.chat.completions.create({ model: "m", messages: USER, max_tokens: 8, temperature: 0, stream: true });
      let text = "";
      for await (const c of stream) text += c.choices[0]?.delta.content ?? "";
      expect(text).toBe(r.choices[0]!.message.content);
    } finally {
      expect(await server.stop()).toEqual({ code: 0, signal: null });
    }
  });
});
