// A ByteSource over a local file (Node, and Deno through node:fs): reads go through one FileHandle at
// explicit positions, so a multi-gigabyte model is never loaded whole.
import { open } from "node:fs/promises";
import { fileHandleSource, type FileSource } from "./file-handle-source.ts";

export type { FileSource } from "./file-handle-source.ts";

/** Opens `path` read-only. Call `close()` when done (reads after close reject). */
export async function openFileSource(path: string): Promise<FileSource> {
  const handle = await open(path, "r");
  let size: number;
  try {
    size = (await handle.stat()).size;
  } catch (e) {
    await handle.close();
    throw e;
  }
  return fileHandleSource(handle, size);
}
