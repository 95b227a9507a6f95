// A static file server on 127.0.0.1 (node:http) that logs every request, for testing reads from a URL: files by
// path, each as bytes or as a function of the offset (a large file never held in memory), Range → 206 with
// Content-Range, or Range ignored (200 with the whole body) like a naive server.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

/** A file's bytes, or its size and a generator of any of its ranges. */
export type ServedFile = Uint8Array | { size: number; bytes(start: number, end: number): Uint8Array };

export interface RangeServerOptions {
  /** Ignore Range headers and always send the whole file with 200. */
  ignoreRange?: boolean;
}

export interface LoggedRequest {
  method: string;
  path: string;
  /** [start, end) when the request asked for a range. */
  range?: [number, number];
}

export interface RangeServer {
  /** Base URL, ending in "/". */
  url: string;
  log: LoggedRequest[];
  /** Body bytes sent so far. */
  bytesSent: number;
  close(): Promise<void>;
}

export async function startRangeServer(files: Record<string, ServedFile>, options: RangeServerOptions = {}): Promise<RangeServer> {
  const state: { log: LoggedRequest[]; bytesSent: number } = { log: [], bytesSent: 0 };
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const entry: LoggedRequest = { method: req.method ?? "GET", path };
    state.log.push(entry);
    const file = files[path];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    const size = file instanceof Uint8Array ? file.length : file.size;
    const slice = (start: number, end: number) => (file instanceof Uint8Array ? file.subarray(start, end) : file.bytes(start, end));
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    let status = 200;
    let [start, end] = [0, size];
    if (m && !options.ignoreRange) {
      start = Number(m[1]);
      end = m[2] ? Math.min(size, Number(m[2]) + 1) : size;
      entry.range = [start, end];
      if (start >= size) {
        res.writeHead(416, { "Content-Range": `bytes */${size}` }).end();
        return;
      }
      status = 206;
    }
    const headers: Record<string, string> = { "Content-Length": String(end - start), "Accept-Ranges": options.ignoreRange ? "none" : "bytes" };
    if (status === 206) headers["Content-Range"] = `bytes ${start}-${end - 1}/${size}`;
    res.writeHead(status, headers);
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    state.bytesSent += end - start;
    // Large bodies go out in 1 MiB pieces, so a generated file is never materialized whole.
    const piece = 1 << 20;
    const write = (at: number): void => {
      if (at >= end) {
        res.end();
        return;
      }
      const next = Math.min(end, at + piece);
      if (res.write(slice(at, next))) write(next);
      else res.once("drain", () => write(next));
    };
    write(start);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    get log() {
      return state.log;
    },
    get bytesSent() {
      return state.bytesSent;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((e) => (e ? reject(e) : resolve()));
      }),
  } as RangeServer;
}
