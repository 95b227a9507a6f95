// Public API shared by every platform (browser, Deno, Node). Platform-specific additions live in ./node.ts.
export * from "./runtime/errors.ts";
export * from "./runtime/gguf/index.ts";
export * from "./runtime/gguf/metadata.ts";
export * from "./runtime/tensor-types/table.ts";
export * from "./runtime/inspect.ts";
export * from "./runtime/tokenizer/index.ts";
export * from "./runtime/model/index.ts";
export * from "./runtime/sampling/index.ts";
export * from "./runtime/convert/quantize.ts";
export * from "./runtime/convert/bitllama.ts";
export { CpuKernels, type CpuKernelsOptions, type CpuKernelStats, type Matrix } from "./runtime/cpu/kernels.ts";
