// ByteSource implementations that work on every platform: bytes already in memory, a Blob/File (browser
// file pickers, IndexedDB, Node's fs.openAsBlob), sources end to end (split models), and a URL read with HTTP
// Range requests.
import { TernionError } from "../errors.ts";
import { BlockCache } from "./block-cache.ts";
import type { ByteSource } from "./source.ts";

/** Clamps a read request to the source: `[offset, offset + length)` ∩ `[0, size)`. */
function clampRead(size: number, offset: number, length: number): [number, number] {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new RangeError(`bad read request: offset ${offset}, length ${length}`);
  }
  const start = Math.min(offset, size);
  return [start, Math.min(start + length, size)];
}

/** Bytes in memory. Reads are views of `bytes` (no copy). */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    async read(offset, length) {
      const [start, end] = clampRead(bytes.length, offset, length);
      return bytes.subarray(start, end);
    },
  };
}

/** A Blob or File; each read is one `slice`, so only the requested bytes are loaded. */
export function blobSource(blob: Blob): ByteSource {
  return {
    size: blob.size,
    async read(offset, length) {
      const [start, end] = clampRead(blob.size, offset, length);
      return new Uint8Array(await blob.slice(start, end).arrayBuffer());
    },
  };
}

/** Sources end to end (the parts of a split model): a read may span parts; `close()` closes every part. */
export function concatSources(parts: ByteSource[]): ByteSource {
  const starts: number[] = [];
  let size = 0;
  for (const p of parts) {
    starts.push(size);
    size += p.size;
  }
  return {
    size,
    async read(offset, length) {
      const [start, end] = clampRead(size, offset, length);
      const pieces: Uint8Array[] = [];
      for (let k = 0; k < parts.length; k++) {
        const from = Math.max(start, starts[k]!);
        const to = Math.min(end, starts[k]! + parts[k]!.size);
        if (from < to) pieces.push(await parts[k]!.read(from - starts[k]!, to - from));
      }
      if (pieces.length === 1) return pieces[0]!;
      const out = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of pieces) {
        out.set(p, at);
        at += p.length;
      }
      return out;
    },
    async close() {
      for (const p of parts) await p.close?.();
    },
  };
}

export interface UrlSourceOptions {
  /** The fetch to use (default: globalThis.fetch); lets callers add auth or tests mock the server. */
  fetch?: typeof fetch;
  /** Extra request headers (e.g. Authorization). */
  headers?: Record<string, string>;
  /** Size of the aligned blocks that reads smaller than a block are fetched in (default 4 MiB). */
  blockBytes?: number;
  /** Blocks kept (default 4, at least 2): memory for reading a model from a URL is at most blockBytes × cachedBlocks. */
  cachedBlocks?: number;
}

export const DEFAULT_BLOCK_BYTES = 4 << 20;
export const DEFAULT_CACHED_BLOCKS = 4;

/**
 * A file served over HTTP, read with `Range` requests through a small cache of aligned blocks (gguf/block-cache.ts),
 * so that a model loads in a few large requests instead of one per tensor. The first block's request also gives
 * the size (Content-Range; HEAD's Content-Length where a cross-origin server hides Content-Range). A server that
 * ignores Range (a 200), or that gives no size at all, is read with one full GET whose body then serves every read.
 */
export async function urlSource(url: string | URL, options: UrlSourceOptions = {}): Promise<ByteSource> {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const headers = options.headers ?? {};
  const href = String(url);
  const blockBytes = options.blockBytes ?? DEFAULT_BLOCK_BYTES;
  const cachedBlocks = options.cachedBlocks ?? DEFAULT_CACHED_BLOCKS;
  if (!Number.isSafeInteger(blockBytes) || blockBytes < 1) throw new RangeError(`blockBytes must be a positive integer, got ${blockBytes}`);
  if (!Number.isSafeInteger(cachedBlocks) || cachedBlocks < 2)
    throw new RangeError(`cachedBlocks must be an integer of at least 2, got ${cachedBlocks}`);

  const rangeGet = (start: number, end: number) =>
    fetchOrFail(doFetch, href, { headers: { ...headers, Range: `bytes=${start}-${end - 1}` } }, `range ${start}-${end - 1}`);
  const wholeFile = async () => bytesSource(await bodyOf(await fetchOrFail(doFetch, href, { headers }, "GET"), href));

  const first = await rangeGet(0, blockBytes);
  if (first.status === 200) return bytesSource(await bodyOf(first, href)); // Range ignored: this is the whole file
  if (first.status === 416) return wholeFile(); // an empty file
  if (first.status !== 206) throw new TernionError("FETCH_FAILED", `${href}: HTTP ${first.status}`);
  // A compressed transfer would make the byte ranges meaningless.
  const encoding = first.headers.get("content-encoding") ?? "identity";
  if (encoding !== "identity") throw new TernionError("FETCH_FAILED", `${href}: the server compressed a range reply (Content-Encoding ${encoding})`);
  const size = totalOf(first.headers.get("content-range")) ?? (await headLength(doFetch, href, headers));
  if (size === undefined) {
    await first.body?.cancel(); // no size to clamp reads to: the whole body serves every read
    return wholeFile();
  }

  const fetchRange = async (start: number, end: number): Promise<Uint8Array> => {
    const res = await rangeGet(start, end);
    // The first reply was a 206: anything else now means the file or the server changed under us.
    if (res.status !== 206) throw new TernionError("FETCH_FAILED", `${href}: HTTP ${res.status} for range ${start}-${end - 1}`);
    const body = await bodyOf(res, href);
    checkLength(body, end - start, href, start);
    return body;
  };
  const cache = new BlockCache(size, blockBytes, cachedBlocks, fetchRange);
  const block0 = await bodyOf(first, href);
  checkLength(block0, Math.min(blockBytes, size), href, 0);
  cache.put(0, block0);

  return {
    size,
    read(offset, length) {
      const [start, end] = clampRead(size, offset, length);
      return cache.read(start, end);
    },
  };
}

async function fetchOrFail(doFetch: typeof fetch, href: string, init: RequestInit, what: string): Promise<Response> {
  try {
    return await doFetch(href, init);
  } catch (e) {
    throw new TernionError("FETCH_FAILED", `${href}: ${what} failed: ${(e as Error).message}`);
  }
}

async function bodyOf(res: Response, href: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await res.arrayBuffer());
  } catch (e) {
    throw new TernionError("FETCH_FAILED", `${href}: the connection failed mid-body: ${(e as Error).message}`);
  }
}

function checkLength(body: Uint8Array, expected: number, href: string, start: number): void {
  if (body.length !== expected) {
    throw new TernionError("FETCH_FAILED", `${href}: range ${start}-${start + expected - 1} returned ${body.length} bytes instead of ${expected}`);
  }
}

/** The total of `bytes a-b/total`, or undefined (no header, hidden by CORS, or `*`). */
function totalOf(contentRange: string | null): number | undefined {
  const m = contentRange ? /\/(\d+)\s*$/.exec(contentRange) : null;
  const n = m ? Number(m[1]) : Number.NaN;
  return Number.isSafeInteger(n) ? n : undefined;
}

async function headLength(doFetch: typeof fetch, href: string, headers: Record<string, string>): Promise<number | undefined> {
  const head = await fetchOrFail(doFetch, href, { method: "HEAD", headers }, "HEAD");
  const n = head.ok ? Number(head.headers.get("content-length") ?? Number.NaN) : Number.NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}
