// A chat as prompt text: the GGUF's `tokenizer.chat_template` (Jinja, as Hugging Face templates are written)
// rendered by @huggingface/jinja, or, for a model without one, a plain "User: / Assistant:" transcript whose
// stop string ends the assistant's turn.
import { Template } from "@huggingface/jinja";
import { ModelError, OptionError } from "../runtime/errors.ts";
import { metaString, type GgufMetadata } from "../runtime/gguf/metadata.ts";
import type { Tokenizer } from "../runtime/tokenizer/types.ts";
import type { ChatMessage } from "./chat-types.ts";

export const CHAT_TEMPLATE_KEY = "tokenizer.chat_template";

/** For models without a template: system text first, then one line per turn, ending with "Assistant:". */
export const FALLBACK_CHAT_TEMPLATE =
  "{% for m in messages %}" +
  "{% if m.role == 'system' %}{{ m.content }}\n\n" +
  "{% elif m.role == 'user' %}User: {{ m.content }}\n" +
  "{% else %}Assistant: {{ m.content }}\n{% endif %}" +
  "{% endfor %}" +
  "{% if add_generation_prompt %}Assistant:{% endif %}";

export class ChatTemplate {
  private constructor(
    private readonly template: Template,
    readonly source: "gguf" | "fallback",
    /** Stop strings that end an assistant turn (the fallback's; a real template ends with an EOG token). */
    readonly stop: readonly string[],
    private readonly bosToken: string,
    private readonly eosToken: string,
  ) {}

  /** The model's template, or the fallback. ModelError BAD_CHAT_TEMPLATE when the model's does not parse. */
  static fromGguf(metadata: GgufMetadata, tokenizer: Tokenizer): ChatTemplate {
    const text = metaString(metadata, CHAT_TEMPLATE_KEY);
    const special = (id: number | undefined) => (id === undefined ? "" : tokenizer.tokenText(id));
    const bos = special(tokenizer.bos);
    const eos = special(tokenizer.eos);
    if (text === undefined || text.trim() === "") return new ChatTemplate(new Template(FALLBACK_CHAT_TEMPLATE), "fallback", ["\nUser:"], bos, eos);
    let template: Template;
    try {
      template = new Template(text);
    } catch (e) {
      throw new ModelError("BAD_CHAT_TEMPLATE", `the model's ${CHAT_TEMPLATE_KEY} is not a template we can parse: ${(e as Error).message}`);
    }
    return new ChatTemplate(template, "gguf", [], bos, eos);
  }

  /** The prompt for the assistant's next turn. */
  render(messages: readonly ChatMessage[]): string {
    const plain = checkMessages(messages);
    try {
      return this.template.render({ messages: plain, add_generation_prompt: true, bos_token: this.bosToken, eos_token: this.eosToken });
    } catch (e) {
      throw new ModelError("BAD_CHAT_TEMPLATE", `rendering the chat template failed: ${(e as Error).message}`);
    }
  }

  /**
   * The prompt's token ids: control tokens written by the template (`<|im_start|>`, the BOS text) become
   * their ids, and BOS is added where the model adds it, once.
   */
  tokenize(tokenizer: Tokenizer, prompt: string): number[] {
    const ids = tokenizer.encode(prompt, { addBos: tokenizer.addBos, parseSpecial: true });
    if (tokenizer.addBos && ids.length > 1 && ids[0] === tokenizer.bos && ids[1] === tokenizer.bos) ids.shift();
    return ids;
  }
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
