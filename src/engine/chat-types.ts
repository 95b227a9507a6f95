// OpenAI's chat-completions shapes (the subset a local model can honour), so that code written for the OpenAI
// SDK or WebLLM runs against an Engine unchanged.
import type { GenerationStats } from "./generate.ts";
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
  /** Constrains the answer to JSON (json_object) or to JSON valid against a schema (json_schema). */
  response_format?: ResponseFormat;
  /** A GBNF grammar the answer must match (llama.cpp's server extension). */
  grammar?: string;
  /** Extensions (llama.cpp's samplers). */
  top_k?: number;
  min_p?: number;
  repetition_penalty?: number;
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
  choices: [{ index: 0; message: { role: "assistant"; content: string }; finish_reason: FinishReason; logprobs: null }];
  usage: ChatCompletionUsage;
  /** ternion's generation statistics (speeds, cached prompt tokens, backend). */
  stats: GenerationStats;
}

export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: [{ index: 0; delta: { role?: "assistant"; content?: string }; finish_reason: FinishReason | null; logprobs: null }];
  /** On the last chunk only. */
  usage?: ChatCompletionUsage;
  stats?: GenerationStats;
}
