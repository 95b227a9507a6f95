// The conversation behind `ternion chat`, apart from the terminal: it takes input lines and interrupts (Ctrl-C)
// and writes answers, so that a test drives it directly. The history goes to chat.completions whole each turn;
// the engine keeps the KV cache of the previous turn, which the new prompt extends.
import type { ChatCompletionRequest, ChatMessage } from "../engine/chat-types.ts";
import type { Engine } from "../engine/engine.ts";
import type { GenerationStats } from "../engine/generate.ts";
import { ContextError } from "../runtime/errors.ts";
import { describeFailure } from "./error-line.ts";

export interface ChatReplOptions {
  engine: Engine;
  /** The system message that starts every conversation (kept by /reset). */
  system?: string;
  /** Sampling fields of each request (max_tokens, temperature, top_p, top_k, seed). */
  request?: Omit<ChatCompletionRequest, "messages" | "stream">;
  /** Answers: streamed text, or with `json` one JSON line per answer. */
  write(text: string): void;
  /** Notes to the user (cancelled, history cleared, errors): stderr. */
  note(text: string): void;
  json?: boolean;
}

/** One answer as --json prints it. */
export interface ChatTurn {
  content: string;
  finish_reason: string;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  stats?: GenerationStats;
}

export const CHAT_COMMANDS = "/reset clears the history, /exit quits; Ctrl-C stops an answer";

export class ChatRepl {
  private messages: ChatMessage[] = [];
  private answering: AbortController | undefined;
  /** A Ctrl-C came since the last line: one more at the prompt exits. */
  private armed = false;
  /** The error the last turn failed with (undefined after a turn that was answered). */
  private failure: unknown;
  /** Messages the engine last left out of the prompt to fit the context (noted when it grows). */
  private dropped = 0;

  constructor(private readonly o: ChatReplOptions) {
    this.reset();
  }

  /** The error the last turn failed with, if it failed: an input that ends there ends the session with it. */
  get lastFailure(): unknown {
    return this.failure;
  }

  /** The conversation so far (the system message first, when there is one). */
  get history(): readonly ChatMessage[] {
    return this.messages;
  }

  /** Handles one input line: a command or a user turn. Resolves false when the session ends (/exit). */
  async line(input: string): Promise<boolean> {
    this.armed = false;
    const text = input.trim();
    if (text === "") return true;
    if (text === "/exit" || text === "/quit") return false;
    if (text === "/reset") {
      this.reset();
      this.o.note("(history cleared)");
      return true;
    }
    if (text === "/help") {
      this.o.note(CHAT_COMMANDS);
      return true;
    }
    if (text.startsWith("/")) {
      this.o.note(`unknown command ${text.split(/\s/)[0]} (${CHAT_COMMANDS})`);
      return true;
    }
    await this.answer(text);
    return true;
  }

  /**
   * Ctrl-C. During an answer it stops the answer ("cancelled"); at the prompt the first one only warns
   * ("armed") and the second in a row ends the session ("exit").
   */
  interrupt(): "cancelled" | "armed" | "exit" {
    if (this.answering) {
      this.answering.abort();
      this.armed = true;
      return "cancelled";
    }
    if (this.armed) return "exit";
    this.armed = true;
    this.o.note("(Ctrl-C again or /exit to quit)");
    return "armed";
  }

  private reset(): void {
    this.messages = this.o.system ? [{ role: "system", content: this.o.system }] : [];
    this.dropped = 0;
  }

  private async answer(text: string): Promise<void> {
    this.messages.push({ role: "user", content: text });
    const controller = new AbortController();
    this.answering = controller;
    let content = "";
    let turn: ChatTurn | undefined;
    try {
      const stream = await this.o.engine.chat.completions.create(
        { ...this.o.request, messages: this.messages, stream: true },
        { signal: controller.signal },
      );
      for await (const chunk of stream) {
        const piece = chunk.choices[0].delta.content ?? "";
        // The first words follow "Assistant:" or the template's header: leading blanks are not the answer's.
        const shown = content === "" ? piece.trimStart() : piece;
        content += shown;
        if (shown && !this.o.json) this.o.write(shown);
        const finish = chunk.choices[0].finish_reason;
        if (finish !== null) turn = { content, finish_reason: finish, usage: chunk.usage, stats: chunk.stats };
      }
    } catch (e) {
      // The turn failed (a message longer than the context, the engine died): say so, and leave it out of the history.
      this.messages.pop();
      this.failure = e;
      if (!this.o.json) this.o.write("\n");
      const hint = e instanceof ContextError ? (e.code === "MESSAGE_TOO_LONG" ? " (send a shorter message)" : " (/reset starts over)") : "";
      this.o.note(describeFailure(e) + hint);
      return;
    } finally {
      this.answering = undefined;
    }
    this.failure = undefined;
    // The engine leaves the oldest turns out of a prompt that outgrew the context (chat-fit.ts): say so once.
    const dropped = turn?.stats?.droppedMessages ?? 0;
    if (dropped > this.dropped) this.o.note(`(the context is full: the oldest ${dropped} messages are left out of what the model sees)`);
    this.dropped = dropped;
    // What was shown is what the model said, a cancelled answer included: the next turn builds on it.
    content = content.trimEnd();
    this.messages.push({ role: "assistant", content });
    if (this.o.json) this.o.write(JSON.stringify({ ...turn, content }) + "\n");
    else this.o.write("\n");
    if (turn?.finish_reason === "abort") this.o.note("(cancelled)");
  }
}
