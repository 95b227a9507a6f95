// The Engine: the one interface through which applications use ternion, the same whether the model runs in the
// calling thread (createLocalEngine) or in a worker (createEngine). Everything here is plain data, so that it
// crosses a worker boundary unchanged.
import type { GenerateChunk, GenerationStats, StopReason } from "./generate.ts";
import type { ByteSource } from "../runtime/gguf/source.ts";
import type { ModelConfig } from "../runtime/model/config.ts";
import type { PerplexityResult } from "../runtime/model/perplexity.ts";
import type { SamplingOptions } from "../runtime/sampling/options.ts";
import type { ConstraintOptions } from "../runtime/grammar/constraint-options.ts";
import type { DecodeOptions, EncodeOptions } from "../runtime/tokenizer/types.ts";
import type { FinetuneProgress, FinetuneRunResult, TrainingOptions } from "../train/finetune-run.ts";
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, ChatMessage } from "./chat-types.ts";
import type { Backend, ModelMemory } from "../runtime/model/language-model.ts";
import type { HubOptions } from "../runtime/hub/reference.ts";

export type BackendChoice = "auto" | Backend;

/**
 * A model file: a path (Node, Deno), a URL (http(s), file:, blob:), an `hf:<owner>/<repo>/<file>[@<revision>]`
 * reference, a Blob/File, or its bytes. In a browser, `hf:` and http(s) models are kept in the browser's model
 * cache (runtime/hub/cache-browser.ts): downloaded on first use, read from the disk afterwards.
 */
export type ModelInput = string | URL | Blob | Uint8Array | ArrayBuffer;

export interface LoadProgress {
  /**
   * "read": bytes of the model file read so far, of its size. "upload": tensors placed in wasm memory so far
   * (the WebGPU backend uploads each tensor as it reads it: its read progress is its upload progress).
   * "ready": once, when the model can run. "download": an `hf:` or http(s) model being fetched into the model
   * cache before it is read (first use only), with `file`, `bytesPerSecond` and `etaSeconds`; `total` is 0 while
   * the server has not said the size.
   */
  phase: "download" | "read" | "upload" | "ready";
  loaded: number;
  total: number;
  /** "download": the file being written in the cache. */
  file?: string;
  /** "download": bytes per second fetched. */
  bytesPerSecond?: number;
  /** "download": seconds left at that rate, when the size is known. */
  etaSeconds?: number;
}

/**
 * A WebGPU entry point (a `GPU` object: navigator.gpu, or the `webgpu` package's `create([])`), named by the one
 * method the engine calls, so that the package's declarations compile in projects without the DOM's WebGPU
 * types (a Node app); the engine treats it as a full `GPU`.
 */
export interface WebGpuEntry {
  requestAdapter(options?: never): Promise<unknown>;
}

/** Options of a model load that cross to a worker (no functions, no signals). */
export interface ModelLoadOptions {
  /** "auto" (default): WebGPU on a hardware adapter, else wasm (the reason is in `info().backendReason`). */
  backend?: BackendChoice;
  /**
   * Where WebGPU comes from: default `navigator.gpu` (browsers, Deno). Node: "webgpu" imports the `webgpu`
   * npm package (Dawn) in the thread that runs the model; an in-thread engine also takes that package's
   * GPU object (`create([])`).
   */
  gpu?: WebGpuEntry | "webgpu";
  /** CPU threads, the calling one included (wasm backend). Default: the number of cores. */
  threads?: number;
  /** KV-cache positions. Default: the model's context on wasm, at most 2048 on WebGPU. */
  contextLength?: number;
  /**
   * KV-cache element type on wasm (WebGPU keeps f32). Default "f16"; "f32" is exact; "q8_0" holds int8 codes per 32
   * with a scale (1.125 bytes per element: less memory, faster decode attention; its perplexity cost: bench/README.md).
   */
  kvType?: "f16" | "f32" | "q8_0";
  /**
   * The output head on wasm: "stored" (default) runs the file's weights as they are; "q8_0" quantizes a float head to
   * Q8_0 at load and runs it with int8 activations (fewer bytes per token; its perplexity cost: bench/README.md).
   */
  headType?: "stored" | "q8_0";
  /** Tokens per prefill batch. Default: the backend's. */
  batchSize?: number;
  /**
   * URLs of the wasm builds, tried before the files beside the bundle. createEngine sends its worker the URLs
   * beside its own bundle: where a bundler emitted the worker elsewhere, these are the ones it rewrote.
   */
  wasmUrls?: { relaxed?: string; simd128?: string };
  /** The hub that `hf:` models come from and its token (default TERNION_HF_ENDPOINT / HF_TOKEN, else huggingface.co). */
  hub?: HubOptions;
  /**
   * An `hf:` or http(s) model is kept in the model cache, downloaded on first use and read from the disk after
   * (Node, Deno: `cacheDir`, default TERNION_CACHE, else ~/.cache/ternion; browsers: OPFS, or the Cache API).
   * false reads it from the server with Range requests every load instead, nothing written. Default true.
   */
  cache?: boolean;
  /** The model cache's folder (Node, Deno). */
  cacheDir?: string;
}

export interface EngineOptions extends ModelLoadOptions {
  /** The GGUF model. An in-thread engine also takes any ByteSource. */
  model: ModelInput | ByteSource;
  onProgress?: (progress: LoadProgress) => void;
  /** Cancels the load: the engine's promise rejects with AbortError and nothing stays allocated. */
  signal?: AbortSignal;
}

/** `grammar` (GBNF) or `jsonSchema`: the output follows it token by token and ends where it ends (stopReason "stop"). */
export interface EngineGenerateOptions extends SamplingOptions, ConstraintOptions {
  /** Most tokens to generate. Default 256. */
  maxTokens?: number;
  /** Alias of `repeatPenalty` (transformers.js' name). */
  repetitionPenalty?: number;
  /** Text that ends generation; it is not part of the result. */
  stop?: readonly string[];
  /** Prepend BOS. Default: the model's add_bos_token (ignored for a prompt given as token ids). */
  addBos?: boolean;
  /** An end-of-generation token does not end the generation (benchmarks that need an exact token count). */
  ignoreEos?: boolean;
  /**
   * When the next token would not fit the context: true (default) slides the window, keeping the first
   * `contextKeep` tokens and dropping the oldest after them; false ends generation at a full context
   * (stopReason "context"); "error" fails it there (ContextError CONTEXT_FULL). A prompt longer than the
   * context is a ContextError PROMPT_TOO_LONG whichever.
   */
  contextShift?: boolean | "error";
  /** Tokens at the start of the window that a context shift keeps. Default 4 (BOS and a few). */
  contextKeep?: number;
  /** Each chunk carries its token's log-probability and this many most likely alternatives (0 … 20). */
  logprobs?: number;
  /** Ends the generation (stopReason "abort"); a call still waiting in the queue leaves it at once. */
  signal?: AbortSignal;
}

export interface Completion {
  text: string;
  tokens: number[];
  stopReason: StopReason;
  stats: GenerationStats;
}

/** `generate`'s result: the chunks as they come, and the whole completion at the end. */
export interface GenerationStream extends AsyncIterable<GenerateChunk> {
  /** Resolves when generation ends (rejects with the call's error). */
  readonly result: Promise<Completion>;
}

export interface EnginePerplexityOptions {
  /** Window length in tokens. Default: the loaded context, at most 512. */
  ctx?: number;
  signal?: AbortSignal;
  /** After each window, with the running perplexity. */
  onWindow?: (window: number, windows: number, ppl: number) => void;
}

/**
 * engine.finetune's options: train/finetune-run.ts's (schedule, losses, group, steps, batch, seqLen, lr, seed,
 * threads, checkpointEvery, export…) with the teacher and the data. Checkpoints come to the caller as bytes
 * (onCheckpoint), to keep wherever the platform allows (a file, IndexedDB, OPFS); `resumeFrom` continues from
 * one, bit-exactly, given the same options and data.
 */
export interface EngineFinetuneOptions extends Omit<TrainingOptions, "resume"> {
  /** The float teacher GGUF. Default: the engine's own model (which must then be a float model). */
  teacher?: ModelInput;
  /** Training text (one of data, dataTokens, dataFree). */
  data?: string;
  /** Text to score before and after (perplexity). */
  evalText?: string;
  /** Stops between two steps: the call rejects with AbortError; a call still queued leaves the queue at once. */
  signal?: AbortSignal;
  /**
   * After each step: { step, steps, loss, off, ce, tokensPerSecond, etaSeconds }, and in the blockwise schedule
   * { block, blocks, blockStep, blockSteps, round, blockStartLoss, relativeLoss } (each block has a loss of its
   * own: compare a step with its block's start, not with the previous block's steps).
   */
  onProgress?: (progress: FinetuneProgress) => void;
  /** Phases around the training: "load", "sample" (data-free), "eval", "export". */
  onPhase?: (phase: string) => void;
  /**
   * Receives a checkpoint every `checkpointEvery` steps and when the run is aborted (the bytes of the whole
   * training state, at training step `step`). Keep the latest; pass it as `resumeFrom` to continue.
   */
  onCheckpoint?: (checkpoint: Uint8Array, step: number) => void;
  /** What the user should know that is not an error, e.g. a warning that the teacher is ternary already (also in the result's `warnings`). */
  onNotice?: (message: string) => void;
  /**
   * A checkpoint from onCheckpoint: the run continues from it (refused if options or data differ). With more
   * `steps` than the checkpoint's finished run, the run is extended (train/README.md, "Extending a run").
   */
  resumeFrom?: Uint8Array;
}

/** runFinetune's result with the student as the bytes of its GGUF file (ready to save or to load in an engine). */
export interface EngineFinetuneResult extends Omit<FinetuneRunResult, "student"> {
  student: Uint8Array;
}

export interface EngineInfo {
  backend: Backend;
  /** Why this backend runs (the choice of "auto", a fallback after a lost GPU device). */
  backendReason: string;
  /** The GPU adapter (WebGPU). */
  adapter?: string;
  threads: number;
  /** Why fewer threads run than were asked for (e.g. a page without cross-origin isolation has no SharedArrayBuffer). */
  threadsReason?: string;
  simd: string;
  /** Why that wasm build (relaxed SIMD detected or not). */
  simdReason?: string;
  contextLength: number;
  kvType: "f16" | "f32" | "q8_0";
  model: ModelConfig;
  /** The GGUF metadata's scalar values (arrays such as the vocabulary are left out). */
  metadata: Record<string, string | number | boolean>;
  /** Where the chat template comes from: the GGUF's tokenizer.chat_template, or ternion's plain fallback. */
  chatTemplate: "gguf" | "fallback";
  /** Memory the model holds on its device (wasm memory or GPU buffers). */
  memory: ModelMemory;
  /** Tokens in the KV cache that the next call may reuse. */
  cachedTokens: number;
}

export interface ChatCompletions {
  create(request: ChatCompletionRequest & { stream: true }, options?: { signal?: AbortSignal }): Promise<AsyncIterable<ChatCompletionChunk>>;
  create(request: ChatCompletionRequest & { stream?: false }, options?: { signal?: AbortSignal }): Promise<ChatCompletion>;
  create(request: ChatCompletionRequest, options?: { signal?: AbortSignal }): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>>;
}

/**
 * A loaded model and everything to do with it. Calls that run the model (generate, complete, chat, perplexity,
 * restart) queue in the order they are made; tokenize, detokenize, applyChatTemplate and info answer at once.
 * Errors keep their class and code (src/runtime/errors.ts) in both engines. A wrong argument is a rejected
 * OptionError, never a synchronous throw (arguments.ts): a stream's `result` and its iteration reject.
 */
export interface Engine {
  /** Streams a continuation of `prompt`; the KV cache is reused when the prompt extends the previous context. */
  /** Continues `prompt`: text, or token ids used as they are (no BOS added). */
  generate(prompt: string | readonly number[], options?: EngineGenerateOptions): GenerationStream;
  complete(prompt: string | readonly number[], options?: EngineGenerateOptions): Promise<Completion>;
  /** OpenAI-shaped chat, rendering the model's chat template. */
  readonly chat: { readonly completions: ChatCompletions };
  /** The prompt text a chat renders (the template applied, a generation prompt added). */
  applyChatTemplate(messages: readonly ChatMessage[]): Promise<string>;
  tokenize(text: string, options?: EncodeOptions): Promise<number[]>;
  detokenize(tokens: readonly number[], options?: DecodeOptions): Promise<string>;
  perplexity(text: string, options?: EnginePerplexityOptions): Promise<PerplexityResult>;
  info(): Promise<EngineInfo>;
  /**
   * Loads the model again, after a crash (worker engines) or to change backend (e.g. back to WebGPU after a
   * lost device, or to wasm). Queued behind the calls made before it.
   */
  restart(options?: { backend?: BackendChoice }): Promise<void>;
  /**
   * On-device fine-tuning (src/train, DLT + OFF): a ternary student distilled from the float teacher (default
   * the engine's model), returned as GGUF bytes. Queued like perplexity; the model loaded stays as it was.
   */
  finetune(options: EngineFinetuneOptions): Promise<EngineFinetuneResult>;
  /** Ends the running call, rejects the queued ones (EngineError DISPOSED), frees the model (and the worker). */
  dispose(): Promise<void>;
}
