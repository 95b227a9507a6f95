// OpenAI's chat-completions shapes (the subset a local model can honour), so that code written for the OpenAI
// SDK or WebLLM runs against an Engine unchanged.
import type { GenerationStats, StopReason } from "./generate.ts";
import type { ResponseFormat } from "./response-format.ts";

export interface ChatMessage {
  role: "system" | "user" | "assistant" | (string & {});
  /** Text, or OpenAI's content parts (only text parts are supported). */
  content: string | readonly { type: "text"; text: string }[];
}

export interface ChatCompletionRequest {
  messages: readonly ChatMessage[];
  /** Ignored: the engine runs the model it loaded. */
  model?: string;
  stream?: boolean;
  max_tokens?: number;
  /** Newer name of max_tokens. */
  max_completion_tokens?: number;
  temperature?: number;
  top_p?: number;
  seed?: number;
  stop?: string | readonly string[];
  frequency_penalty?: number;
  presence_penalty?: number;
  /** Must be 1 (one choice per request). */
  n?: number;
  /** Each generated token's log-probability (choices[0].logprobs.content). */
  logprobs?: boolean;
  /** With logprobs: this many most likely alternatives per token (0 … 20). */
  top_logprobs?: number;
  /** Ignored (OpenAI's end-user id). */
  user?: string;
  /** Accepted for OpenAI clients; the last chunk of a stream always carries the usage. */
  stream_options?: { include_usage?: boolean };
  /** Constrains the answer to JSON (json_object) or to JSON valid against a schema (json_schema). */
  response_format?: ResponseFormat;
  /** A GBNF grammar the answer must match (llama.cpp's server extension). */
  grammar?: string;
  /** Extensions (llama.cpp's samplers). */
  top_k?: number;
  min_p?: number;
  repetition_penalty?: number;
  /**
   * ternion's: a conversation longer than the context leaves out its oldest turns after the system messages,
   * and an answer that fills the context slides it (true, the default). With false or "error" a conversation
   * longer than the context fails (ContextError PROMPT_TOO_LONG), and an answer that fills it ends there
   * (false: finish_reason "length", stopReason "context") or fails ("error": ContextError CONTEXT_FULL).
   */
  context_shift?: boolean | "error";
}

/** One token's log-probability in OpenAI's shape. */
export interface ChatTokenLogprob {
  token: string;
  logprob: number;
  /** The token's UTF-8 bytes. */
  bytes: number[] | null;
  top_logprobs: { token: string; logprob: number; bytes: number[] | null }[];
}

/** A choice's log-probabilities (the request's logprobs: true), else null. */
export interface ChatLogprobs {
  content: ChatTokenLogprob[] | null;
  refusal: null;
}

/** "abort": the request's signal ended it (as WebLLM reports). */
export type FinishReason = "stop" | "length" | "abort";

export interface ChatCompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: [{ index: 0; message: { role: "assistant"; content: string }; finish_reason: FinishReason; logprobs: ChatLogprobs | null }];
  usage: ChatCompletionUsage;
  /** ternion's generation statistics (speeds, cached prompt tokens, context shifts, backend). */
  stats: GenerationStats;
  /** ternion's: why generation ended, finer than finish_reason. */
  stopReason: StopReason;
}

export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: [{ index: 0; delta: { role?: "assistant"; content?: string }; finish_reason: FinishReason | null; logprobs: ChatLogprobs | null }];
  /** On the last chunk only. */
  usage?: ChatCompletionUsage;
  stats?: GenerationStats;
  stopReason?: StopReason;
}
