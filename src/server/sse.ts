// Server-sent events as OpenAI streams them: `data: <json>\n\n` per chunk, `data: [DONE]` at the end, and on a
// failure after the headers went out, one `data: {"error": …}` event (the OpenAI SDKs raise it as an APIError).
// A client that stops reading is not waited for forever: a write the socket has not taken within
// `drainTimeoutMs` ends the connection, which cancels the generation like a disconnect.
import type { ServerResponse } from "node:http";
import type { OpenAiErrorBody } from "./http-error.ts";

export class EventStream {
  constructor(
    private readonly res: ServerResponse,
    private readonly drainTimeoutMs: number,
  ) {}

  /** Sends the headers of an event stream (`extra`: CORS). */
  open(extra: Record<string, string>): void {
    this.res.writeHead(200, { ...extra, "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache", "X-Accel-Buffering": "no" });
    this.res.flushHeaders();
  }

  /** One event with `value` as JSON; resolves once the socket took it (or the connection is gone). */
  send(value: unknown): Promise<void> {
    return this.write(`data: ${JSON.stringify(value)}\n\n`);
  }

  /** `data: [DONE]`, and the end of the response. */
  async done(): Promise<void> {
    await this.write("data: [DONE]\n\n");
    this.res.end();
  }

  /** An error event, and the end of the response. */
  async fail(body: OpenAiErrorBody): Promise<void> {
    await this.send(body);
    this.res.end();
  }

  private write(text: string): Promise<void> {
    const res = this.res;
    if (res.destroyed || res.writableEnded) return Promise.resolve();
    if (res.write(text)) return Promise.resolve();
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        res.off("drain", finish);
        res.off("close", finish);
        resolve();
      };
      const timer = setTimeout(() => {
        res.destroy();
        finish();
      }, this.drainTimeoutMs);
      res.on("drain", finish);
      res.on("close", finish);
    });
  }
}
