// The engine API: createEngine (worker) and createLocalEngine (in-thread), one Engine interface; the model
// interface both backends implement, and the chat template.
export { createEngine, type WorkerEngineOptions } from "./worker-engine.ts";
export { createLocalEngine } from "./local-engine.ts";
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
} from "./engine.ts";
export type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChatCompletionUsage,
  ChatMessage,
  FinishReason,
} from "./chat-types.ts";
export type { FinetuneProgress } from "../train/finetune-run.ts";
export type { Backend, BackendInfo, LanguageModel, LogitsCallback, ModelMemory } from "../runtime/model/language-model.ts";
export { CpuLanguageModel } from "../runtime/cpu/language-model.ts";
export { GpuLanguageModel } from "../gpu/language-model.ts";
export { loadOnBackend, type LoadedModel } from "./backend.ts";
export { ChatTemplate, CHAT_TEMPLATE_KEY, FALLBACK_CHAT_TEMPLATE } from "./chat-template.ts";
