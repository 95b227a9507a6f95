// The one HTTP server of the tests (and bench/pull.ts): a real node:http server on 127.0.0.1 that serves plain
// files and stands in for the Hugging Face hub, and records every request. Nothing else can be reached from the
// tests.
//
//   const server = await startTestServer({ files: { "/m.gguf": bytes } });   // or server.serve("/m.gguf", bytes)
//   server.url                                            // "http://127.0.0.1:<port>/"
//   server.addFile("owner/repo/model.gguf", bytes);       // hf:owner/repo/model.gguf (revision "main")
//   server.addFile("owner/repo/model.gguf", bytes, { revision: "v1" });
//   server.endpoint                                       // "http://127.0.0.1:<port>", for TERNION_HF_ENDPOINT
//   server.fileUrl("owner/repo/model.gguf"[, "v1"])       // a plain URL serving the same bytes (no redirect)
//   server.requests, server.bytesServed                   // what was asked and sent, to assert on; reset() clears
//   await server.close();
//
// Plain files (`files`, `serve`) are bytes, or a size and a function giving any range (a large file never held
// in memory); they answer `Range: bytes=a-` / `a-b` with 206 and Content-Range (416 past the end). Hub files: GET/HEAD
// /<owner>/<repo>/resolve/<revision>/<file> answers 302 to a CDN-like path (/cdn/<owner>/<repo>/<sha256>/<name>)
// with X-Linked-Size, X-Linked-Etag (the sha256, quoted) and an ETag; the CDN and fileUrl answer the bytes with
// ETag "<sha256>" and Range as plain files do. Adding a file again under the same path replaces it (a file that
// changed on the server). Anything else is 404. `cors` (at start) answers preflights and lets a page on another
// origin read every response and its headers. Modes, settable at any time through `server.mode`:
//   token           a request to the hub (not the CDN) without `Authorization: Bearer <token>` gets 401
//   ignoreRange     Range is ignored: 200 with the whole file, Accept-Ranges: none
//   dropAfterBytes  each body is cut after this many bytes (the connection destroyed 50 ms after they are flushed)
//   bytesPerSecond  bodies are throttled to this rate
// and per file: `addFile(…, { sha256 })` announces another sha256 than the bytes have (a corrupt mirror),
// `addFile(…, { token })` makes that file's hub requests need the token (a gated repository).
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** A file's bytes, or its size and a generator of any of its ranges [start, end). */
export type ServedFile = Uint8Array | { size: number; bytes(start: number, end: number): Uint8Array };

export interface ServerMode {
  token?: string;
  ignoreRange?: boolean;
  dropAfterBytes?: number;
  bytesPerSecond?: number;
}

export interface TestServerOptions {
  /** Plain files by path ("/models/m.gguf"). */
  files?: Record<string, ServedFile>;
  mode?: ServerMode;
  /** Answer CORS preflights and expose the headers a page needs (a page on another origin). */
  cors?: boolean;
}

export interface ServedRequest {
  method: string;
  /** The decoded path, without the query. */
  path: string;
  /** As asked, query included. */
  url: string;
  /** The Range header as sent. */
  range: string | undefined;
  /** [start, end) of the bytes answered with 206; undefined for any other answer. */
  span?: [number, number];
  authorization: string | undefined;
  /** 0 until answered. */
  status: number;
  /** Body bytes written for this request. */
  sent: number;
}

export interface TestServer {
  /** "http://127.0.0.1:<port>": the hub's endpoint. */
  endpoint: string;
  /** The endpoint with a trailing "/": the base of plain files' URLs. */
  url: string;
  mode: ServerMode;
  /** Every request, in order. */
  requests: ServedRequest[];
  /** Body bytes written to sockets, all requests together. */
  bytesServed: number;
  /** Serves `file` at `path` ("/m.gguf") as a plain file. */
  serve(path: string, file: ServedFile): void;
  /** A file of the hub: `path` is "<owner>/<repo>/<path in the repository>". */
  addFile(path: string, bytes: Uint8Array, options?: { revision?: string; sha256?: string; token?: string }): void;
  /** The plain (no redirect) URL of a file added as `path` (and `revision`). */
  fileUrl(path: string, revision?: string): string;
  reset(): void;
  close(): Promise<void>;
}

interface Body {
  size: number;
  slice(start: number, end: number): Uint8Array;
}

interface HubFile {
  bytes: Uint8Array;
  /** What the server announces. */
  sha256: string;
  token?: string;
}

/** How long a dropped body's last bytes are left to arrive before the connection is destroyed. */
const DROP_DELAY_MS = 50;

/** Bytes per write when not throttled. */
const CHUNK = 256 * 1024;

const CORS = {
  "access-control-allow-origin": "*",
  "access-control-expose-headers": "ETag, X-Linked-Etag, X-Linked-Size, Content-Range, Content-Length, Accept-Ranges",
  "cross-origin-resource-policy": "cross-origin",
};

function asBody(file: ServedFile): Body {
  if (file instanceof Uint8Array) return { size: file.length, slice: (start, end) => file.subarray(start, end) };
  return { size: file.size, slice: (start, end) => file.bytes(start, end) };
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const plain = new Map<string, { body: Body; etag?: string }>();
  const hubFiles = new Map<string, HubFile>(); // "owner/repo/<revision>/<file>"
  const cdn = new Map<string, HubFile>(); // "owner/repo/<sha256>"
  const cors: Record<string, string> = options.cors ? CORS : {};

  const server: TestServer = {
    endpoint: "",
    url: "",
    mode: options.mode ?? {},
    requests: [],
    bytesServed: 0,
    serve(path, file) {
      plain.set(path, { body: asBody(file) });
    },
    addFile(path, bytes, fileOptions = {}) {
      const [owner, repo, ...file] = path.split("/");
      const revision = fileOptions.revision ?? "main";
      const stored: HubFile = { bytes, sha256: fileOptions.sha256 ?? createHash("sha256").update(bytes).digest("hex"), token: fileOptions.token };
      hubFiles.set(`${owner}/${repo}/${revision}/${file.join("/")}`, stored);
      cdn.set(`${owner}/${repo}/${stored.sha256}`, stored);
      plain.set(`/files/${revision}/${path}`, { body: asBody(bytes), etag: stored.sha256 });
    },
    fileUrl(path, revision = "main") {
      return `${server.endpoint}/files/${revision}/${path}`;
    },
    reset() {
      server.requests = [];
      server.bytesServed = 0;
    },
    close() {
      return new Promise((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      });
    },
  };

  function answer(res: ServerResponse, record: ServedRequest, status: number, headers: Record<string, string | number> = {}): ServerResponse {
    record.status = status;
    return res.writeHead(status, { ...cors, ...headers });
  }

  /** Writes body[start, end) in pieces, throttled or cut as the mode says. */
  async function sendBody(res: ServerResponse, record: ServedRequest, body: Body, start: number, end: number): Promise<void> {
    const { dropAfterBytes, bytesPerSecond } = server.mode;
    const began = performance.now();
    const piece = bytesPerSecond ? Math.min(64 * 1024, Math.max(1024, bytesPerSecond / 20)) : CHUNK;
    const limit = dropAfterBytes === undefined ? end : Math.min(end, start + dropAfterBytes);
    let at = start;
    while (at < limit) {
      if (res.destroyed) return;
      const next = Math.min(limit, at + piece);
      const chunk = body.slice(at, next);
      server.bytesServed += chunk.length;
      record.sent += chunk.length;
      at = next;
      const flushed = new Promise<void>((resolve) => res.write(chunk, () => resolve()));
      if (at === limit && limit < end) {
        // The connection drops mid-body, once the client has had time to take in what was sent (a browser
        // discards what its page has not read yet when the connection fails).
        await flushed;
        await new Promise((r) => setTimeout(r, DROP_DELAY_MS));
        res.destroy();
        return;
      }
      if (res.writableNeedDrain) await new Promise((r) => res.once("drain", r));
      if (bytesPerSecond) {
        const wait = began + ((at - start) / bytesPerSecond) * 1000 - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    }
    if (limit < end)
      res.destroy(); // dropAfterBytes 0: not a byte of the body
    else res.end();
  }

  function serveFile(req: IncomingMessage, res: ServerResponse, record: ServedRequest, body: Body, etag?: string): void {
    const { size } = body;
    const headers: Record<string, string | number> = {
      "content-type": "application/octet-stream",
      "accept-ranges": server.mode.ignoreRange ? "none" : "bytes",
    };
    if (etag !== undefined) headers.etag = `"${etag}"`;
    let [start, end, status] = [0, size, 200];
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    if (range && !server.mode.ignoreRange) {
      start = Number(range[1]);
      end = range[2] ? Math.min(size, Number(range[2]) + 1) : size;
      if (start >= size) {
        answer(res, record, 416, { "content-range": `bytes */${size}` }).end();
        return;
      }
      status = 206;
      record.span = [start, end];
      headers["content-range"] = `bytes ${start}-${end - 1}/${size}`;
    }
    headers["content-length"] = end - start;
    answer(res, record, status, headers);
    if (req.method === "HEAD") res.end();
    else void sendBody(res, record, body, start, end);
  }

  /** The hub's resolve: 401 without the token, 302 to the CDN, or 404. */
  function resolve(req: IncomingMessage, res: ServerResponse, record: ServedRequest, owner: string, repo: string, rest: string[]): void {
    // The revision may hold "/" (a branch): try each split of the rest into revision and file.
    for (let i = 1; i < rest.length; i++) {
      const file = hubFiles.get(`${owner}/${repo}/${rest.slice(0, i).join("/")}/${rest.slice(i).join("/")}`);
      if (!file) continue;
      const token = file.token ?? server.mode.token;
      if (token !== undefined && req.headers.authorization !== `Bearer ${token}`) {
        answer(res, record, 401, { "content-type": "application/json" }).end('{"error":"Invalid credentials in Authorization header"}');
        return;
      }
      answer(res, record, 302, {
        location: `/cdn/${owner}/${repo}/${file.sha256}/${encodeURIComponent(rest.at(-1)!)}?signature=local`,
        "x-linked-size": file.bytes.length,
        "x-linked-etag": `"${file.sha256}"`,
        etag: `"${createHash("sha1").update(file.sha256).digest("hex")}"`,
      }).end();
      return;
    }
    if (server.mode.token !== undefined && req.headers.authorization !== `Bearer ${server.mode.token}`) {
      answer(res, record, 401, { "content-type": "application/json" }).end('{"error":"Invalid credentials in Authorization header"}');
      return;
    }
    answer(res, record, 404, { "content-type": "text/plain" }).end("Entry not found");
  }

  const http = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://test");
    const path = decodeURIComponent(url.pathname);
    const record: ServedRequest = {
      method: req.method ?? "GET",
      path,
      url: req.url ?? "",
      range: req.headers.range,
      authorization: req.headers.authorization,
      status: 0,
      sent: 0,
    };
    server.requests.push(record);
    if (req.method === "OPTIONS" && options.cors) {
      answer(res, record, 204, { "access-control-allow-headers": "range, authorization", "access-control-allow-methods": "GET, HEAD" }).end();
      return;
    }
    if (req.method === "GET" || req.method === "HEAD") {
      const file = plain.get(path);
      if (file) return serveFile(req, res, record, file.body, file.etag);
      const fromCdn = /^\/cdn\/([^/]+)\/([^/]+)\/([0-9a-f]{64})\//.exec(path);
      const stored = fromCdn && cdn.get(`${fromCdn[1]}/${fromCdn[2]}/${fromCdn[3]}`);
      if (stored) return serveFile(req, res, record, asBody(stored.bytes), stored.sha256);
      const hub = /^\/([^/]+)\/([^/]+)\/resolve\/(.+)$/.exec(path);
      if (hub) return resolve(req, res, record, hub[1]!, hub[2]!, hub[3]!.split("/"));
    }
    answer(res, record, 404, { "content-type": "text/plain" }).end("Entry not found");
  });
  for (const [path, file] of Object.entries(options.files ?? {})) server.serve(path, file);
  await new Promise<void>((r) => http.listen(0, "127.0.0.1", r));
  server.endpoint = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  server.url = `${server.endpoint}/`;
  return server;
}
