// The browser's model cache: a model named by an `hf:` or http(s) reference (reference.ts) is downloaded once into
// the Origin Private File System, or into the Cache API where OPFS is missing, and later loads read it from there
// as a Blob (a File backed by the disk, so models over 2 GB load, and no request goes out). Bytes are written as
// they arrive (a sync access handle in a worker, a writable stream elsewhere), never gathered in one buffer;
// sha256 is computed on the way (sha256.ts) and checked against the server's ETag when that is a sha256, as the
// hub's is. Before a download navigator.storage.estimate() is checked against the announced size, and a full
// disk is CacheError QUOTA_EXCEEDED with no file left behind. In a worker a download interrupted (a reload, a
// dropped connection) resumes with Range from the bytes already written; elsewhere an unfinished write is
// discarded by the browser, so there is nothing to resume.
//
// OPFS layout, in the folder `ternion-models`: `<id>.gguf` the bytes, `<id>.json` the entry (written last: a
// model is cached once its entry exists), `<id>.part.json` what a partial download was fetching (to resume it
// only from the same file). `<id>` is the sha256 of the canonical reference. The Cache API keeps the same entry
// under `<base>/<id>.json` and the bytes under `<base>/<id>.gguf`.
import { AbortError, CacheError, OptionError } from "../errors.ts";
import { announcedSha256, announcedSize } from "./announced.ts";
import { formatModelReference, hubHeaders, modelUrl, parseModelReference, type HubOptions } from "./reference.ts";
import { Sha256 } from "./sha256.ts";
import type { DownloadProgress } from "./progress.ts";

/** One cached model, as `listBrowserCachedModels` reports it. */
export interface CachedModel {
  /** The canonical reference (`hf:owner/repo/file@revision` or the URL): the cache's key. */
  reference: string;
  /** Where it was downloaded from. */
  url: string;
  size: number;
  /** The verified sha256, where the server gave one. */
  sha256?: string;
  /** Milliseconds since the epoch. */
  downloadedAt: number;
  lastUsed: number;
  storage: "opfs" | "cache-api";
}

export type { DownloadProgress };

export interface BrowserCacheOptions extends HubOptions {
  onProgress?: (progress: DownloadProgress) => void;
  signal?: AbortSignal;
  /** Default: OPFS where the browser has it, else the Cache API. */
  storage?: "opfs" | "cache-api";
}

const FOLDER = "ternion-models";
const CACHE_NAME = "ternion-models";
/** The Cache API wants http(s) request URLs as keys: these never reach a network. */
const CACHE_KEY_BASE = "https://ternion-model-cache.invalid/";
/** A sync access handle's writes are flushed to disk every this many bytes (what a resume can count on). */
const FLUSH_EVERY = 64 * 2 ** 20;

// The parts of the File System and Storage APIs used here, typed structurally so that the package's declarations
// compile without the DOM's types.
interface SyncAccessHandle {
  read(buffer: Uint8Array, options: { at: number }): number;
  write(buffer: Uint8Array, options: { at: number }): number;
  truncate(size: number): void;
  getSize(): number;
  flush(): void;
  close(): void;
}
interface WritableFileStream {
  write(data: Uint8Array): Promise<void>;
  close(): Promise<void>;
  abort(): Promise<void>;
}
interface FileHandle {
  kind: "file";
  getFile(): Promise<File>;
  createWritable?(options?: { keepExistingData?: boolean }): Promise<WritableFileStream>;
  createSyncAccessHandle?(): Promise<SyncAccessHandle>;
}
interface DirectoryHandle {
  getFileHandle(name: string, options?: { create?: boolean }): Promise<FileHandle>;
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<DirectoryHandle>;
  removeEntry(name: string): Promise<void>;
  keys(): AsyncIterable<string>;
}
interface StorageManagerLike {
  getDirectory?(): Promise<DirectoryHandle>;
  estimate?(): Promise<{ usage?: number; quota?: number }>;
  persist?(): Promise<boolean>;
  persisted?(): Promise<boolean>;
}
interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

function storageManager(): StorageManagerLike | undefined {
  return (globalThis as { navigator?: { storage?: StorageManagerLike } }).navigator?.storage;
}

function cacheStorage(): CacheStorage | undefined {
  return (globalThis as { caches?: CacheStorage }).caches;
}

/** Whether this context has a persistent place for models (OPFS or the Cache API). */
export function browserCacheAvailable(): boolean {
  return typeof storageManager()?.getDirectory === "function" || cacheStorage() !== undefined;
}

function whichStorage(options: { storage?: "opfs" | "cache-api" }): "opfs" | "cache-api" {
  const opfs = typeof storageManager()?.getDirectory === "function";
  const wanted = options.storage ?? (opfs ? "opfs" : "cache-api");
  if (wanted === "opfs" && !opfs) throw new CacheError("NO_STORAGE", "this browser has no Origin Private File System");
  if (wanted === "cache-api" && cacheStorage() === undefined) throw new CacheError("NO_STORAGE", "this context has neither OPFS nor the Cache API");
  return wanted;
}

/** The canonical reference of a model that can be cached (hf: or http(s)); OptionError for a path. */
function cacheKey(reference: string): { key: string; url: (o: HubOptions) => string; file: string } {
  const ref = parseModelReference(reference);
  if (ref.kind === "path")
    throw new OptionError("BAD_MODEL_REFERENCE", `only hf: and http(s) models are cached, not the path ${JSON.stringify(reference)}`);
  const key = formatModelReference(ref);
  const path = ref.kind === "hf" ? ref.file : new URL(ref.url).pathname;
  return { key, url: (o) => modelUrl(ref, o), file: path.slice(path.lastIndexOf("/") + 1) || key };
}

const entryId = (key: string) => new Sha256().update(new TextEncoder().encode(key)).hex().slice(0, 32);

/**
 * The model `reference` names, from the cache, downloading it first if it is not there. Concurrent callers
 * (two tabs) for one model wait for each other (Web Locks) instead of writing one file twice.
 */
export async function openBrowserCachedModel(reference: string, options: BrowserCacheOptions = {}): Promise<Blob> {
  const target = cacheKey(reference);
  const storage = whichStorage(options);
  const id = entryId(target.key);
  const locks = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator?.locks;
  const run = () => (storage === "opfs" ? openOpfs(target, id, options) : openCacheApi(target, id, options));
  return locks ? locks.request(`ternion-model:${id}`, run) : run();
}

/** Every model in the cache (both storages), the most recently used first. */
export async function listBrowserCachedModels(): Promise<CachedModel[]> {
  const found: CachedModel[] = [];
  const dir = await opfsFolder(false);
  if (dir) {
    for await (const name of dir.keys()) {
      if (!name.endsWith(".json") || name.endsWith(".part.json")) continue;
      const entry = await readJson<CachedModel>(dir, name);
      if (entry) found.push({ ...entry, storage: "opfs" });
    }
  }
  const caches = cacheStorage();
  if (caches && (await caches.has(CACHE_NAME))) {
    const cache = await caches.open(CACHE_NAME);
    for (const request of await cache.keys()) {
      if (!request.url.endsWith(".json")) continue;
      const entry = (await (await cache.match(request))?.json()) as CachedModel | undefined;
      if (entry) found.push({ ...entry, storage: "cache-api" });
    }
  }
  return found.sort((a, b) => b.lastUsed - a.lastUsed);
}

/** Removes a model (and any partial download of it) from the cache; false if it was not there. */
export async function deleteBrowserCachedModel(reference: string): Promise<boolean> {
  const id = entryId(cacheKey(reference).key);
  let removed = false;
  const dir = await opfsFolder(false);
  if (dir) for (const name of [`${id}.json`, `${id}.gguf`, `${id}.part.json`]) removed = (await removeIfThere(dir, name)) || removed;
  const caches = cacheStorage();
  if (caches && (await caches.has(CACHE_NAME))) {
    const cache = await caches.open(CACHE_NAME);
    for (const suffix of [".json", ".gguf"]) removed = (await cache.delete(CACHE_KEY_BASE + id + suffix)) || removed;
  }
  return removed;
}

// ---- OPFS ----

async function opfsFolder(create: boolean): Promise<DirectoryHandle | undefined> {
  const root = await storageManager()?.getDirectory?.();
  if (!root) return undefined;
  try {
    return await root.getDirectoryHandle(FOLDER, { create });
  } catch (e) {
    if ((e as Error).name === "NotFoundError") return undefined;
    throw e;
  }
}

async function fileIfThere(dir: DirectoryHandle, name: string): Promise<FileHandle | undefined> {
  try {
    return await dir.getFileHandle(name);
  } catch (e) {
    if ((e as Error).name === "NotFoundError" || (e as Error).name === "TypeMismatchError") return undefined;
    throw e;
  }
}

async function removeIfThere(dir: DirectoryHandle, name: string): Promise<boolean> {
  try {
    await dir.removeEntry(name);
    return true;
  } catch (e) {
    if ((e as Error).name === "NotFoundError") return false;
    throw e;
  }
}

async function readJson<T>(dir: DirectoryHandle, name: string): Promise<T | undefined> {
  const handle = await fileIfThere(dir, name);
  if (!handle) return undefined;
  try {
    return JSON.parse(await (await handle.getFile()).text()) as T;
  } catch {
    return undefined; // an entry cut short: the model counts as not cached
  }
}

/** Replaces a small file's content (a writable stream commits it whole; a sync handle rewrites it). */
async function writeText(dir: DirectoryHandle, name: string, text: string): Promise<void> {
  const handle = await dir.getFileHandle(name, { create: true });
  const bytes = new TextEncoder().encode(text);
  if (handle.createWritable) {
    const w = await handle.createWritable();
    await w.write(bytes);
    await w.close();
    return;
  }
  const sync = await handle.createSyncAccessHandle!();
  try {
    sync.truncate(0);
    sync.write(bytes, { at: 0 });
    sync.flush();
  } finally {
    sync.close();
  }
}

interface PartialDownload {
  url: string;
  etag: string;
  size: number;
}

async function openOpfs(target: ReturnType<typeof cacheKey>, id: string, options: BrowserCacheOptions): Promise<Blob> {
  const dir = (await opfsFolder(true))!;
  const entry = await readJson<CachedModel>(dir, `${id}.json`);
  const data = await fileIfThere(dir, `${id}.gguf`);
  if (entry && data) {
    const file = await data.getFile();
    if (file.size === entry.size) {
      await writeText(dir, `${id}.json`, JSON.stringify({ ...entry, lastUsed: Date.now() }));
      return file;
    }
  }
  await removeIfThere(dir, `${id}.json`);
  return downloadOpfs(dir, target, id, options);
}

async function downloadOpfs(dir: DirectoryHandle, target: ReturnType<typeof cacheKey>, id: string, options: BrowserCacheOptions): Promise<Blob> {
  const url = target.url(options);
  const dataName = `${id}.gguf`;
  const partName = `${id}.part.json`;
  // Only a sync access handle (dedicated workers) writes in place, so only there can a partial download resume.
  const inPlace =
    typeof (globalThis as { FileSystemFileHandle?: { prototype: FileHandle } }).FileSystemFileHandle?.prototype.createSyncAccessHandle === "function";
  const partial = inPlace ? await readJson<PartialDownload>(dir, partName) : undefined;
  const existing = await fileIfThere(dir, dataName);
  let have = partial && existing && partial.url === url ? (await existing.getFile()).size : 0;
  if (have >= (partial?.size ?? 0)) have = 0;
  const removeAll = async () => {
    await removeIfThere(dir, partName);
    await removeIfThere(dir, dataName);
  };
  let response: Download;
  try {
    response = await request(url, options, have);
  } catch (e) {
    if (have === 0) await removeAll(); // nothing worth keeping for a resume
    throw e;
  }
  const resumed = have > 0 && response.status === 206 && response.total === partial!.size && response.etag === partial!.etag;
  if (!resumed && response.status === 206) {
    // The file changed on the server since the partial download: start again, from byte 0.
    await response.body.cancel();
    response = await request(url, options, 0);
  }
  if (!resumed) have = 0;
  let handle = await dir.getFileHandle(dataName, { create: true });
  try {
    await checkQuota(response.total - have, target.file, () => response.body.cancel());
  } catch (e) {
    await removeAll();
    throw e;
  }
  await requestPersistentStorage();
  const hash = new Sha256();
  const progress = progressReporter(target.file, response.total, have, options.onProgress);
  try {
    if (inPlace) {
      await writeText(dir, partName, JSON.stringify({ url, etag: response.etag, size: response.total } satisfies PartialDownload));
      handle = await dir.getFileHandle(dataName);
      const sync = await handle.createSyncAccessHandle!();
      try {
        if (resumed) hashExisting(sync, have, hash);
        else sync.truncate(0);
        let at = have;
        let flushed = at;
        await eachChunk(response.body, options.signal, (chunk) => {
          // A full disk shows as a short write (Chromium) or a QuotaExceededError.
          if (sync.write(chunk, { at }) !== chunk.length)
            throw new CacheError(
              "QUOTA_EXCEEDED",
              `${target.file} does not fit in the browser's storage for this site (a write stopped at byte ${at})`,
            );
          hash.update(chunk);
          at += chunk.length;
          if (at - flushed >= FLUSH_EVERY) {
            sync.flush();
            flushed = at;
          }
          progress(at);
        });
        sync.flush();
      } finally {
        sync.close();
      }
    } else {
      const writable = await handle.createWritable!();
      let at = 0;
      try {
        await eachChunk(response.body, options.signal, async (chunk) => {
          await writable.write(chunk);
          hash.update(chunk);
          at += chunk.length;
          progress(at);
        });
      } catch (e) {
        await writable.abort().catch(() => {});
        throw e;
      }
      await writable.close();
    }
  } catch (e) {
    const error = asCacheError(e, target.file);
    // A full disk leaves nothing; any other interruption leaves the partial file for a resume (workers only).
    if (!inPlace || (error instanceof CacheError && error.code === "QUOTA_EXCEEDED")) await removeAll();
    throw error;
  }
  const file = await handle.getFile();
  try {
    verify(file.size, hash, response, target.file);
  } catch (e) {
    await removeAll();
    throw e;
  }
  const now = Date.now();
  const entry: CachedModel = { reference: target.key, url, size: file.size, downloadedAt: now, lastUsed: now, storage: "opfs" };
  if (response.sha256) entry.sha256 = response.sha256;
  await writeText(dir, `${id}.json`, JSON.stringify(entry));
  await removeIfThere(dir, partName);
  return file;
}

/** Feeds the bytes already on disk to the hash, so that a resumed download is still verified whole. */
function hashExisting(sync: SyncAccessHandle, length: number, hash: Sha256): void {
  const buffer = new Uint8Array(Math.min(length, 4 * 2 ** 20));
  for (let at = 0; at < length; ) {
    const n = sync.read(buffer.subarray(0, Math.min(buffer.length, length - at)), { at });
    if (n <= 0) throw new CacheError("SIZE_MISMATCH", `the partial download is shorter than the ${length} bytes it recorded`);
    hash.update(buffer.subarray(0, n));
    at += n;
  }
}

// ---- Cache API ----

async function openCacheApi(target: ReturnType<typeof cacheKey>, id: string, options: BrowserCacheOptions): Promise<Blob> {
  const cache = await cacheStorage()!.open(CACHE_NAME);
  const entryKey = CACHE_KEY_BASE + id + ".json";
  const dataKey = CACHE_KEY_BASE + id + ".gguf";
  const entry = (await (await cache.match(entryKey))?.json()) as CachedModel | undefined;
  const cached = entry ? await cache.match(dataKey) : undefined;
  if (entry && cached) {
    await cache.put(entryKey, jsonResponse({ ...entry, lastUsed: Date.now() }));
    return cached.blob();
  }
  const url = target.url(options);
  const response = await request(url, options, 0);
  await checkQuota(response.total, target.file, () => response.body.cancel());
  await requestPersistentStorage();
  const hash = new Sha256();
  const progress = progressReporter(target.file, response.total, 0, options.onProgress);
  let size = 0;
  const counted = response.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (options.signal?.aborted) throw new AbortError("the download was aborted");
        hash.update(chunk);
        size += chunk.length;
        progress(size);
        controller.enqueue(chunk);
      },
    }),
  );
  try {
    await cache.put(dataKey, new Response(counted, { headers: { "content-type": "application/octet-stream" } }));
    verify(size, hash, response, target.file);
  } catch (e) {
    await cache.delete(dataKey);
    throw asCacheError(e, target.file);
  }
  const now = Date.now();
  const made: CachedModel = { reference: target.key, url, size, downloadedAt: now, lastUsed: now, storage: "cache-api" };
  if (response.sha256) made.sha256 = response.sha256;
  await cache.put(entryKey, jsonResponse(made));
  return await (await cache.match(dataKey))!.blob();
}

const jsonResponse = (value: unknown) => new Response(JSON.stringify(value), { headers: { "content-type": "application/json" } });

// ---- the download ----

interface Download {
  status: number;
  body: ReadableStream<Uint8Array>;
  /** The whole file's size (of a 206: Content-Range's total), 0 if the server did not say. */
  total: number;
  etag: string;
  /** The file's sha256, where the server's ETag (or X-Linked-Etag) is one. */
  sha256: string | undefined;
}

/** GET `url` (from byte `from`, with Range, when resuming); redirects followed; typed errors for refusals. */
async function request(url: string, options: BrowserCacheOptions, from: number): Promise<Download> {
  if (options.signal?.aborted) throw new AbortError("the download was aborted");
  const headers: Record<string, string> = { ...hubHeaders(url, options) };
  if (from > 0) headers.range = `bytes=${from}-`;
  let response: Response;
  try {
    // no-store: the model is kept in OPFS or the Cache API; a second copy in the HTTP cache would only take space.
    response = await fetch(url, { headers, cache: "no-store", signal: options.signal ?? null });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw new AbortError("the download was aborted");
    throw new CacheError("DOWNLOAD_FAILED", `cannot download ${url}: ${(e as Error).message}`);
  }
  if (!response.ok || !response.body) {
    await response.body?.cancel();
    const why = `${response.status} ${response.statusText}`.trim();
    if (response.status === 404) throw new CacheError("NOT_FOUND", `${url} is not there (${why})`);
    if (response.status === 401 || response.status === 403)
      throw new CacheError("UNAUTHORIZED", `${url} refused the request (${why}): a gated or private model needs a token (hub options' token)`);
    throw new CacheError("DOWNLOAD_FAILED", `cannot download ${url}: ${why}`);
  }
  const length = Number(response.headers.get("content-length") ?? Number.NaN);
  const range = /\/(\d+)$/.exec(response.headers.get("content-range") ?? "");
  const header = (name: string) => response.headers.get(name);
  const total = response.status === 206 && range ? Number(range[1]) : Number.isFinite(length) ? length : (announcedSize(header) ?? 0);
  const etag = (response.headers.get("etag") ?? "").replace(/^W\//, "").replace(/"/g, "");
  const sha256 = announcedSha256(header);
  return { status: response.status, body: response.body, total, etag, sha256 };
}

/** CacheError QUOTA_EXCEEDED before a byte is written when the storage estimate leaves less than `bytes`. */
async function checkQuota(bytes: number, file: string, cancel: () => Promise<void>): Promise<void> {
  const estimate = await storageManager()?.estimate?.();
  if (!estimate || estimate.quota === undefined || bytes <= 0) return;
  const free = estimate.quota - (estimate.usage ?? 0);
  if (free >= bytes) return;
  await cancel().catch(() => {});
  throw new CacheError("QUOTA_EXCEEDED", `${file} needs ${mib(bytes)} but the browser's storage has ${mib(Math.max(0, free))} left for this site`);
}

/**
 * Asks that this site's storage, and so the model cache, survive storage pressure, unless it already does
 * (navigator.storage.persist: window contexts only; the browser may say no).
 */
export async function requestPersistentStorage(): Promise<void> {
  const storage = storageManager();
  if (!storage?.persist || (await storage.persisted?.())) return;
  await storage.persist().catch(() => false);
}

function verify(size: number, hash: Sha256, response: Download, file: string): void {
  if (response.total > 0 && size !== response.total)
    throw new CacheError("SIZE_MISMATCH", `${file}: the server announced ${response.total} bytes but sent ${size}`);
  if (response.sha256 === undefined) return;
  const got = hash.hex();
  if (got !== response.sha256) throw new CacheError("SHA256_MISMATCH", `${file}: sha256 ${got} differs from the server's ${response.sha256}`);
}

/** A storage error as CacheError (QUOTA_EXCEEDED for a full disk); typed errors pass unchanged. */
function asCacheError(e: unknown, file: string): Error {
  if (e instanceof CacheError || e instanceof AbortError) return e;
  const name = (e as Error).name;
  if (name === "QuotaExceededError")
    return new CacheError("QUOTA_EXCEEDED", `${file} does not fit in the browser's storage for this site: ${(e as Error).message}`);
  if (name === "AbortError") return new AbortError("the download was aborted");
  return new CacheError("DOWNLOAD_FAILED", `downloading ${file} failed: ${(e as Error).message ?? String(e)}`);
}

async function eachChunk(
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal | undefined,
  use: (chunk: Uint8Array) => void | Promise<void>,
): Promise<void> {
  const reader = body.getReader();
  try {
    for (;;) {
      if (signal?.aborted) throw new AbortError("the download was aborted");
      const { done, value } = await reader.read();
      if (done) return;
      await use(value);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** Reports progress at most every 100 ms (and at the end), with the pace since this download started. */
function progressReporter(file: string, total: number, start: number, onProgress: BrowserCacheOptions["onProgress"]): (loaded: number) => void {
  const began = performance.now();
  let last = 0;
  return (loaded) => {
    const now = performance.now();
    if (!onProgress || (now - last < 100 && loaded !== total)) return;
    last = now;
    const seconds = (now - began) / 1000;
    const bytesPerSecond = seconds > 0 ? (loaded - start) / seconds : 0;
    const etaSeconds = bytesPerSecond > 0 && total > 0 ? (total - loaded) / bytesPerSecond : undefined;
    onProgress({ file, loaded, total, bytesPerSecond, etaSeconds });
  };
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
