// `ternion serve`'s HTTP layer: an OpenAI-compatible server over one Engine (node:http, which Deno runs through
// its Node compatibility). Routes: POST /v1/chat/completions and /v1/completions (JSON or server-sent events),
// GET /v1/models, /v1/models/{id} and /health. Generation requests run in the engine's queue, in the order their
// bodies arrived; more than `maxQueue` waiting behind the running one are refused (429, Retry-After). A client
// that disconnects cancels its generation (the engine's AbortSignal: a waiting call leaves the queue, the running
// one stops), so the next request starts at once. Hostile input is bounded: header size and time, body size and
// time, strict UTF-8, JSON depth, open connections, and clients that stop reading a stream. close() ends in-flight streams with an
// error event and answers waiting requests 503.
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Engine } from "../engine/engine.ts";
import { EngineCrashedError } from "../runtime/errors.ts";
import { chatReply, completionReply, type Reply } from "./generation-replies.ts";
import { terminalText } from "../runtime/terminal-text.ts";
import { HttpError, toHttpError } from "./http-error.ts";
import { type ChatCall, chatCall, type CompletionCall, completionCall } from "./openai-requests.ts";
import { readJsonBody } from "./read-body.ts";
import { EventStream } from "./sse.ts";

export interface ServerOptions {
  engine: Engine;
  /** The served model's id in /v1/models and in every response's `model`. */
  modelId: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Requests to /v1/… must carry `Authorization: Bearer <apiKey>` (else 401). */
  apiKey?: string;
  /** An origin allowed to call from a browser (`*` for any): CORS headers and preflight answers. */
  cors?: string;
  /**
   * Most tokens one request may generate: a larger max_tokens or max_completion_tokens is a 400, and a chat
   * request that gives none gets this. Default: the engine's context length.
   */
  maxTokens?: number;
  /** Generation requests that may wait behind the running one. Default 32. */
  maxQueue?: number;
  /** Largest request body in bytes. Default 1 MiB. */
  maxBodyBytes?: number;
  /** Receives one line per request (method, path, status, time). */
  log?: (line: string) => void;
  /** Time limits in ms (defaults: headers 10 s, whole request 30 s, a stream's stalled write 30 s). */
  timeouts?: { headers?: number; request?: number; drain?: number };
}

export interface RunningServer {
  /** http://host:port */
  readonly url: string;
  readonly port: number;
  /** Stops accepting, ends in-flight requests (streams with an error event, waiting ones 503), closes every connection. */
  close(): Promise<void>;
}

const DEFAULT_MAX_QUEUE = 32;
const DEFAULT_MAX_BODY = 1 << 20;
/** Time for a client to send its headers, and its whole request. */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
/** Time a stream waits for a client that stopped reading before it drops the connection. */
const DRAIN_TIMEOUT_MS = 30_000;
/** How often Node checks the header and request timeouts (its default, 30 s, would let them run 3× over). */
const TIMEOUT_CHECK_MS = 1_000;
/**
 * Connections beyond the generation requests admitted (the running one and `maxQueue` waiting): room for
 * /health, /v1/models and requests still sending their bodies. Past the total, new connections are closed at
 * once, so bodies being read hold at most (maxQueue + 1 + this) × maxBodyBytes.
 */
export const CONNECTION_MARGIN = 16;
/** What a 429 tells the client to wait, in seconds. */
const RETRY_AFTER_S = 1;

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const maxTokens = options.maxTokens ?? (await options.engine.info()).contextLength;
  const app = new OpenAiServer(options, maxTokens);
  const t = options.timeouts ?? {};
  const headersTimeout = t.headers ?? HEADERS_TIMEOUT_MS;
  const server = createServer(
    {
      headersTimeout,
      requestTimeout: Math.max(headersTimeout, t.request ?? REQUEST_TIMEOUT_MS),
      keepAliveTimeout: 5_000,
      connectionsCheckingInterval: Math.min(TIMEOUT_CHECK_MS, headersTimeout),
    },
    (req, res) => app.handle(req, res),
  );
  server.maxConnections = (options.maxQueue ?? DEFAULT_MAX_QUEUE) + 1 + CONNECTION_MARGIN;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 8080, options.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  server.on("error", (e) => options.log?.(`server error: ${e.message}`));
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(":") ? `[${address}]` : address;
  return { url: `http://${host}:${port}`, port, close: () => app.close(server) };
}

class OpenAiServer {
  private readonly maxQueue: number;
  private readonly maxBody: number;
  private readonly drainTimeout: number;
  private readonly keyDigest: Buffer | undefined;
  /** Aborted by close(): every generation in flight ends. */
  private readonly closing = new AbortController();
  /** Generation requests admitted: the running one and those waiting in the engine's queue. */
  private admitted = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private restarting: Promise<void> | undefined;

  constructor(
    private readonly options: ServerOptions,
    private readonly maxTokens: number,
  ) {
    this.maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE;
    this.maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
    this.drainTimeout = options.timeouts?.drain ?? DRAIN_TIMEOUT_MS;
    this.keyDigest = options.apiKey === undefined ? undefined : digest(options.apiKey);
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    // A socket that fails mid-request (reset, destroyed by a timeout) must not become an uncaught 'error'.
    req.on("error", () => {});
    res.on("error", () => {});
    const started = performance.now();
    const exchange: Exchange = { req, res };
    const done = this.route(exchange)
      .catch((err) => {
        try {
          this.fail(exchange, err);
        } catch {
          res.destroy();
        }
      })
      .finally(() => {
        this.inFlight.delete(done);
        const gone = res.writableFinished ? "" : " (client gone)";
        const ended = exchange.ended ? `, ${exchange.ended}` : "";
        // The URL is the client's: its control characters would reach the operator's terminal.
        this.options.log?.(
          `${req.method} ${terminalText(req.url ?? "")} ${res.statusCode}${gone} ${(performance.now() - started).toFixed(0)} ms${ended}`,
        );
      });
    this.inFlight.add(done);
  }

  async close(server: Server): Promise<void> {
    this.closing.abort();
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections?.();
    await Promise.allSettled([...this.inFlight]);
    server.closeAllConnections?.();
    await stopped;
  }

  private async route(exchange: Exchange): Promise<void> {
    const { req, res } = exchange;
    if (this.closing.signal.aborted) throw new HttpError(503, "SERVER_SHUTTING_DOWN", "the server is shutting down");
    const path = (req.url ?? "/").split("?")[0]!;
    const route = ROUTES.find((r) => r.match(path));
    if (!route) throw new HttpError(404, "NOT_FOUND", `no such endpoint: ${req.method} ${path}`);
    if (req.method === "OPTIONS" && this.options.cors !== undefined) return this.preflight(req, res, route.method);
    if (req.method !== route.method && !(route.method === "GET" && req.method === "HEAD")) {
      throw new HttpError(405, "METHOD_NOT_ALLOWED", `${path} takes ${route.method}, not ${req.method}`, { headers: { Allow: route.method } });
    }
    if (route.auth) this.authorize(req);
    switch (route.name) {
      case "health":
        return this.json(res, 200, {
          status: "ok",
          model: this.options.modelId,
          running: Math.min(this.admitted, 1),
          waiting: Math.max(0, this.admitted - 1),
        });
      case "models":
        return this.json(res, 200, { object: "list", data: [this.modelObject()] });
      case "model": {
        const id = decodeComponent(path.slice("/v1/models/".length));
        if (id !== this.options.modelId)
          throw new HttpError(404, "MODEL_NOT_FOUND", `the model "${id}" is not served here (this server runs "${this.options.modelId}")`, {
            param: "model",
          });
        return this.json(res, 200, this.modelObject());
      }
      case "chat":
      case "completions":
        return this.generation(exchange, route.name);
    }
  }

  private async generation(exchange: Exchange, kind: "chat" | "completions"): Promise<void> {
    const { req, res } = exchange;
    const body = await readJsonBody(req, this.maxBody);
    // llama.cpp's `grammar` field, else OpenAI's `response_format` (chat) or llama.cpp's `json_schema` (completions).
    exchange.grammarField = body.grammar !== undefined ? "grammar" : kind === "chat" ? "response_format" : "json_schema";
    const call = kind === "chat" ? chatCall(body, this.options.modelId, this.maxTokens) : completionCall(body, this.maxTokens);
    if (this.admitted > this.maxQueue) {
      throw new HttpError(429, "QUEUE_FULL", `the server is busy: one request runs and ${this.admitted - 1} wait, the most it queues (--max-queue)`, {
        type: "rate_limit_error",
        headers: { "Retry-After": String(RETRY_AFTER_S) },
      });
    }
    this.admitted++;
    // The generation ends when the client goes away or the server closes.
    const gone = new AbortController();
    const onClose = () => {
      if (!res.writableFinished) gone.abort();
    };
    res.on("close", onClose);
    const signal = AbortSignal.any([gone.signal, this.closing.signal]);
    try {
      // The engine's calls fail while its worker is being started again: requests wait for it.
      await this.restarting;
      const engine = this.options.engine;
      const onEnd = (finish: string, tokens: number) => (exchange.ended = `${tokens} tokens, finish ${finish}`);
      const reply =
        kind === "chat"
          ? await chatReply(engine, call as ChatCall, signal, onEnd)
          : await completionReply(engine, this.options.modelId, call as CompletionCall, signal, onEnd);
      await this.send(exchange, reply, signal);
    } finally {
      res.off("close", onClose);
      this.admitted--;
    }
  }

  /** Sends a reply unless the request was cancelled meanwhile (closing: a 503 or a stream's error event). */
  private async send(exchange: Exchange, reply: Reply, signal: AbortSignal): Promise<void> {
    const { res } = exchange;
    if (reply.kind === "json") {
      this.checkCancelled(signal);
      return this.json(res, 200, reply.body);
    }
    const events = reply.events[Symbol.asyncIterator]();
    try {
      const head: unknown[] = [];
      for (let i = 0; i < reply.prime; i++) {
        const next = await events.next();
        if (next.done) break;
        head.push(next.value);
      }
      this.checkCancelled(signal);
      const stream = new EventStream(res, this.drainTimeout);
      stream.open(this.corsHeaders());
      try {
        for (const event of head) await stream.send(event);
        // Once cancelled the engine ends the generation within a token: its last events are read, not sent.
        for (;;) {
          const next = await events.next();
          if (next.done) break;
          if (!signal.aborted) await stream.send(next.value);
        }
      } catch (err) {
        this.noteCrash(err);
        return await stream.fail(toHttpError(err, exchange.grammarField).body());
      }
      if (this.closing.signal.aborted) return await stream.fail(shuttingDown().body());
      if (!signal.aborted) await stream.done();
    } finally {
      await events.return?.();
    }
  }

  /** The client left (nothing to send) or the server is closing (503). */
  private checkCancelled(signal: AbortSignal): void {
    if (this.closing.signal.aborted) throw shuttingDown();
    if (signal.aborted) throw new HttpError(499, "CLIENT_CLOSED_REQUEST", "the client closed the connection");
  }

  private fail(exchange: Exchange, err: unknown): void {
    const { req, res } = exchange;
    this.noteCrash(err);
    const error = toHttpError(err, exchange.grammarField);
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    // A body left unread (refused before it was read, or too large) is not drained: the connection ends.
    if (!req.complete) res.shouldKeepAlive = false;
    this.json(res, error.status, error.body(), error.options.headers);
  }

  /** After the engine's worker died, one restart brings it back for the next requests. */
  private noteCrash(err: unknown): void {
    if (!(err instanceof EngineCrashedError) || this.restarting) return;
    this.options.log?.(`the model's worker stopped (${err.message}); restarting it`);
    this.restarting = this.options.engine
      .restart()
      .catch((e) => this.options.log?.(`restart failed: ${(e as Error).message}`))
      .finally(() => (this.restarting = undefined));
  }

  private authorize(req: IncomingMessage): void {
    if (!this.keyDigest) return;
    const header = req.headers.authorization ?? "";
    const key = header.startsWith("Bearer ") ? header.slice("Bearer ".length) : "";
    if (!timingSafeEqual(digest(key), this.keyDigest)) {
      throw new HttpError(401, "INVALID_API_KEY", header ? "incorrect API key" : "an API key is required: Authorization: Bearer <key>", {
        type: "authentication_error",
      });
    }
  }

  private preflight(req: IncomingMessage, res: ServerResponse, method: string): void {
    res.writeHead(204, {
      ...this.corsHeaders(),
      "Access-Control-Allow-Methods": `${method}, OPTIONS`,
      "Access-Control-Allow-Headers": req.headers["access-control-request-headers"] ?? "Authorization, Content-Type",
      "Access-Control-Max-Age": "600",
    });
    res.end();
  }

  private corsHeaders(): Record<string, string> {
    const origin = this.options.cors;
    if (origin === undefined) return {};
    return origin === "*" ? { "Access-Control-Allow-Origin": "*" } : { "Access-Control-Allow-Origin": origin, Vary: "Origin" };
  }

  private json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { ...this.corsHeaders(), ...headers, "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text) });
    res.end(text);
  }

  private modelObject() {
    return { id: this.options.modelId, object: "model", created: 0, owned_by: "ternion" };
  }
}

/** One request in flight, and how its generation ended (for the log line). */
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  ended?: string;
  /** The request field a GrammarError names. */
  grammarField?: string;
}

type RouteName = "health" | "models" | "model" | "chat" | "completions";

const ROUTES: { name: RouteName; method: "GET" | "POST"; auth: boolean; match: (path: string) => boolean }[] = [
  { name: "health", method: "GET", auth: false, match: (p) => p === "/health" },
  { name: "models", method: "GET", auth: true, match: (p) => p === "/v1/models" },
  { name: "model", method: "GET", auth: true, match: (p) => p.startsWith("/v1/models/") && p.length > "/v1/models/".length },
  { name: "chat", method: "POST", auth: true, match: (p) => p === "/v1/chat/completions" },
  { name: "completions", method: "POST", auth: true, match: (p) => p === "/v1/completions" },
];

function shuttingDown(): HttpError {
  return new HttpError(503, "SERVER_SHUTTING_DOWN", "the server is shutting down");
}

/** Keys are compared as digests, in constant time, whatever their lengths. */
function digest(key: string): Buffer {
  return createHash("sha256").update(key).digest();
}

/** A path segment's text; a malformed %-escape is the client's error. */
function decodeComponent(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, "INVALID_URL", `the path segment "${segment}" has a malformed %-escape`);
  }
}
