// Node (and Deno, through its node: compatibility) entry: everything in ./index.ts plus reading a local file.
export * from "./index.ts";
export { openFileSource, type FileSource } from "./runtime/gguf/source-node.ts";
