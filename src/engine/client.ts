// The Engine interface over a transport to an EngineCore: in-thread (local-engine.ts) or in a worker
// (worker-engine.ts). Both engines are this one class, so they behave the same by construction; only how a call
// reaches the core differs. Here: streams of chunks, AbortSignals turned into the core's cancellation, the
// OpenAI chat shapes.
import { OptionError } from "../runtime/errors.ts";
import type { GenerateChunk } from "./generate.ts";
import type { TokenLogprobs } from "./logprobs.ts";
import type { PerplexityResult } from "../runtime/model/perplexity.ts";
import type { DecodeOptions, EncodeOptions } from "../runtime/tokenizer/types.ts";
import { anySignal } from "./signals.ts";
import { requestConstraint } from "./response-format.ts";
import {
  CHAT_CALL_OPTIONS,
  checkArgument,
  checkChatRequest,
  checkGenerateOptions,
  checkMessagesArgument,
  checkOptions,
  checks,
  DETOKENIZE_OPTIONS,
  FINETUNE_OPTIONS,
  PERPLEXITY_OPTIONS,
  promptCheck,
  RESTART_OPTIONS,
  TOKENIZE_OPTIONS,
  tokensCheck,
} from "./arguments.ts";
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionRequest,
  ChatLogprobs,
  ChatMessage,
  ChatTokenLogprob,
  FinishReason,
} from "./chat-types.ts";
import type { EngineCore, EngineEvent, GenerateRequest } from "./core.ts";
import type {
  BackendChoice,
  ChatCompletions,
  Completion,
  Engine,
  EngineGenerateOptions,
  EngineFinetuneOptions,
  EngineFinetuneResult,
  EngineInfo,
  EnginePerplexityOptions,
  GenerationStream,
} from "./engine.ts";

/** The core's calls, as a transport carries them (the CallContext becomes a signal and an event sink). */
export type CoreMethod = "generate" | "tokenize" | "detokenize" | "applyChatTemplate" | "perplexity" | "finetune" | "info" | "restart";
export type CoreArgs<M extends CoreMethod> = EngineCore[M] extends (ctx: never, ...args: infer A) => unknown ? A : never;
export type CoreResult<M extends CoreMethod> = EngineCore[M] extends (...args: never[]) => Promise<infer R> ? R : never;

export interface CoreTransport {
  call<M extends CoreMethod>(method: M, args: CoreArgs<M>, signal?: AbortSignal, onEvent?: (event: EngineEvent) => void): Promise<CoreResult<M>>;
  /** restart(): a crashed worker is started again; a live core reloads its model. */
  restart(options: { backend?: BackendChoice }): Promise<void>;
  dispose(): Promise<void>;
}

export class EngineClient implements Engine {
  readonly chat: { readonly completions: ChatCompletions };

  constructor(private readonly transport: CoreTransport) {
    const create = async (request: ChatCompletionRequest, options: { signal?: AbortSignal } = {}) => {
      checkOptions("chat.completions.create", options, CHAT_CALL_OPTIONS);
      return this.createChatCompletion(request, options?.signal);
    };
    this.chat = { completions: { create: create as ChatCompletions["create"] } };
  }

  // Every method checks its arguments first (arguments.ts) and answers a wrong one with a rejected promise (a
  // stream whose result and iteration reject), never a synchronous throw.

  generate(prompt: string | readonly number[], options: EngineGenerateOptions = {}): GenerationStream {
    return this.generation("generate", prompt, options);
  }

  async complete(prompt: string | readonly number[], options: EngineGenerateOptions = {}): Promise<Completion> {
    return this.generation("complete", prompt, options).result;
  }

  private generation(method: string, prompt: string | readonly number[], options: EngineGenerateOptions): GenerationStream {
    try {
      checkArgument(method, "the prompt", prompt, promptCheck);
      checkGenerateOptions(method, options);
    } catch (e) {
      return failedStream(e);
    }
    const { signal, ...rest } = options ?? {};
    // Token ids cross to a worker as a plain array (a typed array would also clone, but checks expect one shape).
    return this.stream({ prompt: typeof prompt === "string" ? prompt : Array.from(prompt), options: rest }, signal);
  }

  async applyChatTemplate(messages: readonly ChatMessage[]): Promise<string> {
    checkMessagesArgument("applyChatTemplate", messages);
    return this.transport.call("applyChatTemplate", [messages]);
  }

  async tokenize(text: string, options?: EncodeOptions): Promise<number[]> {
    checkArgument("tokenize", "the text", text, checks.string);
    checkOptions("tokenize", options, TOKENIZE_OPTIONS);
    return this.transport.call("tokenize", [text, options]);
  }

  async detokenize(tokens: readonly number[], options?: DecodeOptions): Promise<string> {
    checkArgument("detokenize", "the tokens", tokens, tokensCheck);
    checkOptions("detokenize", options, DETOKENIZE_OPTIONS);
    return this.transport.call("detokenize", [Array.from(tokens), options]);
  }

  async perplexity(text: string, options: EnginePerplexityOptions = {}): Promise<PerplexityResult> {
    checkArgument("perplexity", "the text", text, checks.string);
    checkOptions("perplexity", options, PERPLEXITY_OPTIONS);
    const { signal, onWindow, ...rest } = options ?? {};
    return this.transport.call("perplexity", [text, rest], signal, (e) => {
      if (e.type === "window") onWindow?.(e.window, e.windows, e.ppl);
    });
  }

  async finetune(options: EngineFinetuneOptions): Promise<EngineFinetuneResult> {
    checkArgument("finetune", "the options", options, checks.object);
    if ("resume" in options) throw new OptionError("UNKNOWN_OPTION", 'unknown finetune option "resume" (to resume, pass a checkpoint as resumeFrom)');
    checkOptions("finetune", options, FINETUNE_OPTIONS);
    const { signal, onProgress, onPhase, onCheckpoint, onNotice, ...rest } = options;
    // A URL object does not clone into a worker: its text does (as createEngine sends the model).
    const wire = rest.teacher instanceof URL ? { ...rest, teacher: rest.teacher.href } : rest;
    return this.transport.call("finetune", [wire], signal, (e) => {
      if (e.type === "finetune") onProgress?.(e.progress);
      else if (e.type === "phase") onPhase?.(e.phase);
      else if (e.type === "checkpoint") onCheckpoint?.(e.checkpoint, e.step);
      else if (e.type === "notice") onNotice?.(e.message);
    });
  }

  info(): Promise<EngineInfo> {
    return this.transport.call("info", []);
  }

  async restart(options: { backend?: BackendChoice } = {}): Promise<void> {
    checkOptions("restart", options, RESTART_OPTIONS);
    return this.transport.restart(options ?? {});
  }

  dispose(): Promise<void> {
    return this.transport.dispose();
  }

  /** A generation call whose chunks are buffered for the iterator; leaving the loop early aborts it. */
  private stream(request: GenerateRequest, signal: AbortSignal | undefined): GenerationStream {
    const stop = new AbortController();
    const combined = signal ? anySignal(signal, stop.signal) : stop.signal;
    const chunks: GenerateChunk[] = [];
    let wake: (() => void) | undefined;
    let settled = false;
    const result = this.transport.call("generate", [request], combined, (e) => {
      if (e.type !== "chunk") return;
      chunks.push(e.chunk);
      wake?.();
    });
    result.then(
      () => ((settled = true), wake?.()),
      () => ((settled = true), wake?.()),
    );
    return {
      result,
      async *[Symbol.asyncIterator]() {
        try {
          for (;;) {
            if (chunks.length > 0) {
              yield chunks.shift()!;
              continue;
            }
            if (settled) {
              await result; // throws the call's error
              return;
            }
            await new Promise<void>((resolve) => (wake = resolve));
            wake = undefined;
          }
        } finally {
          if (!settled) stop.abort();
        }
      },
    };
  }

  private async createChatCompletion(
    request: ChatCompletionRequest,
    signal?: AbortSignal,
  ): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> {
    checkChatRequest(request);
    const options = chatOptions(request);
    checkGenerateOptions("chat.completions.create", options);
    const withLogprobs = request.logprobs === true;
    const generation = this.stream({ messages: request.messages, options }, signal);
    const id = `chatcmpl-${randomId()}`;
    const created = Math.floor(Date.now() / 1000);
    const modelName = request.model ?? "ternion";
    if (!request.stream) {
      const content: ChatTokenLogprob[] = [];
      for await (const c of generation) if (c.logprobs) content.push(openAiLogprob(c.logprobs));
      const r = await generation.result;
      const logprobs: ChatLogprobs | null = withLogprobs ? { content, refusal: null } : null;
      return {
        id,
        object: "chat.completion",
        created,
        model: modelName,
        choices: [{ index: 0, message: { role: "assistant", content: r.text }, finish_reason: finishReason(r), logprobs }],
        usage: usage(r),
        stats: r.stats,
        stopReason: r.stopReason,
      };
    }
    const chunk = (
      delta: ChatCompletionChunk["choices"][0]["delta"],
      finish: FinishReason | null,
      logprobs: ChatLogprobs | null = null,
    ): ChatCompletionChunk => ({
      id,
      object: "chat.completion.chunk",
      created,
      model: modelName,
      choices: [{ index: 0, delta, finish_reason: finish, logprobs }],
    });
    return (async function* () {
      yield chunk({ role: "assistant", content: "" }, null);
      for await (const c of generation) {
        // With logprobs every token has its chunk (its text may be "", held for a stop string or a character).
        if (c.logprobs && withLogprobs) yield chunk({ content: c.text }, null, { content: [openAiLogprob(c.logprobs)], refusal: null });
        else if (c.text) yield chunk({ content: c.text }, null);
      }
      const r = await generation.result;
      yield { ...chunk({}, finishReason(r)), usage: usage(r), stats: r.stats, stopReason: r.stopReason };
    })();
  }
}

/** A token's log-probabilities in OpenAI's chat shape. */
function openAiLogprob(l: TokenLogprobs): ChatTokenLogprob {
  return {
    token: l.text,
    logprob: l.logprob,
    bytes: l.bytes,
    top_logprobs: l.top.map((t) => ({ token: t.text, logprob: t.logprob, bytes: t.bytes })),
  };
}

/** A generation that failed before it started: its result rejects with `error`, and so does its iteration. */
function failedStream(error: unknown): GenerationStream {
  const result = Promise.reject(error);
  result.catch(() => {}); // the caller may only iterate: the rejection reaches it there
  return {
    result,
    // biome-ignore lint/correctness/useYield: it only rethrows the call's error
    async *[Symbol.asyncIterator]() {
      await result;
    },
  };
}

/** OpenAI's request fields as generate options (undefined where the request leaves them out). */
function chatOptions(r: ChatCompletionRequest): Omit<EngineGenerateOptions, "signal"> {
  const o: Omit<EngineGenerateOptions, "signal"> = {
    maxTokens: r.max_completion_tokens ?? r.max_tokens,
    temperature: r.temperature,
    topP: r.top_p,
    topK: r.top_k,
    minP: r.min_p,
    seed: r.seed,
    frequencyPenalty: r.frequency_penalty,
    presencePenalty: r.presence_penalty,
    repeatPenalty: r.repetition_penalty,
    stop: r.stop === undefined ? undefined : typeof r.stop === "string" ? [r.stop] : [...r.stop],
    logprobs: r.logprobs ? (r.top_logprobs ?? 0) : undefined,
    contextShift: r.context_shift,
    ...requestConstraint(r),
  };
  for (const k of Object.keys(o) as (keyof typeof o)[]) if (o[k] === undefined) delete o[k];
  return o;
}

/** The engine's stop reason as OpenAI's finish_reason (the server's completions use it too). */
export function finishReason(r: Completion): FinishReason {
  if (r.stopReason === "abort") return "abort";
  return r.stopReason === "max-tokens" || r.stopReason === "context" ? "length" : "stop";
}

/** OpenAI's usage of a completion. */
export function usage(r: Completion) {
  return {
    prompt_tokens: r.stats.promptTokens,
    completion_tokens: r.stats.generatedTokens,
    total_tokens: r.stats.promptTokens + r.stats.generatedTokens,
  };
}

function randomId(): string {
  return Array.from(globalThis.crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, "0")).join("");
}
