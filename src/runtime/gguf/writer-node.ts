// Writing a GGUF file to disk atomically: the bytes go to a temporary file beside the target, which is
// renamed over the target only once complete and synced. A failure (bad input found mid-stream, a full disk)
// removes the temporary file and leaves any previous file at `path` untouched.
import { open, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { type GgufLayout, type GgufWriteInput, type GgufWriteOptions, writeGguf } from "./writer.ts";

export async function writeGgufFile(
  path: string,
  input: GgufWriteInput,
  options: GgufWriteOptions = {},
): Promise<GgufLayout> {
  // Same directory as the target, so that the rename stays on one file system and is atomic.
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.tmp`);
  const handle = await open(tmp, "wx");
  try {
    const layout = await writeGguf(
      input,
      async (chunk) => {
        let done = 0;
        while (done < chunk.length) {
          const { bytesWritten } = await handle.write(chunk, done, chunk.length - done);
          done += bytesWritten;
        }
      },
      options,
    );
    await handle.sync();
    await handle.close();
    await rename(tmp, path);
    return layout;
  } catch (e) {
    await handle.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
}
