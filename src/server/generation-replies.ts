// The two generation endpoints as replies built from the engine's calls: /v1/chat/completions from
// engine.chat.completions.create (already OpenAI's shapes; here only `stream_options.include_usage` is applied),
// /v1/completions from engine.generate in OpenAI's legacy `text_completion` shapes. The server (server.ts) sends
// a reply as JSON or as server-sent events.
import type { ChatCompletionChunk } from "../engine/chat-types.ts";
import { finishReason, usage } from "../engine/client.ts";
import type { Engine } from "../engine/engine.ts";
import type { GenerateChunk } from "../engine/generate.ts";
import type { ChatCall, CompletionCall } from "./openai-requests.ts";

export type Reply =
  | { kind: "json"; body: unknown }
  /**
   * Events to stream; the first `prime` are taken before the headers go out, so that a request the engine
   * refuses (a prompt longer than the context, a bad option) is still answered with its error status.
   */
  | { kind: "events"; events: AsyncIterable<unknown>; prime: number };

/** Told how a generation ended (the server's request log). */
export type OnEnd = (finishReason: string, completionTokens: number) => void;

export async function chatReply(engine: Engine, call: ChatCall, signal: AbortSignal, onEnd: OnEnd): Promise<Reply> {
  if (!call.stream) {
    const completion = await engine.chat.completions.create({ ...call.request, stream: false }, { signal });
    onEnd(completion.choices[0].finish_reason, completion.usage.completion_tokens);
    return { kind: "json", body: completion };
  }
  const chunks = await engine.chat.completions.create({ ...call.request, stream: true }, { signal });
  // The engine's first chunk (the assistant role) comes before the model runs; the second follows the prefill.
  return { kind: "events", events: chatEvents(chunks, call.includeUsage, onEnd), prime: 2 };
}

/** OpenAI's usage in a stream: only with include_usage, as a last chunk of its own with no choices. */
async function* chatEvents(chunks: AsyncIterable<ChatCompletionChunk>, includeUsage: boolean, onEnd: OnEnd): AsyncIterable<unknown> {
  for await (const { usage: used, ...chunk } of chunks) {
    yield includeUsage ? { ...chunk, usage: null } : chunk;
    if (!used) continue;
    onEnd(chunk.choices[0].finish_reason ?? "stop", used.completion_tokens);
    if (includeUsage) yield { id: chunk.id, object: chunk.object, created: chunk.created, model: chunk.model, choices: [], usage: used };
  }
}

export async function completionReply(engine: Engine, modelId: string, call: CompletionCall, signal: AbortSignal, onEnd: OnEnd): Promise<Reply> {
  const id = `cmpl-${crypto.randomUUID().replaceAll("-", "")}`;
  const created = Math.floor(Date.now() / 1000);
  const generation = engine.generate(call.prompt, { ...call.options, signal });
  const withLogprobs = call.options.logprobs !== undefined;
  const shape = (text: string, finish: string | null, logprobs: CompletionLogprobs | null = null) => ({
    id,
    object: "text_completion",
    created,
    model: modelId,
    choices: [{ text, index: 0, logprobs, finish_reason: finish }],
  });
  if (!call.stream) {
    const chunks: GenerateChunk[] = [];
    for await (const chunk of generation) chunks.push(chunk);
    const r = await generation.result;
    onEnd(finishReason(r), r.stats.generatedTokens);
    const logprobs = withLogprobs ? completionLogprobs(chunks, 0) : null;
    return { kind: "json", body: { ...shape(r.text, finishReason(r), logprobs), usage: usage(r), stats: r.stats, stopReason: r.stopReason } };
  }
  const includeUsage = call.includeUsage;
  async function* events(): AsyncIterable<unknown> {
    let offset = 0;
    for await (const chunk of generation) {
      if (withLogprobs && chunk.logprobs) yield shape(chunk.text, null, completionLogprobs([chunk], offset));
      else if (chunk.text) yield shape(chunk.text, null);
      offset += chunk.text.length;
    }
    const r = await generation.result;
    onEnd(finishReason(r), r.stats.generatedTokens);
    yield { ...shape("", finishReason(r)), stats: r.stats, stopReason: r.stopReason };
    if (includeUsage) yield { ...shape("", null), choices: [], usage: usage(r) };
  }
  return { kind: "events", events: events(), prime: 1 };
}

/** OpenAI's legacy `logprobs` of a completion: per token its text, log-probability, alternatives and offset in the text. */
interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[];
  text_offset: number[];
}

/** The legacy logprobs of `chunks` (those that carry them), whose text starts at `offset` in the completion. */
function completionLogprobs(chunks: readonly GenerateChunk[], offset: number): CompletionLogprobs {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  for (const c of chunks) {
    if (c.logprobs) {
      out.tokens.push(c.logprobs.text);
      out.token_logprobs.push(c.logprobs.logprob);
      out.top_logprobs.push(Object.fromEntries(c.logprobs.top.map((t) => [t.text, t.logprob])));
      out.text_offset.push(offset);
    }
    offset += c.text.length;
  }
  return out;
}
