// Node (and Deno, through its node: compatibility) entry: everything in ./index.ts plus file access.
export * from "./index.ts";
export { openFileSource, type FileSource } from "./runtime/gguf/source-node.ts";
export { writeGgufFile } from "./runtime/gguf/writer-node.ts";
