// ByteSource implementations that work on every platform: bytes already in memory, a Blob/File (browser
// file pickers, IndexedDB, Node's fs.openAsBlob), and a URL read with HTTP Range requests.
import { TernionError } from "../errors.ts";
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

export interface UrlSourceOptions {
  /** The fetch to use (default: globalThis.fetch); lets callers add auth or tests mock the server. */
  fetch?: typeof fetch;
  /** Extra request headers (e.g. Authorization). */
  headers?: Record<string, string>;
}

/**
 * A file served over HTTP. The size comes from a HEAD request and reads are `Range` requests. A server that
 * does not support ranges (no Content-Length on HEAD, or a 200 instead of 206) gets one full GET, and the
 * body then serves every read: correct, if not frugal.
 */
export async function urlSource(url: string | URL, options: UrlSourceOptions = {}): Promise<ByteSource> {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const headers = options.headers ?? {};
  const href = String(url);

  let head: Response | undefined;
  try {
    head = await doFetch(href, { method: "HEAD", headers });
  } catch {
    head = undefined; // some servers or proxies refuse HEAD: fall back to a full fetch
  }
  const length = head?.ok ? Number(head.headers.get("content-length") ?? NaN) : NaN;
  // A compressed transfer makes Content-Length the compressed size: ranges would not line up with it.
  const encoded = (head?.headers.get("content-encoding") ?? "identity") !== "identity";
  if (!Number.isSafeInteger(length) || length < 0 || encoded || head?.headers.get("accept-ranges") === "none") {
    return bytesSource(await fetchAll(doFetch, href, headers));
  }

  let whole: Uint8Array | undefined; // set once the server has shown that it ignores Range
  return {
    size: length,
    async read(offset, len) {
      const [start, end] = clampRead(length, offset, len);
      if (whole) return whole.subarray(start, end);
      if (end === start) return new Uint8Array(0);
      const res = await doFetch(href, { headers: { ...headers, Range: `bytes=${start}-${end - 1}` } });
      if (res.status === 206) {
        const body = new Uint8Array(await res.arrayBuffer());
        if (body.length !== end - start) {
          throw new TernionError("FETCH_FAILED", `${href}: range ${start}-${end - 1} returned ${body.length} bytes instead of ${end - start}`);
        }
        return body;
      }
      if (res.status === 200) {
        whole = new Uint8Array(await res.arrayBuffer());
        if (whole.length !== length) {
          throw new TernionError("FETCH_FAILED", `${href}: body has ${whole.length} bytes, HEAD said ${length}`);
        }
        return whole.subarray(start, end);
      }
      throw new TernionError("FETCH_FAILED", `${href}: HTTP ${res.status} for range ${start}-${end - 1}`);
    },
  };
}

async function fetchAll(doFetch: typeof fetch, href: string, headers: Record<string, string>): Promise<Uint8Array> {
  const res = await doFetch(href, { headers });
  if (!res.ok) throw new TernionError("FETCH_FAILED", `${href}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}
