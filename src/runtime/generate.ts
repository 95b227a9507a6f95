// The generation loop: tokenize, prefill the prompt in batches, then sample one token at a time and decode it,
// streaming whole characters through StreamingDecoder and holding back text that might start a stop string.
// Ends at an end-of-generation token, a stop string, maxTokens, the end of the context, or an abort.
import { ContextError, OptionError } from "./errors.ts";
import type { CpuModel } from "./cpu/model.ts";
import { Sampler } from "./sampling/sampler.ts";
import type { SamplingOptions } from "./sampling/options.ts";
import { StopMatcher } from "./sampling/stop.ts";
import { StreamingDecoder } from "./tokenizer/streaming-decoder.ts";

export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to generate. Default 256. */
  maxTokens?: number;
  /** Text that ends generation; it is not part of the result. */
  stop?: readonly string[];
  /** Stops generation (the result so far is returned, stopReason "abort"). */
  signal?: AbortSignal;
  /** Receives the text as it is produced. */
  onText?: (text: string) => void;
  /** Prepend BOS. Default: the model's add_bos_token. */
  addBos?: boolean;
}

export interface GenerationStats {
  promptTokens: number;
  generatedTokens: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  /** From the start of the prefill to the first sampled token. */
  timeToFirstTokenMs: number;
  threads: number;
  simd: string;
}

export type StopReason = "eos" | "stop" | "max-tokens" | "context" | "abort";

export interface GenerateResult {
  /** The generated text (the prompt not included). */
  text: string;
  /** The generated token ids (an end-of-generation token included when one ended it). */
  tokens: number[];
  stopReason: StopReason;
  stats: GenerationStats;
}

const now = () => performance.now();

/** Lets timers and I/O run between tokens, so that an AbortSignal fired by a timer is seen promptly. */
function yieldToEventLoop(): Promise<void> {
  const si = (globalThis as { setImmediate?: (f: () => void) => void }).setImmediate;
  return new Promise((resolve) => (si ? si(resolve) : setTimeout(resolve, 0)));
}

/**
 * The prompt as token ids: BOS (when the model adds one) and the text; "" is BOS alone. A ContextError when
 * it does not fit the model's context.
 */
export function promptTokens(model: CpuModel, prompt: string, addBos?: boolean): number[] {
  const t = model.tokenizer;
  let ids: number[];
  if (prompt === "") {
    if (t.bos === undefined) throw new OptionError("EMPTY_PROMPT", "an empty prompt needs a BOS token, and this vocabulary has none");
    ids = [t.bos];
  } else {
    ids = t.encode(prompt, { addBos: addBos ?? t.addBos });
    if (ids.length === 0) throw new OptionError("EMPTY_PROMPT", "the prompt has no tokens");
  }
  if (ids.length > model.contextLength) {
    throw new ContextError("PROMPT_TOO_LONG", `the prompt has ${ids.length} tokens, more than the context of ${model.contextLength}`);
  }
  return ids;
}

/** Generates a continuation of `prompt` with the model, starting from an empty context. */
export async function generate(model: CpuModel, prompt: string, options: GenerateOptions = {}): Promise<GenerateResult> {
  const { maxTokens = 256, stop = [], signal, onText, addBos, ...sampling } = options;
  if (!Number.isSafeInteger(maxTokens) || maxTokens < 0) throw new OptionError("BAD_OPTION_VALUE", `maxTokens must be an integer ≥ 0, got ${maxTokens}`);
  const sampler = new Sampler(sampling);
  const stops = new StopMatcher(stop);
  const tokenizer = model.tokenizer;
  const decoder = new StreamingDecoder(tokenizer);
  const prompts = promptTokens(model, prompt, addBos);

  let text = "";
  const emit = (piece: string) => {
    if (!piece) return;
    text += piece;
    onText?.(piece);
  };
  const tokens: number[] = [];
  let stopReason: StopReason = "max-tokens";

  model.reset();
  const t0 = now();
  let logits = maxTokens > 0 ? model.eval(prompts, "last")! : undefined;
  const tPrefill = now();
  for (const id of prompts) sampler.accept(id);
  let tFirst = tPrefill;
  let decodeMs = 0;
  let decodeSteps = 0;

  while (logits && tokens.length < maxTokens) {
    if (signal?.aborted) {
      stopReason = "abort";
      break;
    }
    const stepStart = now();
    const id = sampler.sample(logits);
    tokens.push(id);
    if (tokens.length === 1) tFirst = now();
    if (tokenizer.isEog(id)) {
      stopReason = "eos";
      break;
    }
    const r = stops.push(decoder.push(id));
    emit(r.text);
    if (r.stopped) {
      stopReason = "stop";
      break;
    }
    if (tokens.length >= maxTokens) break;
    if (model.position >= model.contextLength) {
      stopReason = "context";
      break;
    }
    logits = model.eval([id], "last")!;
    decodeMs += now() - stepStart;
    decodeSteps++;
    await yieldToEventLoop();
  }
  if (stopReason !== "stop") {
    const r = stops.push(decoder.flush());
    emit(r.text);
    if (r.stopped) stopReason = "stop";
    else emit(stops.flush().text);
  }

  const k = model.stats();
  return {
    text,
    tokens,
    stopReason,
    stats: {
      promptTokens: prompts.length,
      generatedTokens: tokens.length,
      prefillTokensPerSecond: rate(prompts.length, tPrefill - t0),
      decodeTokensPerSecond: rate(decodeSteps, decodeMs),
      timeToFirstTokenMs: tokens.length ? tFirst - t0 : 0,
      threads: k.threads,
      simd: k.simd,
    },
  };
}

function rate(count: number, ms: number): number {
  return ms > 0 ? (count * 1000) / ms : 0;
}
