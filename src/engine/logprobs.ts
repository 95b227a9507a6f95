// Log-probabilities of generated tokens, as OpenAI's `logprobs` reports them: the log-softmax of the model's
// raw logits (before penalties, temperature or top-k/top-p, which shape the draw, not the model's belief) at
// the chosen token, and the `top` most likely tokens, each with its text and UTF-8 bytes.
import type { Tokenizer } from "../runtime/tokenizer/types.ts";

/** One token's text, bytes and log-probability. */
export interface TokenProbability {
  token: number;
  /** The token's text (bytes that do not form whole characters read as U+FFFD). */
  text: string;
  bytes: number[];
  logprob: number;
}

/** The chosen token's log-probability, and the most likely tokens at that step (most likely first). */
export interface TokenLogprobs extends TokenProbability {
  top: TokenProbability[];
}

/** OpenAI allows at most 20 alternatives per token. */
export const MAX_TOP_LOGPROBS = 20;

const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

function probability(tokenizer: Pick<Tokenizer, "tokenToPiece">, token: number, logprob: number): TokenProbability {
  const bytes = tokenizer.tokenToPiece(token, { special: true });
  return { token, text: decoder.decode(bytes), bytes: Array.from(bytes), logprob };
}

/** log Σ exp(logits), computed from the maximum so that it neither overflows nor underflows. */
function logSumExp(logits: Float32Array): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return max + Math.log(sum);
}

/** The `top` largest logits' ids, largest first (a partial selection: O(n · top)). */
function topIds(logits: Float32Array, top: number): number[] {
  const ids: number[] = [];
  if (top <= 0) return ids;
  for (let i = 0; i < logits.length; i++) {
    if (ids.length === top && logits[i]! <= logits[ids[top - 1]!]!) continue;
    let at = ids.length === top ? top - 1 : ids.length;
    while (at > 0 && logits[ids[at - 1]!]! < logits[i]!) {
      ids[at] = ids[at - 1]!;
      at--;
    }
    ids[at] = i;
  }
  return ids;
}

export function tokenLogprobs(tokenizer: Pick<Tokenizer, "tokenToPiece">, logits: Float32Array, chosen: number, top: number): TokenLogprobs {
  const norm = logSumExp(logits);
  return {
    ...probability(tokenizer, chosen, logits[chosen]! - norm),
    top: topIds(logits, Math.min(top, logits.length)).map((id) => probability(tokenizer, id, logits[id]! - norm)),
  };
}
