// Writing a file atomically (Node): the bytes go to a temporary file beside the target, which is synced and then
// renamed over the target only once complete. A failure (bad input found mid-stream, a full disk, a kill)
// removes the temporary file or leaves it aside, and any previous file at `path` is untouched.
import { open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/** Receives the file's bytes in order, as many chunks as the producer likes. */
export type ChunkSink = (chunk: Uint8Array) => Promise<void>;

/** Runs `produce` with a sink into a temporary file, then renames it to `path`; returns what `produce` returns. */
export async function writeFileAtomic<T>(path: string, produce: (sink: ChunkSink) => Promise<T>): Promise<T> {
  // Same directory as the target, so that the rename stays on one file system and is atomic.
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.tmp`);
  const handle = await open(tmp, "wx");
  try {
    const result = await produce(async (chunk) => {
      let done = 0;
      while (done < chunk.length) done += (await handle.write(chunk, done, chunk.length - done)).bytesWritten;
    });
    await handle.sync();
    await handle.close();
    await rename(tmp, path);
    return result;
  } catch (e) {
    await handle.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
}
