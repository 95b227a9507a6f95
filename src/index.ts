// The package's public API on every platform (browser, Deno, Node), as README.md documents it: the engine
// (createEngine, createLocalEngine) with the types of its options and results, reading GGUF files, the
// tokenizer of a GGUF, and the error classes. Each name is listed here, from the file that defines it, so that
// nothing internal becomes public by being exported inside the tree; tests import internals from their files.
// Node-only additions live in ./node.ts.

export {
  AbortError,
  CacheError,
  CheckpointError,
  ContextError,
  EngineCrashedError,
  EngineError,
  GgufError,
  GpuError,
  GrammarError,
  ModelError,
  OptionError,
  TensorTypeError,
  TernionError,
  TokenizerError,
  TrainError,
  type CacheErrorCode,
  type GgufErrorCode,
  type GpuErrorCode,
  type TrainErrorCode,
  type GrammarErrorCode,
} from "./runtime/errors.ts";

// The engine.
export { createEngine, type WorkerEngineOptions } from "./engine/worker-engine.ts";
export { createLocalEngine } from "./engine/local-engine.ts";
export type {
  BackendChoice,
  ChatCompletions,
  Completion,
  Engine,
  EngineFinetuneOptions,
  EngineFinetuneResult,
  EngineGenerateOptions,
  EngineInfo,
  EngineOptions,
  EnginePerplexityOptions,
  GenerationStream,
  LoadProgress,
  ModelInput,
  ModelLoadOptions,
  WebGpuEntry,
} from "./engine/engine.ts";
export type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChatCompletionUsage,
  ChatMessage,
  FinishReason,
} from "./engine/chat-types.ts";
export type { GenerateChunk, GenerationStats, StopReason } from "./engine/generate.ts";
export type { SamplingOptions } from "./runtime/sampling/options.ts";
export type { ConstraintOptions } from "./runtime/grammar/constraint-options.ts";
export type { ResponseFormat } from "./engine/response-format.ts";
export type { PerplexityResult } from "./runtime/model/perplexity.ts";
export type { FinetuneProgress } from "./train/finetune-run.ts";
export type { BlockLoss } from "./train/blockwise-plan.ts";
export type { Backend, ModelMemory } from "./runtime/model/language-model.ts";
export type { ModelConfig } from "./runtime/model/config.ts";

// GGUF files: the header (metadata and tensor infos) and a tensor's bytes, from any ByteSource.
export { readGgufHeader, readTensorData, type ReadGgufOptions } from "./runtime/gguf/reader.ts";
export { blobSource, bytesSource, urlSource, type UrlSourceOptions } from "./runtime/gguf/sources.ts";
export type { ByteSource } from "./runtime/gguf/source.ts";
export {
  GgufValueType,
  type GgufArray,
  type GgufArrayValues,
  type GgufHeader,
  type GgufScalar,
  type GgufTensorInfo,
  type GgufValue,
} from "./runtime/gguf/types.ts";
export { GgmlType } from "./runtime/tensor-types/traits.ts";

// The browser's model cache (OPFS, or the Cache API): what the engine downloaded for hf: and http(s) models.
export {
  deleteBrowserCachedModel,
  listBrowserCachedModels,
  openBrowserCachedModel,
  type BrowserCacheOptions,
  type CachedModel,
} from "./runtime/hub/cache-browser.ts";
export type { DownloadProgress } from "./runtime/hub/progress.ts";
export type { HubOptions } from "./runtime/hub/reference.ts";

// The tokenizer of a GGUF file.
export { tokenizerFromGguf } from "./runtime/tokenizer/index.ts";
export type { DecodeOptions, EncodeOptions, PieceOptions, Tokenizer, TokenizerOptions, TokenizerWarningHandler } from "./runtime/tokenizer/types.ts";
