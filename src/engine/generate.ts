// The generation loop, one for every backend (runtime/model/language-model.ts): tokenize, prefill the prompt in
// batches (keeping the part of the KV cache that already holds the prompt's first tokens), then sample one
// token at a time and feed it back, streaming whole characters through StreamingDecoder and holding back text
// that might start a stop string. Ends at an end-of-generation token, a stop string, the end of what a grammar
// or JSON schema allows (`grammar`, `jsonSchema`: every token is one the grammar allows), maxTokens, or an abort;
// a full context slides its window (context-shift.ts) unless contextShift is off, when it ends there. Greedy
// decoding on a backend with an argmax fast path (WebGPU) reads back one token id per step instead of the logits,
// unless a grammar or logprobs need the logits.
import { penaltiesAreOff } from "../runtime/sampling/penalties.ts";
import { yieldToEventLoop } from "../runtime/event-loop.ts";
import type { Backend, LanguageModel } from "../runtime/model/language-model.ts";
import { ContextError, OptionError } from "../runtime/errors.ts";
import type { ResolvedSamplingOptions, SamplingOptions } from "../runtime/sampling/options.ts";
import { Sampler } from "../runtime/sampling/sampler.ts";
import { StopMatcher } from "../runtime/sampling/stop.ts";
import { StreamingDecoder } from "../runtime/tokenizer/streaming-decoder.ts";
import { type ContextShiftOption, DEFAULT_CONTEXT_KEEP, keptHead, shiftsContext, slideWindow } from "./context-shift.ts";
import { type TokenLogprobs, tokenLogprobs } from "./logprobs.ts";
import { type ConstraintOptions, tokenConstraint } from "../runtime/grammar/constraint-options.ts";

export interface GenerateOptions extends SamplingOptions, ConstraintOptions {
  /** Most tokens to generate. Default 256. */
  maxTokens?: number;
  /** Text that ends generation; it is not part of the result. */
  stop?: readonly string[];
  /**
   * Stops generation: the result so far is returned, stopReason "abort". Text held back because it might
   * begin a stop string is dropped, so the result is exactly the text streamed until then.
   */
  signal?: AbortSignal;
  /** Receives the text as it is produced (non-empty pieces). */
  onText?: (text: string) => void;
  /** Receives each generated token with the text it completes ("" while a character or a possible stop string is incomplete). */
  onToken?: (chunk: GenerateChunk) => void;
  /** Prepend BOS. Default: the model's add_bos_token. Ignored for a prompt given as token ids. */
  addBos?: boolean;
  /** An end-of-generation token does not end generation (it is fed back like any other): benchmarks. */
  ignoreEos?: boolean;
  /**
   * The token ids the model's KV cache holds now (a previous result's `sequence`). The prompt's longest common
   * prefix with them is kept in the cache instead of being evaluated again. Default: nothing is kept.
   */
  cached?: readonly number[];
  /**
   * When the next token would not fit the context: true (default) slides the window, keeping the first
   * `contextKeep` tokens and dropping the oldest after them; false ends generation there (stopReason
   * "context"); "error" fails it there (ContextError CONTEXT_FULL). A prompt longer than the context is a
   * ContextError PROMPT_TOO_LONG whichever: nothing the caller wrote is cut.
   */
  contextShift?: ContextShiftOption;
  /** Tokens at the start that a context shift keeps. Default 4 (BOS and a few). */
  contextKeep?: number;
  /** Report each generated token's log-probability and this many most likely alternatives (0 … 20). */
  logprobs?: number;
}

/** One generated token and the text it completed. */
export interface GenerateChunk {
  token: number;
  text: string;
  /** With the `logprobs` option. */
  logprobs?: TokenLogprobs;
}

export interface GenerationStats {
  promptTokens: number;
  /** Prompt tokens whose KV-cache entries were kept from the previous call (not evaluated again). */
  cachedTokens: number;
  generatedTokens: number;
  /** Prompt tokens evaluated (not the cached ones) per second. */
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  /** From the start of the prefill to the first sampled token. */
  timeToFirstTokenMs: number;
  backend: Backend;
  /** Threads computing (0 on WebGPU). */
  threads: number;
  /** The wasm build, or "none" on WebGPU. */
  simd: string;
  /** Times the window slid (context-shift.ts). */
  contextShifts: number;
  /** Tokens evaluated again because a shift moved them: what the shifts cost. */
  shiftedTokens: number;
  /** Chat: the oldest messages left out so that the conversation fits the context. */
  droppedMessages?: number;
}

export type StopReason = "eos" | "stop" | "max-tokens" | "context" | "abort";

export interface GenerateResult {
  /** The generated text (the prompt not included). */
  text: string;
  /** The generated token ids (an end-of-generation token included when one ended it). */
  tokens: number[];
  stopReason: StopReason;
  stats: GenerationStats;
  /** The token ids now in the model's KV cache (the prompt and the generated tokens fed back), for `cached`. */
  sequence: number[];
}

const now = () => performance.now();

/**
 * The prompt as token ids: BOS (when the model adds one) and the text; "" is BOS alone. A ContextError when
 * it does not fit the model's context.
 */
export function promptTokens(model: Pick<LanguageModel, "tokenizer" | "contextLength">, prompt: string, addBos?: boolean): number[] {
  const t = model.tokenizer;
  let ids: number[];
  if (prompt === "") {
    if (t.bos === undefined) throw new OptionError("EMPTY_PROMPT", "an empty prompt needs a BOS token, and this vocabulary has none");
    ids = [t.bos];
  } else {
    ids = t.encode(prompt, { addBos: addBos ?? t.addBos });
    if (ids.length === 0) throw new OptionError("EMPTY_PROMPT", "the prompt has no tokens");
  }
  checkPromptLength(ids.length, model.contextLength);
  return ids;
}

function checkPromptLength(tokens: number, context: number): void {
  if (tokens > context) throw new ContextError("PROMPT_TOO_LONG", `the prompt has ${tokens} tokens, more than the context of ${context}`);
}

/** Temperature 0 with no penalty: the choice is the argmax of the raw logits, which a backend may compute itself. */
function isPlainGreedy(o: Readonly<ResolvedSamplingOptions>): boolean {
  return o.temperature === 0 && (o.repeatLastN === 0 || penaltiesAreOff(o));
}

/** Length of the common prefix of two token sequences. */
function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/**
 * Generates a continuation of `prompt` (text, or token ids used as they are). The model's sequence is replaced
 * by the prompt, keeping the cached prefix that `options.cached` names.
 */
export async function generate(lm: LanguageModel, prompt: string | readonly number[], options: GenerateOptions = {}): Promise<GenerateResult> {
  const {
    maxTokens = 256,
    stop = [],
    signal,
    onText,
    onToken,
    addBos,
    cached,
    ignoreEos = false,
    contextShift,
    contextKeep = DEFAULT_CONTEXT_KEEP,
    logprobs,
    grammar,
    jsonSchema,
    ...sampling
  } = options;
  if (!Number.isSafeInteger(maxTokens) || maxTokens < 0)
    throw new OptionError("BAD_OPTION_VALUE", `maxTokens must be an integer ≥ 0, got ${maxTokens}`);
  if (!Number.isSafeInteger(contextKeep) || contextKeep < 0)
    throw new OptionError("BAD_OPTION_VALUE", `contextKeep must be an integer ≥ 0, got ${contextKeep}`);
  if (logprobs !== undefined && (!Number.isSafeInteger(logprobs) || logprobs < 0 || logprobs > 20))
    throw new OptionError("BAD_OPTION_VALUE", `logprobs must be an integer in [0, 20], got ${logprobs}`);
  const shifts = shiftsContext(contextShift);
  const sampler = new Sampler(sampling);
  // A grammar or JSON schema: every sampled token is one it allows, and generation ends where its output does.
  const constraint = tokenConstraint(lm.tokenizer, { grammar, jsonSchema });
  const stops = new StopMatcher(stop);
  const tokenizer = lm.tokenizer;
  const decoder = new StreamingDecoder(tokenizer);
  let prompts: number[];
  if (typeof prompt === "string") prompts = promptTokens(lm, prompt, addBos);
  else {
    if (prompt.length === 0) throw new OptionError("EMPTY_PROMPT", "the prompt has no tokens");
    prompts = [...prompt];
    const vocab = lm.config.vocabSize;
    const bad = prompts.findIndex((id) => !Number.isInteger(id) || id < 0 || id >= vocab);
    if (bad >= 0) throw new OptionError("BAD_TOKEN", `prompt token ${bad} is ${prompts[bad]}, not a token id of this vocabulary (0 … ${vocab - 1})`);
    checkPromptLength(prompts.length, lm.contextLength);
  }
  let contextShifts = 0;
  let shiftedTokens = 0;

  // Keep the cached prefix, but evaluate at least the last prompt token: its logits give the first token.
  const keep = cached && cached.length === lm.position ? Math.min(commonPrefix(cached, prompts), prompts.length - 1) : 0;
  lm.reset(keep);
  const sequence = prompts.slice(0, keep);

  // The greedy fast path reads back no logits: not with logprobs or a grammar, which need them.
  const greedy = isPlainGreedy(sampler.options) && lm.forwardArgmax !== undefined && logprobs === undefined && !constraint;
  // One step: feed tokens, get the next token's logits (or the token itself on the greedy fast path).
  const feed = async (ids: number[]): Promise<Float32Array | number> => {
    const next = greedy ? await lm.forwardArgmax!(ids) : await lm.forward(ids);
    sequence.push(...ids);
    return next;
  };

  let text = "";
  const tokens: number[] = [];
  let stopReason: StopReason = "max-tokens";

  const t0 = now();
  let next = maxTokens > 0 && !signal?.aborted ? await feed(prompts.slice(keep)) : undefined;
  const tPrefill = now();
  for (const id of prompts) sampler.accept(id);
  let tFirst = tPrefill;
  let decodeMs = 0;
  let decodeSteps = 0;

  if (signal?.aborted) stopReason = "abort";
  while (next !== undefined && stopReason !== "abort") {
    const stepStart = now();
    let id: number;
    let chosen: TokenLogprobs | undefined;
    if (typeof next === "number") {
      id = next;
      sampler.accept(id);
    } else {
      id = sampler.sample(next, lm.position, constraint);
      if (logprobs !== undefined) chosen = tokenLogprobs(tokenizer, next, id, logprobs);
    }
    constraint?.accept(id);
    tokens.push(id);
    if (tokens.length === 1) tFirst = now();

    // What this token completes, and whether generation ends with it (the end known now, the text held back
    // for a possible stop string or an incomplete character is released with this token's chunk).
    let piece = "";
    let end: StopReason | undefined;
    let stopString = false;
    if (tokenizer.isEog(id) && !ignoreEos) end = "eos";
    else {
      const r = stops.push(decoder.push(id));
      piece = r.text;
      if (r.stopped) [end, stopString] = ["stop", true];
    }
    if (!end && constraint?.done) end = "stop";
    if (!end && tokens.length >= maxTokens) end = "max-tokens";
    if (!end && !shifts && lm.position >= lm.contextLength) {
      if (contextShift === "error") {
        throw new ContextError(
          "CONTEXT_FULL",
          `the context of ${lm.contextLength} tokens is full after ${tokens.length} generated tokens, and contextShift is "error": raise the context or lower maxTokens`,
        );
      }
      end = "context";
    }
    if (end && !stopString) {
      const r = stops.push(decoder.flush());
      piece += r.text;
      if (r.stopped) end = "stop";
      else piece += stops.flush().text;
    }
    if (piece) {
      text += piece;
      onText?.(piece);
    }
    // An end-of-generation token is not part of the answer: OpenAI gives it no log-probability either.
    onToken?.(chosen && end !== "eos" ? { token: id, text: piece, logprobs: chosen } : { token: id, text: piece });
    if (end) {
      stopReason = end;
      break;
    }
    const sampleMs = now() - stepStart;
    await yieldToEventLoop();
    if (signal?.aborted) {
      stopReason = "abort";
      break;
    }
    const feedStart = now();
    if (lm.position >= lm.contextLength) {
      // The window slides: the kept head stays in the KV cache, the tail is evaluated again with the new token.
      const window = slideWindow([...sequence, id], lm.contextLength, contextKeep);
      const head = keptHead(contextKeep, lm.contextLength);
      lm.reset(head);
      sequence.length = head;
      contextShifts++;
      shiftedTokens += window.length - head - 1;
      next = await feed(window.slice(head));
    } else next = await feed([id]);
    decodeMs += sampleMs + now() - feedStart;
    decodeSteps++;
  }

  const b = lm.backendInfo();
  return {
    text,
    tokens,
    stopReason,
    sequence,
    stats: {
      promptTokens: prompts.length,
      cachedTokens: keep,
      generatedTokens: tokens.length,
      prefillTokensPerSecond: rate(prompts.length - keep, tPrefill - t0),
      decodeTokensPerSecond: rate(decodeSteps, decodeMs),
      timeToFirstTokenMs: tokens.length ? tFirst - t0 : 0,
      backend: b.backend,
      threads: b.threads,
      simd: b.simd,
      contextShifts,
      shiftedTokens,
    },
  };
}

function rate(count: number, ms: number): number {
  return ms > 0 ? (count * 1000) / ms : 0;
}
