// A chat that outgrows the context: the oldest turns after the system messages are left out of the prompt until
// it fits with room for the answer. Once turns must go, enough go that the prompt fills at most half the
// context, and the next turns of the same conversation leave out at least as many: their prompts then extend
// the previous one, whose KV cache is kept (core.ts), instead of shifting again every turn. The fit costs a few
// renders however long the history: turns whose text alone outgrows the prompt go unrendered, and how many more
// go is found by bisection. A last message
// that does not fit the context even alone is refused (ContextError MESSAGE_TOO_LONG): cutting it would answer
// a question nobody asked.
import { ContextError } from "../runtime/errors.ts";
import type { Tokenizer } from "../runtime/tokenizer/types.ts";
import type { ChatTemplate, RenderOptions } from "./chat-template.ts";
import { DEFAULT_TEMPLATE_BUDGET } from "./template-budget.ts";
import type { ChatMessage } from "./chat-types.ts";

export interface FittedChat {
  /** The prompt's token ids. */
  tokens: number[];
  /** Messages left out (the oldest after the system messages). */
  dropped: number;
  /** Tokens at the start that belong to the system messages (and BOS): what a context shift mid-answer keeps. */
  keep: number;
}

/** What the previous fit of a conversation left out, so that its next turn leaves out as much. */
export interface ChatFitMemory {
  messages: readonly ChatMessage[];
  dropped: number;
}

export function fitChat(
  template: ChatTemplate,
  tokenizer: Tokenizer,
  messages: readonly ChatMessage[],
  context: number,
  answerRoom: number,
  previous?: ChatFitMemory,
  render: RenderOptions = {},
): FittedChat {
  // The fit may render several times: all its renders together get one render's time budget.
  const deadline = performance.now() + (render.budget?.maxMilliseconds ?? DEFAULT_TEMPLATE_BUDGET.maxMilliseconds);
  // The prompt's tokens, or undefined when it cannot fit at all: a render longer than the context can hold in
  // characters, or messages too large to render (PROMPT_TOO_LONG from either). Leaving out turns is the remedy.
  const encode = (m: readonly ChatMessage[]): number[] | undefined => {
    try {
      const text = template.render(m, { ...render, budget: { ...render.budget, maxMilliseconds: Math.max(1, deadline - performance.now()) } });
      return template.tokenize(tokenizer, text);
    } catch (e) {
      if (e instanceof ContextError && e.code === "PROMPT_TOO_LONG") return undefined;
      throw e;
    }
  };
  let system = 0;
  while (system < messages.length && messages[system]!.role === "system") system++;
  const turns = messages.length - system;
  const keep = systemPrefix(encode, messages.slice(0, system), tokenizer);
  const room = Math.min(answerRoom, context >> 2);
  // Where a conversation may resume: at a user's message, not at an answer to a question left out (or at the last).
  const starts: number[] = [];
  for (let d = 0; d < turns; d++) if (d === turns - 1 || messages[system + d]!.role !== "assistant") starts.push(d);
  const resumeAt = (d: number): number => starts[firstAtLeast(starts, d)]!;

  const sticky = previous && continues(messages, previous.messages) ? Math.min(previous.dropped, Math.max(0, turns - 1)) : 0;
  // Turns whose text alone is longer than any prompt that fits cannot all be kept: left out before any render, so
  // that a history of thousands of turns costs no more renders than a short one.
  const floor = Math.max(sticky, charBound(messages, system, template.maxPromptChars));
  let dropped = floor === sticky ? sticky : resumeAt(floor);
  let tokens = encode(without(messages, system, dropped));
  if (tokens && dropped === sticky && tokens.length + room <= context) return { tokens, dropped, keep };
  // Turns must go: down to half the context, so that the next turns fit without another shift. The prompt only
  // shrinks as more go, so the fewest that reach the target are found by bisection over the resume points.
  const target = Math.max(context >> 1, 1);
  if (length(tokens) > target && starts.length > 0) {
    let lo = firstAtLeast(starts, dropped + 1) - 1; // the last resume point at most `dropped`: known to miss the target
    let hi = starts.length - 1;
    let best = hi === lo ? tokens : encode(without(messages, system, starts[hi]!));
    if (length(best) <= target) {
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        const t = encode(without(messages, system, starts[mid]!));
        if (length(t) <= target) {
          hi = mid;
          best = t;
        } else lo = mid;
      }
    }
    dropped = starts[hi]!;
    tokens = best;
  }
  if (!tokens || tokens.length > context) {
    const needs = tokens ? `${tokens.length} tokens` : "more characters than fit";
    throw new ContextError(
      "MESSAGE_TOO_LONG",
      `the last message with the system prompt needs ${needs}, more than the context of ${context}: shorten it (messages are not cut)`,
    );
  }
  return { tokens, dropped, keep };
}

/** A prompt's length in tokens; one that cannot fit at all counts as endless. */
function length(tokens: number[] | undefined): number {
  return tokens?.length ?? Number.POSITIVE_INFINITY;
}

/** The index of the first of the ascending `values` at least `x` (values.length when none is). */
function firstAtLeast(values: readonly number[], x: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (values[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The fewest turns after the system messages to leave out so that the text of those kept is at most `maxChars`:
 * a template writes each message's text, so more of it cannot fit a prompt of that many characters.
 */
function charBound(messages: readonly ChatMessage[], system: number, maxChars: number): number {
  let chars = 0;
  for (let i = system; i < messages.length; i++) chars += contentChars(messages[i]!);
  let dropped = 0;
  while (chars > maxChars && system + dropped < messages.length - 1) chars -= contentChars(messages[system + dropped++]!);
  return dropped;
}

function contentChars(m: ChatMessage): number {
  const c: unknown = m?.content;
  if (typeof c === "string") return c.length;
  if (Array.isArray(c)) return c.reduce((n: number, p: { text?: unknown }) => n + (typeof p?.text === "string" ? p.text.length : 0), 0);
  return 0;
}

function without(messages: readonly ChatMessage[], system: number, dropped: number): ChatMessage[] {
  return [...messages.slice(0, system), ...messages.slice(system + dropped)];
}

/** Whether `messages` begins with `before` (the same conversation, some turns on). */
function continues(messages: readonly ChatMessage[], before: readonly ChatMessage[]): boolean {
  if (before.length > messages.length) return false;
  return before.every((m, i) => m.role === messages[i]!.role && JSON.stringify(m.content) === JSON.stringify(messages[i]!.content));
}

/** The tokens the system messages render to at the start of every prompt (BOS alone without any). */
function systemPrefix(encode: (m: readonly ChatMessage[]) => number[] | undefined, system: readonly ChatMessage[], tokenizer: Tokenizer): number {
  if (system.length === 0) return tokenizer.addBos ? 1 : 0;
  // Rendered alone they end with the generation prompt ("Assistant:"), which later prompts do not have there:
  // only what they share with a prompt that continues with a user's turn is the prefix.
  // System messages too long to fit at all leave nothing to keep; the fit then refuses them (MESSAGE_TOO_LONG).
  const alone = encode(system) ?? [];
  const followed = encode([...system, { role: "user", content: "x" }]) ?? [];
  let i = 0;
  while (i < alone.length && i < followed.length && alone[i] === followed[i]) i++;
  return i;
}
