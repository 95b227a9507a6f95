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
export { CpuModel, planMemory, WASM32_MAX_BYTES, type CpuModelOptions, type MemoryPlan } from "./runtime/cpu/model.ts";
export type { LogitsMode, LogitsSink } from "./runtime/cpu/forward.ts";
export type { KvType } from "./runtime/cpu/attention.ts";
export { generate, promptTokens, type GenerateChunk, type GenerateOptions, type GenerateResult, type GenerationStats, type StopReason } from "./engine/generate.ts";
export { perplexity, negativeLogLikelihood, type PerplexityOptions, type PerplexityResult } from "./runtime/model/perplexity.ts";
export * from "./gpu/index.ts";
export * from "./engine/index.ts";
