// A local stand-in for the Hugging Face hub: a real node:http server on 127.0.0.1 that the download, cache and
// CLI tests (and bench/pull.ts) point TERNION_HF_ENDPOINT at. Nothing else can be reached from the tests.
//
//   const hub = await startHubServer();
//   hub.addFile("owner/repo/model.gguf", bytes);          // hf:owner/repo/model.gguf (revision "main")
//   hub.addFile("owner/repo/model.gguf", bytes, { revision: "v1" });
//   hub.endpoint                                          // "http://127.0.0.1:<port>", for TERNION_HF_ENDPOINT
//   hub.fileUrl("owner/repo/model.gguf"[, "v1"])          // a plain URL serving the same bytes (no redirect)
//   hub.requests, hub.bytesServed                         // what was asked and sent, to assert on; reset() clears
//   await hub.close();
//
// As the hub does: GET/HEAD /<owner>/<repo>/resolve/<revision>/<file> answers 302 to a CDN-like path
// (/cdn/<sha256>/<name>) with X-Linked-Size, X-Linked-Etag (the sha256, quoted) and ETag; the CDN answers the
// bytes with ETag "<sha256>" and Accept-Ranges, and a `Range: bytes=a-` / `a-b` request with 206 and
// Content-Range. An unknown file is 404. Modes, settable at any time through `hub.mode`:
//   token           a request to the hub (not the CDN) without `Authorization: Bearer <token>` gets 401
//   ignoreRange     Range is ignored: 200 with the whole file
//   dropAfterBytes  each body is cut (the socket destroyed) after this many bytes
//   bytesPerSecond  bodies are throttled to this rate
// and per file: `addFile(…, { sha256 })` announces a different sha256 than the bytes have (a corrupt mirror).
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface HubMode {
  token?: string;
  ignoreRange?: boolean;
  dropAfterBytes?: number;
  bytesPerSecond?: number;
}

export interface HubRequest {
  method: string;
  path: string;
  range: string | undefined;
  authorization: string | undefined;
  status: number;
}

interface StoredFile {
  bytes: Uint8Array;
  /** What the server announces. */
  sha256: string;
}

export interface HubServer {
  endpoint: string;
  mode: HubMode;
  /** Every request, in order. */
  requests: HubRequest[];
  /** Body bytes written to sockets, all requests together. */
  bytesServed: number;
  addFile(path: string, bytes: Uint8Array, options?: { revision?: string; sha256?: string }): void;
  /** The plain (no redirect) URL of a file added as `path` (and `revision`). */
  fileUrl(path: string, revision?: string): string;
  reset(): void;
  close(): Promise<void>;
}

const CHUNK = 64 * 1024;

export async function startHubServer(mode: HubMode = {}): Promise<HubServer> {
  const byRepoPath = new Map<string, StoredFile>(); // "owner/repo/<revision>/<file>"
  const bySha = new Map<string, StoredFile>();
  const plain = new Map<string, StoredFile>(); // "<revision>/owner/repo/file" for fileUrl

  const hub: HubServer = {
    endpoint: "",
    mode,
    requests: [],
    bytesServed: 0,
    addFile(path, bytes, options = {}) {
      const [owner, repo, ...file] = path.split("/");
      const real = createHash("sha256").update(bytes).digest("hex");
      const stored = { bytes, sha256: options.sha256 ?? real };
      byRepoPath.set(`${owner}/${repo}/${options.revision ?? "main"}/${file.join("/")}`, stored);
      bySha.set(stored.sha256, stored);
      plain.set(`${options.revision ?? "main"}/${path}`, stored);
    },
    fileUrl(path, revision = "main") {
      return `${hub.endpoint}/files/${revision}/${path}`;
    },
    reset() {
      hub.requests = [];
      hub.bytesServed = 0;
    },
    close() {
      return new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
    },
  };

  function record(req: IncomingMessage, status: number): void {
    hub.requests.push({
      method: req.method ?? "GET",
      path: req.url ?? "",
      range: req.headers.range,
      authorization: req.headers.authorization,
      status,
    });
  }

  async function sendBody(res: ServerResponse, body: Uint8Array): Promise<void> {
    const { dropAfterBytes, bytesPerSecond } = hub.mode;
    const started = performance.now();
    let sent = 0;
    while (sent < body.length) {
      if (res.destroyed) return;
      let end = Math.min(body.length, sent + (bytesPerSecond ? Math.min(CHUNK, Math.max(1024, bytesPerSecond / 20)) : 4 * CHUNK));
      if (dropAfterBytes !== undefined) end = Math.min(end, dropAfterBytes);
      if (end > sent) {
        const chunk = body.subarray(sent, end);
        hub.bytesServed += chunk.length;
        sent = end;
        if (!res.write(chunk)) await new Promise((r) => res.once("drain", r));
      }
      if (dropAfterBytes !== undefined && sent >= dropAfterBytes) {
        res.socket?.destroy(); // the connection dropped mid-body
        return;
      }
      if (bytesPerSecond) {
        const due = started + (sent / bytesPerSecond) * 1000;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    }
    res.end();
  }

  async function serveFile(req: IncomingMessage, res: ServerResponse, file: StoredFile): Promise<void> {
    const size = file.bytes.length;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    const headers: Record<string, string | number> = {
      "content-type": "application/octet-stream",
      etag: `"${file.sha256}"`,
      "accept-ranges": "bytes",
    };
    let body = file.bytes;
    let status = 200;
    if (range && !hub.mode.ignoreRange) {
      const start = Number(range[1]);
      const end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      if (start >= size) {
        record(req, 416);
        res.writeHead(416, { "content-range": `bytes */${size}` }).end();
        return;
      }
      status = 206;
      body = file.bytes.subarray(start, end + 1);
      headers["content-range"] = `bytes ${start}-${end}/${size}`;
    }
    headers["content-length"] = body.length;
    record(req, status);
    res.writeHead(status, headers);
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    await sendBody(res, body);
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://hub");
    const path = decodeURIComponent(url.pathname);
    const cdn = /^\/cdn\/([0-9a-f]{64})\//.exec(path);
    if (cdn) {
      const file = bySha.get(cdn[1]!);
      if (file) return void serveFile(req, res, file);
    } else if (path.startsWith("/files/")) {
      const file = plain.get(path.slice("/files/".length));
      if (file) return void serveFile(req, res, file);
    } else {
      const resolve = /^\/([^/]+)\/([^/]+)\/resolve\/(.+)$/.exec(path);
      if (resolve) {
        if (hub.mode.token !== undefined && req.headers.authorization !== `Bearer ${hub.mode.token}`) {
          record(req, 401);
          res.writeHead(401, { "content-type": "application/json" }).end('{"error":"Invalid credentials in Authorization header"}');
          return;
        }
        // The revision may hold "/" (a branch): try each split of the rest into revision and file.
        const rest = resolve[3]!.split("/");
        for (let i = 1; i < rest.length; i++) {
          const file = byRepoPath.get(`${resolve[1]}/${resolve[2]}/${rest.slice(0, i).join("/")}/${rest.slice(i).join("/")}`);
          if (!file) continue;
          record(req, 302);
          res
            .writeHead(302, {
              location: `/cdn/${file.sha256}/${encodeURIComponent(rest.at(-1)!)}?signature=local`,
              "x-linked-size": file.bytes.length,
              "x-linked-etag": `"${file.sha256}"`,
              etag: `"${createHash("sha1").update(file.sha256).digest("hex")}"`,
            })
            .end();
          return;
        }
      }
    }
    record(req, 404);
    res.writeHead(404, { "content-type": "text/plain" }).end("Entry not found");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  hub.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return hub;
}
