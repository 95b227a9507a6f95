// Checkpoint files (Node): written atomically — bytes to a temporary file beside the target, fsync, rename —
// so that a run killed at any moment (SIGKILL included) leaves either the previous checkpoint or the new
// one, never a torn file.
import { open, readFile, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { type Checkpoint, decodeCheckpoint, encodeCheckpoint } from "./checkpoint.ts";

export async function writeCheckpointFile(path: string, c: Checkpoint): Promise<void> {
  const bytes = encodeCheckpoint(c);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  const handle = await open(tmp, "wx");
  try {
    let done = 0;
    while (done < bytes.length) done += (await handle.write(bytes, done, bytes.length - done)).bytesWritten;
    await handle.sync();
    await handle.close();
    await rename(tmp, path);
  } catch (e) {
    await handle.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
}

export async function readCheckpointFile(path: string): Promise<Checkpoint> {
  return decodeCheckpoint(new Uint8Array(await readFile(path)));
}
