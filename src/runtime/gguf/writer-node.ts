// Writing a GGUF file to disk atomically (atomic-file-node.ts): a failure (bad input found mid-stream, a full
// disk) leaves any previous file at `path` untouched.
import { writeFileAtomic } from "../atomic-file-node.ts";
import { type GgufLayout, type GgufWriteInput, type GgufWriteOptions, writeGguf } from "./writer.ts";

export async function writeGgufFile(path: string, input: GgufWriteInput, options: GgufWriteOptions = {}): Promise<GgufLayout> {
  return writeFileAtomic(path, (sink) => writeGguf(input, sink, options));
}
