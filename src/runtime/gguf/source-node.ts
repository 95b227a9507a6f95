// A ByteSource over a local file (Node, and Deno through node:fs): reads go through one FileHandle at
// explicit positions, so a multi-gigabyte model is never loaded whole.
import { open } from "node:fs/promises";
import type { ByteSource } from "./source.ts";

export interface FileSource extends ByteSource {
  close(): Promise<void>;
}

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
  return {
    size,
    async read(offset, length) {
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
        throw new RangeError(`bad read request: offset ${offset}, length ${length}`);
      }
      const n = Math.max(0, Math.min(length, size - offset));
      const out = new Uint8Array(n);
      // One read may return fewer bytes than asked (large reads, pipes): loop until full or end of file.
      let done = 0;
      while (done < n) {
        const { bytesRead } = await handle.read(out, done, n - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done === n ? out : out.subarray(0, done);
    },
    close: () => handle.close(),
  };
}
