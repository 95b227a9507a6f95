// Downloading a URL into a file (Node, Deno), streamed to disk so that memory stays flat whatever the
// file's size. The bytes go to `<target>.part` beside the target; after an interruption (a dropped connection,
// a killed process) the next download resumes it with `Range` rather than fetching those bytes again, and a
// server that ignores Range (200 instead of 206) restarts it from zero, never appending a second copy.
// The requests go through node:http/https rather than fetch: on Node 20 its streams took twice the CPU time per
// byte (300 MB from a local server: 2.5 s against 1.2–1.9 s, curl 0.4–1.5 s, npm run bench:pull), and a download
// must keep up with curl. Redirects are followed by hand so that the hub's token goes to the hub only (hubHeaders). The size
// (X-Linked-Size, Content-Length/Content-Range) and the sha256 (X-Linked-Etag or ETag, when a 64-hex value)
// the server announces are checked before the partial file is renamed into place: the target name only ever
// holds a complete, verified file.
import { AbortError, CacheError } from "../errors.ts";
import { announcedSha256, announcedSize } from "./announced.ts";
import { nodeModules } from "./node-modules.ts";
import { hubHeaders, type HubOptions } from "./reference.ts";
import type { DownloadProgress } from "./progress.ts";

export type { DownloadProgress };

export interface DownloadOptions {
  /** The hub's endpoint and token: the token is sent to the hub's origin only. */
  hub?: HubOptions;
  onProgress?: (progress: DownloadProgress) => void;
  signal?: AbortSignal;
  /** Times a connection dropped mid-body is resumed before the download fails (default 3). */
  retries?: number;
}

export interface DownloadResult {
  size: number;
  /** The sha256 of the file, hex (computed while writing; checked against the server's when it gave one). */
  sha256: string;
  /** Whether the server announced the sha256 that was checked. */
  verified: boolean;
}

const MAX_REDIRECTS = 10;
/**
 * Chunks are written in batches of about this many bytes (one writev), few enough syscalls to keep up with curl,
 * and at least every FLUSH_MS, so that a killed download loses little of what it fetched.
 */
const WRITE_BATCH = 1 << 20;
const FLUSH_MS = 50;
const READ_BLOCK = 4 << 20;
const PROGRESS_MS = 100;

/** Where the bytes of a download into `target` wait until they are complete and verified. */
export function partialPath(target: string): string {
  return `${target}.part`;
}

/** A dropped connection after some bytes arrived: worth resuming. */
class Interrupted extends CacheError {}

/** Downloads `url` into `target` (replacing any file there only once the new one is complete and verified). */
export async function downloadFile(url: string, target: string, options: DownloadOptions = {}): Promise<DownloadResult> {
  const retries = options.retries ?? 3;
  for (let attempt = 0; ; attempt++) {
    try {
      return await downloadOnce(url, target, options);
    } catch (e) {
      if (!(e instanceof Interrupted) || attempt >= retries || options.signal?.aborted) throw e;
    }
  }
}

/** One HTTP answer: status, headers, and the body as chunks (the socket is closed by `cancel`). */
interface Reply {
  status: number;
  header(name: string): string | null;
  body: AsyncIterable<Uint8Array>;
  cancel(): void;
}

interface Answer {
  response: Reply;
  /** Size and sha256 as the first answer that gave them said (the hub's, before a redirect to its CDN). */
  size: number | undefined;
  sha256: string | undefined;
}

function rethrowAbort(e: unknown, signal: AbortSignal | undefined): void {
  if (signal?.aborted || (e as Error)?.name === "AbortError") throw new AbortError("the download was aborted");
}

function describe(e: unknown): string {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (e as Error).message ?? String(e);
}

/** A GET of `url` (one request, no redirect followed). */
async function get(url: string, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<Reply> {
  const { http, https } = await nodeModules();
  const client = url.startsWith("https:") ? https : http;
  return new Promise((resolve, reject) => {
    // agent: false: one connection per request, closed after it, so that nothing keeps the process alive.
    const request = client.get(url, { headers, signal, agent: false }, (res) => {
      resolve({
        status: res.statusCode ?? 0,
        header: (name) => {
          const value = res.headers[name];
          return value === undefined ? null : Array.isArray(value) ? value.join(", ") : value;
        },
        body: res,
        cancel: () => res.destroy(),
      });
    });
    request.on("error", reject);
  });
}

/** GET `url` from byte `start`, following redirects; the final answer (2xx or an error status). */
async function request(url: string, start: number, options: DownloadOptions): Promise<Answer> {
  let size: number | undefined;
  let sha256: string | undefined;
  let at = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const headers: Record<string, string> = { ...hubHeaders(at, options.hub), "accept-encoding": "identity" };
    if (start > 0) headers.range = `bytes=${start}-`;
    let response: Reply;
    try {
      response = await get(at, headers, options.signal);
    } catch (e) {
      rethrowAbort(e, options.signal);
      throw new CacheError("DOWNLOAD_FAILED", `cannot download ${url}: ${describe(e)}`);
    }
    size ??= announcedSize((name) => response.header(name));
    sha256 ??= announcedSha256((name) => response.header(name));
    const location = response.header("location");
    if (response.status >= 300 && response.status < 400 && location !== null) {
      response.cancel();
      at = new URL(location, at).href;
      continue;
    }
    return { response, size, sha256 };
  }
  throw new CacheError("DOWNLOAD_FAILED", `cannot download ${url}: more than ${MAX_REDIRECTS} redirects`);
}

function statusError(url: string, status: number): CacheError {
  if (status === 404) return new CacheError("NOT_FOUND", `no file at ${url} (HTTP 404)`);
  if (status === 401 || status === 403) {
    return new CacheError("UNAUTHORIZED", `${url} refused access (HTTP ${status}): set HF_TOKEN to a token that may read it`);
  }
  return new CacheError("DOWNLOAD_FAILED", `cannot download ${url}: HTTP ${status}`);
}

async function downloadOnce(url: string, target: string, options: DownloadOptions): Promise<DownloadResult> {
  const { fs, crypto } = await nodeModules();
  const part = partialPath(target);
  let have = (await fs.stat(part).catch(() => undefined))?.size ?? 0;
  const { response, size: linkedSize, sha256: expectedSha } = await request(url, have, options);

  let total: number | undefined;
  if (response.status === 206) {
    const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(response.header("content-range") ?? "");
    if (!range || Number(range[1]) !== have) {
      response.cancel();
      await fs.rm(part, { force: true }); // a range we did not ask for: start over next time
      throw new Interrupted("DOWNLOAD_FAILED", `cannot download ${url}: the server answered bytes ${range?.[1] ?? "?"}… to a request from ${have}`);
    }
    total = range[2] === "*" ? linkedSize : Number(range[2]);
  } else if (response.status === 200) {
    have = 0; // the whole file (a server that ignores Range, or nothing to resume): start over
    const length = response.header("content-length");
    total = linkedSize ?? (length !== null ? Number(length) : undefined);
  } else if (response.status === 416 && have > 0) {
    response.cancel();
    await fs.rm(part, { force: true }); // the partial file is not a prefix of this file (it is as long or longer)
    throw new Interrupted("DOWNLOAD_FAILED", `cannot download ${url}: the partial file did not fit it (HTTP 416)`);
  } else {
    response.cancel();
    throw statusError(url, response.status);
  }
  if (linkedSize !== undefined && total !== undefined && total !== linkedSize) {
    response.cancel();
    throw new CacheError("SIZE_MISMATCH", `${url}: the server announced ${linkedSize} bytes but sends ${total}`);
  }

  const hash = crypto.createHash("sha256");
  if (have > 0) await hashFile(part, hash);
  const handle = await fs.open(part, have > 0 ? "a" : "w");
  const started = performance.now();
  const resumedFrom = have;
  let loaded = have;
  let lastReport = -Infinity;
  const report = (force: boolean) => {
    const t = performance.now();
    if (!options.onProgress || (!force && t - lastReport < PROGRESS_MS)) return;
    lastReport = t;
    const bytesPerSecond = ((loaded - resumedFrom) * 1000) / Math.max(1, t - started);
    const etaSeconds = total !== undefined && bytesPerSecond > 0 ? Math.max(0, total - loaded) / bytesPerSecond : undefined;
    options.onProgress({ file: target, loaded, total: total ?? 0, bytesPerSecond, etaSeconds });
  };

  // Writes are pipelined: one batch is written (in libuv's thread pool) while the next is read and hashed, and
  // the loop waits only when a batch is ready before the previous one is written. Awaiting every write stalled the
  // reads (300 MB from the local hub server: 0.67 s a pull, 0.53 s pipelined); memory stays within two batches,
  // whatever the file's size.
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let lastFlush = performance.now();
  let writing: Promise<void> | undefined;
  let writeError: unknown;
  const writeAll = async (chunks: Uint8Array[]) => {
    let written = (await handle.writev(chunks)).bytesWritten;
    // A short writev (rare: a full pipe, a signal) finishes chunk by chunk.
    for (const chunk of chunks) {
      if (written >= chunk.length) {
        written -= chunk.length;
        continue;
      }
      let done = written;
      written = 0;
      while (done < chunk.length) done += (await handle.write(chunk, done, chunk.length - done)).bytesWritten;
    }
  };
  /** Waits for the batch being written; rethrows its failure. */
  const settle = async () => {
    await writing;
    writing = undefined;
    if (writeError !== undefined) throw writeError;
  };
  /** Starts writing what is pending, once the previous batch is written (appends stay in order). */
  const flush = async () => {
    lastFlush = performance.now();
    await settle();
    if (pendingBytes === 0) return;
    const chunks = pending;
    pending = [];
    pendingBytes = 0;
    writing = writeAll(chunks).catch((e: unknown) => {
      writeError = e;
    });
  };

  try {
    try {
      report(true);
      for await (const value of response.body) {
        hash.update(value);
        pending.push(value);
        pendingBytes += value.length;
        loaded += value.length;
        if (total !== undefined && loaded > total) break;
        if (pendingBytes >= WRITE_BATCH || performance.now() - lastFlush >= FLUSH_MS) await flush();
        report(false);
      }
      await flush();
      await settle();
    } catch (e) {
      await flush()
        .then(settle)
        .catch(() => {}); // what arrived stays for the next attempt
      rethrowAbort(e, options.signal);
      throw new Interrupted("DOWNLOAD_FAILED", `cannot download ${url}: the connection failed after ${loaded} bytes (${describe(e)})`);
    }
    report(true);
    // No fsync before the rename: it cost as much as the transfer (300 MB locally: 272 against 144 MB/s, npm run
    // bench:pull), and a cache entry can be fetched again; curl and the hub's own clients do not sync either.
  } finally {
    response.cancel();
    await writing; // a failed attempt's batch, before the file closes
    await handle.close();
  }

  if (total !== undefined && loaded < total) {
    throw new Interrupted("DOWNLOAD_FAILED", `cannot download ${url}: the connection ended after ${loaded} of ${total} bytes`);
  }
  if (total !== undefined && loaded > total) {
    await fs.rm(part, { force: true });
    throw new CacheError("SIZE_MISMATCH", `${url}: the server sent more than the ${total} bytes it announced`);
  }
  const sha256 = hash.digest("hex");
  if (expectedSha !== undefined && sha256 !== expectedSha) {
    await fs.rm(part, { force: true });
    throw new CacheError("SHA256_MISMATCH", `${url}: the file's sha256 is ${sha256}, the server announced ${expectedSha}; it was not kept`);
  }
  await fs.rename(part, target);
  return { size: loaded, sha256, verified: expectedSha !== undefined };
}

/** Feeds the bytes already in `path` (a partial file being resumed) to `hash`, a block at a time. */
async function hashFile(path: string, hash: { update(data: Uint8Array): unknown }): Promise<void> {
  const { fs } = await nodeModules();
  const handle = await fs.open(path, "r");
  try {
    const block = new Uint8Array(READ_BLOCK);
    for (;;) {
      const { bytesRead } = await handle.read(block, 0, block.length, null);
      if (bytesRead === 0) break;
      hash.update(block.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
}
