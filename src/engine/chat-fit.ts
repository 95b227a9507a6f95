// A chat that outgrows the context: the oldest turns after the system messages are left out of the prompt until
// it fits with room for the answer. Once turns must go, enough go that the prompt fills at most half the
// context, and the next turns of the same conversation leave out at least as many: their prompts then extend
// the previous one, whose KV cache is kept (core.ts), instead of shifting again every turn. A last message
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
  // A render longer than the context can hold in characters does not fit: as if it were that many tokens.
  const encode = (m: readonly ChatMessage[]): number[] => {
    const text = template.render(m, { ...render, budget: { ...render.budget, maxMilliseconds: Math.max(1, deadline - performance.now()) } });
    try {
      return template.tokenize(tokenizer, text);
    } catch (e) {
      if (e instanceof ContextError && e.code === "PROMPT_TOO_LONG") return new Array<number>(context + 1).fill(0);
      throw e;
    }
  };
  let system = 0;
  while (system < messages.length && messages[system]!.role === "system") system++;
  const turns = messages.length - system;
  const keep = systemPrefix(encode, messages.slice(0, system), tokenizer);
  const room = Math.min(answerRoom, context >> 2);

  const sticky = previous && continues(messages, previous.messages) ? Math.min(previous.dropped, Math.max(0, turns - 1)) : 0;
  let dropped = sticky;
  let tokens = encode(without(messages, system, dropped));
  if (tokens.length + room <= context) return { tokens, dropped, keep };
  // Turns must go: down to half the context, so that the next turns fit without another shift.
  const target = Math.max(context >> 1, 1);
  while (tokens.length > target && dropped < turns - 1) {
    dropped++;
    // A conversation resumes at a user's message, not at an answer to a question left out.
    while (dropped < turns - 1 && messages[system + dropped]!.role === "assistant") dropped++;
    tokens = encode(without(messages, system, dropped));
  }
  if (tokens.length > context) {
    throw new ContextError(
      "MESSAGE_TOO_LONG",
      `the last message with the system prompt needs ${tokens.length} tokens, more than the context of ${context}: shorten it (messages are not cut)`,
    );
  }
  return { tokens, dropped, keep };
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
function systemPrefix(encode: (m: readonly ChatMessage[]) => number[], system: readonly ChatMessage[], tokenizer: Tokenizer): number {
  if (system.length === 0) return tokenizer.addBos ? 1 : 0;
  // Rendered alone they end with the generation prompt ("Assistant:"), which later prompts do not have there:
  // only what they share with a prompt that continues with a user's turn is the prefix.
  const alone = encode(system);
  const followed = encode([...system, { role: "user", content: "x" }]);
  let i = 0;
  while (i < alone.length && i < followed.length && alone[i] === followed[i]) i++;
  return i;
}
