// Public API shared by every platform (browser, Deno, Node). Platform-specific additions live in ./node.ts.
export * from "./runtime/errors.ts";
export * from "./runtime/gguf/types.ts";
export type { ByteSource } from "./runtime/gguf/source.ts";
export * from "./runtime/tensor-types/table.ts";
