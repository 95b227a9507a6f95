// A ByteSource over an open file handle (Node's FileHandle, which Deno provides too), read at explicit offsets so
// that a multi-gigabyte model is never loaded whole. No import of node:fs here: the caller opens the handle, so
// this module also sits in bundles for browsers (gguf/source-node.ts and engine/model-source.ts use it).
import type { ByteSource } from "./source.ts";

/** The part of node:fs/promises' FileHandle that reading needs. */
export interface ReadableFileHandle {
  read(buffer: Uint8Array, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
  close(): Promise<void>;
}

export interface FileSource extends ByteSource {
  close(): Promise<void>;
}

/** Reads `size` bytes of `handle` by offset; `close()` closes the handle (reads after it reject). */
export function fileHandleSource(handle: ReadableFileHandle, size: number): FileSource {
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
