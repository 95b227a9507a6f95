// Perplexity with llama.cpp's method (tools/perplexity, perplexity()): the text is tokenized once (BOS first
// when the model adds one) and cut into floor(tokens / ctx) non-overlapping windows of ctx tokens; the first
// token of each window is replaced by BOS; each window is evaluated from an empty cache and only its second
// half is scored: the logits at positions ctx/2 … ctx − 2 predict tokens ctx/2 + 1 … ctx − 1.
// ppl = exp(mean negative log-likelihood over all scored tokens). Like llama.cpp, at least 2·ctx tokens.
import type { LanguageModel } from "./language-model.ts";
import { AbortError, ContextError, OptionError } from "../errors.ts";
import { checkFiniteLogits } from "../sampling/finite-logits.ts";

export interface PerplexityOptions {
  /** Window length in tokens. Default: the model's context length (as loaded), at most 512. */
  ctx?: number;
  /** Called after each window with the running perplexity. */
  onWindow?: (window: number, windows: number, ppl: number) => void;
  signal?: AbortSignal;
}

export interface PerplexityResult {
  ppl: number;
  /** Tokens of the whole text (BOS included). */
  tokens: number;
  windows: number;
  /** Tokens scored (windows · (ctx − 1 − ctx/2)). */
  scored: number;
  ctx: number;
  /** Tokens evaluated per second. */
  tokensPerSecond: number;
}

/** −log softmax(logits)[target], in f64 (llama.cpp: max subtracted, Σ exp in double). */
export function negativeLogLikelihood(logits: Float32Array, target: number): number {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return -(logits[target]! - max - Math.log(sum));
}

export async function perplexity(model: LanguageModel, text: string, options: PerplexityOptions = {}): Promise<PerplexityResult> {
  const ctx = options.ctx ?? Math.min(512, model.contextLength);
  if (!Number.isInteger(ctx) || ctx < 4) throw new OptionError("BAD_OPTION_VALUE", `ctx must be an integer ≥ 4, got ${ctx}`);
  if (ctx > model.contextLength) {
    throw new ContextError("CONTEXT_TOO_SMALL", `ctx ${ctx} is larger than the context the model was loaded with (${model.contextLength})`);
  }
  const tok = model.tokenizer;
  const tokens = tok.encode(text, { addBos: tok.addBos });
  if (tokens.length < 2 * ctx) {
    throw new OptionError("TEXT_TOO_SHORT", `perplexity with ctx ${ctx} needs at least ${2 * ctx} tokens; the text has ${tokens.length}`);
  }
  const windows = Math.floor(tokens.length / ctx);
  const first = Math.floor(ctx / 2);
  let nll = 0;
  let scored = 0;
  const t0 = performance.now();
  for (let w = 0; w < windows; w++) {
    if (options.signal?.aborted) throw new AbortError("perplexity was aborted");
    const window = tokens.slice(w * ctx, (w + 1) * ctx);
    if (tok.addBos && tok.bos !== undefined) window[0] = tok.bos;
    model.reset();
    await model.forwardEach(window, (j, logits) => {
      if (j < first || j >= ctx - 1) return;
      // A NaN would make the whole result NaN: an error naming where it came from instead.
      checkFiniteLogits(logits, w * ctx + j + 1);
      nll += negativeLogLikelihood(logits, window[j + 1]!);
      scored++;
    });
    options.onWindow?.(w + 1, windows, Math.exp(nll / scored));
    await new Promise((r) => setTimeout(r, 0));
  }
  const seconds = (performance.now() - t0) / 1000;
  return { ppl: Math.exp(nll / scored), tokens: tokens.length, windows, scored, ctx, tokensPerSecond: (windows * ctx) / seconds };
}
