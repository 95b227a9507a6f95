// A lock file for one cache entry, so that two processes pulling the same model do not write the same partial
// file: created with O_EXCL (open "wx"), which only one process can win; it holds the owner's pid and host. A
// lock is stale, and taken over, when its owner on this host is gone (a killed pull) or when its time stamp,
// which the owner refreshes, is older than `staleMs` (an owner on another host that died).
import { AbortError, CacheError } from "../errors.ts";
import { nodeModules } from "./node-modules.ts";

export interface LockOptions {
  /** A lock not refreshed for this long is stale (default 30 s; the owner refreshes it every third of that). */
  staleMs?: number;
  /** Wait for the lock (default), or fail at once with CACHE_LOCKED when another process holds it. */
  wait?: boolean;
  signal?: AbortSignal;
}

const POLL_MS = 100;

/** Takes the lock at `path`; resolves to the function that releases it. */
export async function acquireLock(path: string, options: LockOptions = {}): Promise<() => Promise<void>> {
  const { fs, os, process } = await nodeModules();
  const staleMs = options.staleMs ?? 30_000;
  const owner = JSON.stringify({ pid: process.pid, host: os.hostname() });
  for (;;) {
    try {
      const handle = await fs.open(path, "wx");
      await handle.writeFile(owner);
      await handle.close();
      const heartbeat = setInterval(() => {
        const now = new Date();
        fs.utimes(path, now, now).catch(() => {});
      }, staleMs / 3);
      (heartbeat as { unref?: () => void }).unref?.();
      return async () => {
        clearInterval(heartbeat);
        await fs.rm(path, { force: true });
      };
    } catch (e) {
      if ((e as { code?: string }).code !== "EEXIST") throw e;
    }
    if (await isStale(path, staleMs)) {
      await removeStale(path, staleMs);
      continue;
    }
    if (options.wait === false) throw new CacheError("CACHE_LOCKED", `${path} is held by another process (a pull in progress)`);
    if (options.signal?.aborted) throw new AbortError("waiting for the cache lock was aborted");
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * Removes a stale lock under a second, short-lived lock (`<path>.takeover`, also O_EXCL), judging it stale again
 * while holding that one: two processes that both found the old lock stale would otherwise race, and the second
 * could remove the fresh lock the first had just taken in its place.
 */
async function removeStale(path: string, staleMs: number): Promise<void> {
  const { fs } = await nodeModules();
  const takeover = `${path}.takeover`;
  let handle: Awaited<ReturnType<typeof fs.open>>;
  try {
    handle = await fs.open(takeover, "wx");
  } catch (e) {
    if ((e as { code?: string }).code !== "EEXIST") throw e;
    // Another process is taking over; a takeover left by a process killed in these few lines is itself stale.
    const info = await fs.stat(takeover).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > staleMs) await fs.rm(takeover, { force: true });
    await new Promise((r) => setTimeout(r, POLL_MS));
    return;
  }
  try {
    await handle.close();
    if (await isStale(path, staleMs)) await fs.rm(path, { force: true });
  } finally {
    await fs.rm(takeover, { force: true });
  }
}

async function isStale(path: string, staleMs: number): Promise<boolean> {
  const { fs, os, process } = await nodeModules();
  const info = await fs.stat(path).catch(() => undefined);
  if (!info) return false; // gone already: the next open decides
  if (Date.now() - info.mtimeMs > staleMs) return true;
  let owner: { pid?: number; host?: string };
  try {
    owner = JSON.parse(await fs.readFile(path, "utf8"));
  } catch {
    return false; // being written right now
  }
  if (owner.host !== os.hostname() || typeof owner.pid !== "number" || owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (e) {
    return (e as { code?: string }).code === "ESRCH";
  }
}
