// Context shift: what the generation loop does when the next token would not fit the KV cache. The window
// slides: the first `keep` tokens (BOS, a system prompt) stay where they are, with their KV-cache entries, and
// the oldest tokens after them are dropped, at least half of the movable part at once (as llama.cpp's
// n_discard) so that a long generation shifts rarely. RoPE positions are baked into the cached keys, so the
// tokens after the dropped ones are evaluated again at their new positions: that is the cost of a shift.
import { OptionError } from "../runtime/errors.ts";

/**
 * `contextShift`: true slides the window; false ends generation at a full context (stopReason "context");
 * "error" fails it there (ContextError CONTEXT_FULL).
 */
export type ContextShiftOption = boolean | "error";

/** Tokens kept at the start of the window by default: BOS and a few after it. */
export const DEFAULT_CONTEXT_KEEP = 4;

/** Whether the context slides at a full context (true) or generation ends there, as false or by "error". */
export function shiftsContext(option: ContextShiftOption | undefined): boolean {
  if (option === undefined) return true;
  if (option === true) return true;
  if (option === false || option === "error") return false;
  throw new OptionError("BAD_OPTION_VALUE", `contextShift must be true, false or "error", got ${JSON.stringify(option)}`);
}

/** The kept head's length in a context of `context` tokens: at most half of it, so that a shift frees room. */
export function keptHead(keep: number, context: number): number {
  return Math.max(0, Math.min(keep, context >> 1));
}

/**
 * `tokens` fitted into `context`: the first `keep` and the newest ones, dropping at least the overflow and at
 * least half of the tokens after the head. Unchanged when they fit.
 */
export function slideWindow(tokens: readonly number[], context: number, keep: number): number[] {
  if (tokens.length <= context) return [...tokens];
  const head = keptHead(keep, context);
  const drop = Math.max(tokens.length - context, Math.ceil((context - head) / 2));
  return [...tokens.slice(0, head), ...tokens.slice(head + drop)];
}
