// The model cache on Node and Deno: a folder (TERNION_CACHE, else ~/.cache/ternion) with one entry per model
// reference, `models/<hash of the reference>/`, holding the file under its own name and `entry.json` (the
// reference, the URL, size, sha256, when downloaded and last used), written atomically. An entry exists once its
// entry.json does; a pull in progress holds the entry's lock (lock-node.ts) and its partial file.
import { OptionError } from "../errors.ts";
import { type DownloadOptions, downloadFile } from "./download-node.ts";
import { acquireLock } from "./lock-node.ts";
import { nodeModules } from "./node-modules.ts";
import { formatModelReference, type ModelReference, modelUrl, parseModelReference } from "./reference.ts";

export interface CacheEntry {
  /** The canonical reference (formatModelReference), the entry's key. */
  reference: string;
  /** Where it was downloaded from (before redirects). */
  url: string;
  /** The model file in the cache. */
  path: string;
  size: number;
  sha256: string;
  /** Whether the server announced that sha256 and the download matched it. */
  verified: boolean;
  downloadedAt: string;
  lastUsed: string;
}

export interface CacheOptions {
  /** The cache folder (default TERNION_CACHE, else ~/.cache/ternion). */
  cacheDir?: string;
}

export interface PullOptions extends CacheOptions, DownloadOptions {}

export interface PullResult extends CacheEntry {
  /** True when the file was in the cache already (nothing downloaded). */
  cached: boolean;
}

const ENTRY = "entry.json";
const LOCK = ".lock";

/** The cache folder in force. */
export async function cacheDirectory(options: CacheOptions = {}): Promise<string> {
  const { os, path, process } = await nodeModules();
  const fromEnv = process.env.TERNION_CACHE;
  return path.resolve(options.cacheDir ?? (fromEnv ? fromEnv : path.join(os.homedir(), ".cache", "ternion")));
}

function remoteReference(ref: string | ModelReference): Exclude<ModelReference, { kind: "path" }> {
  const parsed = typeof ref === "string" ? parseModelReference(ref) : ref;
  if (parsed.kind === "path") {
    throw new OptionError(
      "BAD_MODEL_REFERENCE",
      `${JSON.stringify(parsed.path)} is a path, not an hf: reference or an http(s) URL: there is nothing to download`,
    );
  }
  return parsed;
}

/** The entry's folder: named by a hash of the canonical reference, so that any reference makes a safe name. */
async function entryFolder(key: string, options: CacheOptions): Promise<string> {
  const { crypto, path } = await nodeModules();
  const id = crypto.createHash("sha256").update(key).digest("hex").slice(0, 20);
  return path.join(await cacheDirectory(options), "models", id);
}

/** The file's name in its entry: the last segment of its path in the repository or URL, made safe. */
function fileName(ref: Exclude<ModelReference, { kind: "path" }>): string {
  const last = ref.kind === "hf" ? ref.file.split("/").at(-1)! : decodeURIComponent(new URL(ref.url).pathname.split("/").at(-1) ?? "");
  const safe = last.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "");
  return safe === "" || safe === ENTRY || safe.endsWith(".part") ? "model.gguf" : safe;
}

async function readEntry(folder: string): Promise<CacheEntry | undefined> {
  const { fs, path } = await nodeModules();
  let entry: CacheEntry;
  try {
    entry = JSON.parse(await fs.readFile(path.join(folder, ENTRY), "utf8")) as CacheEntry;
  } catch {
    return undefined;
  }
  const info = await fs.stat(entry.path).catch(() => undefined);
  return info?.isFile() && info.size === entry.size ? entry : undefined;
}

async function writeEntry(folder: string, entry: CacheEntry): Promise<void> {
  const { fs, path, process } = await nodeModules();
  const tmp = path.join(folder, `.${ENTRY}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  await fs.writeFile(tmp, `${JSON.stringify(entry, null, 2)}\n`, { flag: "wx" });
  await fs.rename(tmp, path.join(folder, ENTRY));
}

async function touch(folder: string, entry: CacheEntry): Promise<CacheEntry> {
  const used = { ...entry, lastUsed: new Date().toISOString() };
  await writeEntry(folder, used).catch(() => {}); // a read-only cache still serves its files
  return used;
}

/** The cached entry for `ref`, without downloading (undefined when it is not cached). */
export async function cachedModel(ref: string | ModelReference, options: CacheOptions = {}): Promise<CacheEntry | undefined> {
  return readEntry(await entryFolder(formatModelReference(remoteReference(ref)), options));
}

/**
 * The model `ref` (hf: or http(s)) in the cache, downloaded first unless it is there. Concurrent pulls of one
 * reference (other processes too) wait for the first and then use its file.
 */
export async function pullModel(ref: string | ModelReference, options: PullOptions = {}): Promise<PullResult> {
  const { fs, path } = await nodeModules();
  const remote = remoteReference(ref);
  const reference = formatModelReference(remote);
  const url = modelUrl(remote, options.hub);
  const folder = await entryFolder(reference, options);
  const existing = await readEntry(folder);
  if (existing) return { ...(await touch(folder, existing)), cached: true };

  await fs.mkdir(folder, { recursive: true });
  const release = await acquireLock(path.join(folder, LOCK), { signal: options.signal });
  try {
    const done = await readEntry(folder); // another process may have finished it while this one waited
    if (done) return { ...(await touch(folder, done)), cached: true };
    const file = path.join(folder, fileName(remote));
    const result = await downloadFile(url, file, options);
    const now = new Date().toISOString();
    const entry: CacheEntry = {
      reference,
      url,
      path: file,
      size: result.size,
      sha256: result.sha256,
      verified: result.verified,
      downloadedAt: now,
      lastUsed: now,
    };
    await writeEntry(folder, entry);
    return { ...entry, cached: false };
  } finally {
    await release();
  }
}

/** Every complete entry in the cache, by reference. */
export async function listCachedModels(options: CacheOptions = {}): Promise<CacheEntry[]> {
  const { fs, path } = await nodeModules();
  const models = path.join(await cacheDirectory(options), "models");
  const names = await fs.readdir(models).catch(() => [] as string[]);
  const entries = await Promise.all(names.map((name) => readEntry(path.join(models, name))));
  return entries.filter((e): e is CacheEntry => e !== undefined).sort((a, b) => a.reference.localeCompare(b.reference));
}

/**
 * Removes `ref`'s entry (file, partial file, metadata). False when nothing was cached for it; a CacheError
 * CACHE_LOCKED while another process is pulling it.
 */
export async function removeCachedModel(ref: string | ModelReference, options: CacheOptions = {}): Promise<boolean> {
  const { fs, path } = await nodeModules();
  const folder = await entryFolder(formatModelReference(remoteReference(ref)), options);
  if (!(await fs.stat(folder).catch(() => undefined))) return false;
  const release = await acquireLock(path.join(folder, LOCK), { wait: false });
  try {
    const had = (await readEntry(folder)) !== undefined || (await fs.readdir(folder)).some((n) => n.endsWith(".part"));
    // entry.json first, so that the folder stops being an entry at once, whatever happens to the rest.
    await fs.rm(path.join(folder, ENTRY), { force: true });
    for (const name of await fs.readdir(folder)) if (name !== LOCK) await fs.rm(path.join(folder, name), { recursive: true, force: true });
    return had;
  } finally {
    await release();
    await fs.rmdir(folder).catch(() => {});
  }
}
