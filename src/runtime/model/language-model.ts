// The one model interface the generation loop, perplexity and the engine run on, whatever computes it: the wasm
// CPU kernels (CpuLanguageModel) or WebGPU (GpuLanguageModel). A model holds one sequence in its KV cache;
// `forward` appends tokens to it.
import type { ModelConfig } from "./config.ts";
import type { Tokenizer } from "../tokenizer/types.ts";

export type Backend = "wasm" | "webgpu";

/** Device memory a model holds, in bytes. */
export interface ModelMemory {
  weights: number;
  kvCache: number;
  /** Activations and other working buffers. */
  scratch: number;
  total: number;
}

/** What runs a model, for statistics and `info()`. */
export interface BackendInfo {
  backend: Backend;
  /** Threads computing (the calling one included); 0 on WebGPU, where the GPU computes. */
  threads: number;
  /** The wasm build ("relaxed" or "simd128"), or "none" on WebGPU. */
  simd: string;
  /** Why that build (feature detection's verdict; wasm only). */
  simdReason?: string;
  /** Why fewer threads run than were asked for (no SharedArrayBuffer: a page without cross-origin isolation). */
  threadsReason?: string;
  /** The GPU adapter's description (WebGPU only). */
  adapter?: string;
  /** KV-cache element type. */
  kvType: "f16" | "f32" | "q8_0";
  memory: ModelMemory;
}

/** Receives the logits after token `index` of a forwardEach call (a view valid during the call only). */
export type LogitsCallback = (index: number, logits: Float32Array) => void;

export interface LanguageModel {
  readonly config: ModelConfig;
  readonly tokenizer: Tokenizer;
  /** Positions the KV cache holds. */
  readonly contextLength: number;
  /** Tokens in the sequence so far (the next token goes at this position). */
  readonly position: number;
  /** Forgets the sequence, or keeps its first `position` tokens. OptionError past the sequence's end. */
  reset(position?: number): void;
  /**
   * Appends `tokens` and returns the logits after the last one (the array may be reused by the next call).
   * ContextError CONTEXT_FULL, with nothing evaluated, when they do not fit.
   */
  forward(tokens: ArrayLike<number>): Promise<Float32Array>;
  /** Appends `tokens` and hands each token's logits to `sink` (perplexity). */
  forwardEach(tokens: ArrayLike<number>, sink: LogitsCallback): Promise<void>;
  /**
   * Greedy fast path, where the backend has one: appends `tokens` and returns the most likely next token
   * (WebGPU picks it on the device and reads back one integer instead of the logits).
   */
  forwardArgmax?(tokens: ArrayLike<number>): Promise<number>;
  backendInfo(): BackendInfo;
  dispose(): void;
}
