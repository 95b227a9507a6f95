// The engine's `model` option as a ByteSource: a path (Node, Deno), a URL, a Blob/File, bytes, or a ByteSource
// as it is. Paths go through node:fs, imported by a name bundlers leave alone, so that this file also runs in
// browser bundles (where a string is a URL). An `hf:` reference or http(s) URL is kept in a model cache:
// on Node and Deno the cache folder (runtime/hub/cache-node.ts, which imports its node: modules the same way), in
// a browser OPFS or the Cache API (runtime/hub/cache-browser.ts); downloaded on first use, read from the disk
// afterwards; `cache: false` reads it from the server by ranges instead. `openModel` also reads the header and,
// for the first part of a split model, opens the other parts by name. `tracked` wraps a source to report read
// progress (distinct bytes) and to stop a load at once when its signal fires.
import { fileHandleSource } from "../runtime/gguf/file-handle-source.ts";
import { AbortError, ModelError, OptionError } from "../runtime/errors.ts";
import type { ByteSource } from "../runtime/gguf/source.ts";
import { blobSource, bytesSource, urlSource } from "../runtime/gguf/sources.ts";
import { browserCacheAvailable, openBrowserCachedModel } from "../runtime/hub/cache-browser.ts";
import { pullModel } from "../runtime/hub/cache-node.ts";
import type { DownloadProgress } from "../runtime/hub/progress.ts";
import { hubHeaders, type HubOptions, modelUrl, parseModelReference } from "../runtime/hub/reference.ts";
import { openGgufModel } from "../runtime/gguf/split.ts";
import type { GgufHeader } from "../runtime/gguf/types.ts";
import type { ModelInput } from "./engine.ts";
import { ReadCoverage } from "./read-coverage.ts";

/** How a model named by a reference is fetched (EngineOptions' hub, cache and cacheDir). */
export interface ModelSourceOptions {
  hub?: HubOptions;
  /** false: no cache (an http(s) or hf: model is read by ranges from the server). */
  cache?: boolean;
  /** The Node/Deno cache's folder. */
  cacheDir?: string;
  signal?: AbortSignal;
  onDownload?: (progress: DownloadProgress) => void;
}

/** Node and Deno (which serves node: modules) can open paths. */
export function canOpenPaths(): boolean {
  const g = globalThis as { process?: { versions?: { node?: string } }; Deno?: unknown };
  return typeof g.process?.versions?.node === "string" || g.Deno !== undefined;
}

function isByteSource(x: unknown): x is ByteSource {
  return typeof x === "object" && x !== null && typeof (x as ByteSource).read === "function" && typeof (x as ByteSource).size === "number";
}

/** Opens the model. Close it (when it has `close`) once the model is loaded. */
export async function openModelSource(model: ModelInput | ByteSource, options: ModelSourceOptions = {}): Promise<ByteSource> {
  if (isByteSource(model)) return model;
  const cached = await fromBrowserCache(model, options);
  if (cached) return cached;
  if (model instanceof Uint8Array) return bytesSource(model);
  if (model instanceof ArrayBuffer) return bytesSource(new Uint8Array(model));
  if (typeof Blob !== "undefined" && model instanceof Blob) return blobSource(model);
  if (model instanceof URL) return model.protocol === "file:" ? openPath(model) : urlSource(model);
  if (typeof model === "string") {
    if (/^(https?|hf):/i.test(model)) return openReference(model, options);
    if (/^(blob|data):/i.test(model)) return urlSource(model);
    if (/^file:/i.test(model)) return openPath(new URL(model));
    if (canOpenPaths()) return openPath(model);
    const base = (globalThis as { location?: { href?: string } }).location?.href;
    return urlSource(base ? new URL(model, base) : model);
  }
  throw new OptionError("BAD_OPTION", "model must be a path, a URL, a Blob/File, bytes (Uint8Array/ArrayBuffer) or a ByteSource");
}

/** In a browser with OPFS or the Cache API, an `hf:` or http(s) model as a Blob from the cache; else undefined. */
async function fromBrowserCache(model: ModelInput, options: ModelSourceOptions): Promise<ByteSource | undefined> {
  if (options.cache === false || canOpenPaths() || !browserCacheAvailable()) return undefined;
  if (!(typeof model === "string" || model instanceof URL)) return undefined;
  let reference = String(model);
  if (!/^(hf|https?):/i.test(reference)) {
    const base = (globalThis as { location?: { href?: string } }).location?.href;
    if (!base || /^(blob|data|file):/i.test(reference)) return undefined;
    reference = new URL(reference, base).href;
    if (!/^https?:/i.test(reference)) return undefined;
  }
  const blob = await openBrowserCachedModel(reference, { ...options.hub, onProgress: options.onDownload, signal: options.signal });
  return blobSource(blob);
}

/** An hf: reference or http(s) URL: the cached file on Node/Deno, else (or with cache: false) Range reads. */
async function openReference(model: string, options: ModelSourceOptions): Promise<ByteSource> {
  const ref = parseModelReference(model);
  if (ref.kind === "path") return openPath(ref.path);
  if (canOpenPaths() && options.cache !== false) {
    const entry = await pullModel(ref, { hub: options.hub, cacheDir: options.cacheDir, signal: options.signal, onProgress: options.onDownload });
    return openPath(entry.path);
  }
  const url = modelUrl(ref, options.hub);
  return urlSource(url, { headers: hubHeaders(url, options.hub) });
}

export interface OpenedModel {
  /** The model's bytes: its file, or a split model's parts end to end (gguf/split.ts). */
  source: ByteSource;
  header: GgufHeader;
  /** Closes what was opened here (never a ByteSource the caller passed). */
  close(): Promise<void>;
}

/**
 * Opens the model and reads its header. The first part of a split model (`…-00001-of-00003.gguf`, by path or
 * URL) opens the others, found by name: one source, one header. A part missing or not belonging to the model
 * is a ModelError (SPLIT_PART_MISSING, SPLIT_PART_MISMATCH) naming the part.
 */
export async function openModel(model: ModelInput | ByteSource, options: ModelSourceOptions = {}): Promise<OpenedModel> {
  const first = await openModelSource(model, options);
  const closeFirst = async () => {
    if (first !== model) await first.close?.();
  };
  try {
    const opened = await openGgufModel(first, modelName(model), (part) => openModelSource(part, options));
    if (opened.source === first) return { ...opened, close: closeFirst };
    return { ...opened, close: async () => opened.source.close?.() };
  } catch (e) {
    await closeFirst();
    throw e;
  }
}

/** The model's path or URL as text, when it has one. */
function modelName(model: ModelInput | ByteSource): string | undefined {
  if (model instanceof URL) return model.href;
  return typeof model === "string" ? model : undefined;
}

/** A file read by offset through one handle (as gguf/source-node.ts, without importing node:fs statically). */
async function openPath(path: string | URL): Promise<ByteSource> {
  if (!canOpenPaths()) throw new OptionError("BAD_OPTION", `cannot open the path ${String(path)} here: pass a URL, a Blob or bytes`);
  const fsName = "node:fs/promises";
  const fs = (await import(/* @vite-ignore */ fsName)) as typeof import("node:fs/promises");
  let handle: Awaited<ReturnType<typeof fs.open>>;
  try {
    handle = await fs.open(path, "r");
  } catch (e) {
    // A file-system refusal is the input's fault; anything else is a bug and stays what it is.
    const code = (e as { code?: unknown }).code;
    if (typeof code !== "string" || !("syscall" in (e as object))) throw e;
    throw new ModelError(
      code === "ENOENT" ? "MODEL_NOT_FOUND" : "MODEL_UNREADABLE",
      `cannot open the model ${String(path)}: ${(e as Error).message}`,
    );
  }
  const info = await handle.stat();
  if (!info.isFile()) {
    await handle.close();
    throw new ModelError(
      "MODEL_UNREADABLE",
      `cannot open the model ${String(path)}: it is ${info.isDirectory() ? "a directory" : "not a regular file"}`,
    );
  }
  return fileHandleSource(handle, info.size);
}

/**
 * `source` reporting the distinct bytes read so far (of its size) each time that number grows, never twice
 * the same, and throwing AbortError at the next read once `signal` fires.
 */
export function tracked(
  source: ByteSource,
  onRead: ((loaded: number, total: number) => void) | undefined,
  signal: AbortSignal | undefined,
): ByteSource {
  const coverage = new ReadCoverage();
  return {
    size: source.size,
    async read(offset, length) {
      if (signal?.aborted) throw new AbortError("the model load was aborted");
      const bytes = await source.read(offset, length);
      if (coverage.add(offset, offset + bytes.length)) onRead?.(coverage.covered, source.size);
      return bytes;
    },
  };
}
