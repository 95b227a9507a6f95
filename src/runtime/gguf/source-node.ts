// A ByteSource over a local file (Node, and Deno through node:fs): reads go through one FileHandle at
// explicit positions, so a multi-gigabyte model is never loaded whole.
import { open } from "node:fs/promises";
import { ModelError } from "../errors.ts";
import { fileHandleSource, type FileSource } from "./file-handle-source.ts";

export type { FileSource } from "./file-handle-source.ts";

/** Opens `path` read-only. Call `close()` when done (reads after close reject). */
export async function openFileSource(path: string): Promise<FileSource> {
  const handle = await open(path, "r");
  let info: Awaited<ReturnType<typeof handle.stat>>;
  try {
    info = await handle.stat();
  } catch (e) {
    await handle.close();
    throw e;
  }
  if (!info.isFile()) {
    await handle.close();
    // Opening a directory succeeds on Linux; only the first read fails, with a bare EISDIR.
    throw new ModelError("MODEL_UNREADABLE", `cannot read ${path}: it is ${info.isDirectory() ? "a directory" : "not a regular file"}`);
  }
  return fileHandleSource(handle, info.size);
}
