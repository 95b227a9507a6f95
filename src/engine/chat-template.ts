// A chat as prompt text: the GGUF's `tokenizer.chat_template` (Jinja, as Hugging Face templates are written)
// parsed by @huggingface/jinja and rendered under a budget (guarded-interpreter.ts, template-budget.ts), or, for a
// model without one, a plain "User: / Assistant:" transcript whose stop string ends the assistant's turn.
import { Environment, Template } from "@huggingface/jinja";
import { AbortError, ContextError, ModelError, OptionError, TernionError } from "../runtime/errors.ts";
import { metaString, type GgufMetadata } from "../runtime/gguf/metadata.ts";
import type { Tokenizer } from "../runtime/tokenizer/types.ts";
import type { ChatMessage } from "./chat-types.ts";
import { GuardedInterpreter } from "./guarded-interpreter.ts";
import { DEFAULT_TEMPLATE_BUDGET, ENTRY_SIZE, MAX_TEMPLATE_CHARS, promptCharsForContext, type TemplateBudget } from "./template-budget.ts";
import { printable, setTemplateGlobals } from "./template-globals.ts";

export const CHAT_TEMPLATE_KEY = "tokenizer.chat_template";

/** The room a template has for the markup around each message (role headers, turn delimiters) beside its text. */
export const MESSAGE_MARKUP_CHARS = 64;

/** For models without a template: system text first, then one line per turn, ending with "Assistant:". */
export const FALLBACK_CHAT_TEMPLATE =
  "{% for m in messages %}" +
  "{% if m.role == 'system' %}{{ m.content }}\n\n" +
  "{% elif m.role == 'user' %}User: {{ m.content }}\n" +
  "{% else %}Assistant: {{ m.content }}\n{% endif %}" +
  "{% endfor %}" +
  "{% if add_generation_prompt %}Assistant:{% endif %}";

/** How a render is bounded and stopped (the budget's fields default to DEFAULT_TEMPLATE_BUDGET's). */
export interface RenderOptions {
  budget?: Partial<TemplateBudget>;
  signal?: AbortSignal;
  /** Asked with the signal while the render runs: an interrupt that reaches a busy thread. */
  interrupted?: () => boolean;
}

export class ChatTemplate {
  private constructor(
    private readonly template: Template,
    readonly source: "gguf" | "fallback",
    /** Stop strings that end an assistant turn (the fallback's; a real template ends with an EOG token). */
    readonly stop: readonly string[],
    private readonly bosToken: string,
    private readonly eosToken: string,
    /** The most characters a prompt that fits the context can have: the output budget of every render. */
    readonly maxPromptChars: number,
  ) {}

  /**
   * The model's template, or the fallback. ModelError BAD_CHAT_TEMPLATE when the model's is longer than
   * MAX_TEMPLATE_CHARS or does not parse. `contextLength` bounds the prompt (promptCharsForContext).
   */
  static fromGguf(metadata: GgufMetadata, tokenizer: Tokenizer, contextLength: number): ChatTemplate {
    const text = metaString(metadata, CHAT_TEMPLATE_KEY);
    const special = (id: number | undefined) => (id === undefined ? "" : tokenizer.tokenText(id));
    const bos = special(tokenizer.bos);
    const eos = special(tokenizer.eos);
    const maxChars = promptCharsForContext(contextLength, longestTokenChars(tokenizer));
    if (text === undefined || text.trim() === "")
      return new ChatTemplate(new Template(FALLBACK_CHAT_TEMPLATE), "fallback", ["\nUser:"], bos, eos, maxChars);
    if (text.length > MAX_TEMPLATE_CHARS) {
      throw new ModelError(
        "BAD_CHAT_TEMPLATE",
        `the model's ${CHAT_TEMPLATE_KEY} has ${text.length} characters, more than the ${MAX_TEMPLATE_CHARS} a chat template may have`,
      );
    }
    let template: Template;
    try {
      template = new Template(text);
    } catch (e) {
      throw new ModelError("BAD_CHAT_TEMPLATE", `the model's ${CHAT_TEMPLATE_KEY} is not a template we can parse: ${messageOf(e)}`);
    }
    return new ChatTemplate(template, "gguf", [], bos, eos, maxChars);
  }

  /**
   * The prompt for the assistant's next turn, rendered under the budget (its output never longer than
   * maxPromptChars): ModelError BAD_CHAT_TEMPLATE naming the budget a render exceeds, or anything else that
   * fails in the template; ContextError PROMPT_TOO_LONG for messages over the value budget; AbortError when the
   * signal or `interrupted` stops it.
   */
  render(messages: readonly ChatMessage[], options: RenderOptions = {}): string {
    const plain = checkMessages(messages);
    const chars = plain.reduce((n, m) => n + m.content.length, 0);
    const budget = { ...DEFAULT_TEMPLATE_BUDGET, ...options.budget };
    if (options.signal?.aborted) throw new AbortError("rendering the chat template was aborted");
    // Messages larger than any value a template may hold are the caller's excess, not the template's: measured
    // as the interpreter measures the list (each message an entry, and its "role" and "content" two more).
    const size = plain.reduce((n, m) => n + 3 * ENTRY_SIZE + "rolecontent".length + m.role.length + m.content.length, 0);
    if (size > budget.maxValueSize) {
      throw new ContextError(
        "PROMPT_TOO_LONG",
        `${plain.length} messages of ${chars} characters make a list of size ${size}, more than the ${budget.maxValueSize} a chat template may be given`,
      );
    }
    // What fits the context, plus room for the messages themselves twice over and each one's markup: a
    // conversation longer than the context is the caller's to shorten (tokenize says PROMPT_TOO_LONG; a chat
    // leaves out its oldest turns), and only a template that multiplies its input further is refused for it.
    budget.maxOutputChars = Math.min(budget.maxOutputChars, this.maxPromptChars + 2 * chars + MESSAGE_MARKUP_CHARS * plain.length);
    budget.maxValueSize = Math.max(budget.maxValueSize, budget.maxOutputChars);
    const env = new Environment();
    setTemplateGlobals(env, budget);
    const variables = { messages: plain, add_generation_prompt: true, bos_token: this.bosToken, eos_token: this.eosToken };
    for (const [name, value] of Object.entries(variables)) env.set(name, value);
    try {
      const interpreter = new GuardedInterpreter(env, { budget, signal: options.signal, interrupted: options.interrupted });
      const output = interpreter.run(this.template.parsed).value;
      if (typeof output !== "string") throw new Error(`the template gave ${typeof output}, not text`);
      return output;
    } catch (e) {
      if (e instanceof TernionError) throw e;
      throw new ModelError("BAD_CHAT_TEMPLATE", `rendering the chat template failed: ${messageOf(e)}`);
    }
  }

  /**
   * The prompt's token ids: control tokens written by the template (`<|im_start|>`, the BOS text) become
   * their ids, and BOS is added where the model adds it, once. A prompt longer than maxPromptChars cannot fit
   * the context and is refused (ContextError PROMPT_TOO_LONG) before it is tokenized.
   */
  tokenize(tokenizer: Tokenizer, prompt: string): number[] {
    if (prompt.length > this.maxPromptChars) {
      throw new ContextError(
        "PROMPT_TOO_LONG",
        `the chat prompt has ${prompt.length} characters, more than the ${this.maxPromptChars} that can fit the context`,
      );
    }
    const ids = tokenizer.encode(prompt, { addBos: tokenizer.addBos, parseSpecial: true });
    if (tokenizer.addBos && ids.length > 1 && ids[0] === tokenizer.bos && ids[1] === tokenizer.bos) ids.shift();
    return ids;
  }
}

/** The most characters one token stands for: the longest token text (a special token's included). */
function longestTokenChars(tokenizer: Tokenizer): number {
  let longest = 1;
  for (let id = 0; id < tokenizer.vocabSize; id++) longest = Math.max(longest, tokenizer.tokenText(id).length);
  return longest;
}

/** An error's message, for anything thrown (a stack overflow is a RangeError; a template may throw anything). */
function messageOf(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return printable(text.length > 500 ? `${text.slice(0, 500)}…` : text);
}

/** Messages as { role, content } with string content; OptionError for anything else. */
function checkMessages(messages: readonly ChatMessage[]): { role: string; content: string }[] {
  if (!Array.isArray(messages) || messages.length === 0) throw new OptionError("BAD_MESSAGES", "messages must be a non-empty array");
  return messages.map((m, i) => {
    if (typeof m !== "object" || m === null || typeof m.role !== "string")
      throw new OptionError("BAD_MESSAGES", `messages[${i}] needs a string role`);
    let content: string;
    if (typeof m.content === "string") content = m.content;
    else if (Array.isArray(m.content) && m.content.every(isTextPart)) content = m.content.map((p: { text: string }) => p.text).join("");
    else throw new OptionError("BAD_MESSAGES", `messages[${i}].content must be a string or text parts`);
    return { role: m.role, content };
  });
}

function isTextPart(p: unknown): p is { type: "text"; text: string } {
  return typeof p === "object" && p !== null && (p as { type?: unknown }).type === "text" && typeof (p as { text?: unknown }).text === "string";
}
