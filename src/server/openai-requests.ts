// The request bodies of /v1/chat/completions and /v1/completions, checked field by field with OpenAI's names (a
// bad field is a 400 naming it) and turned into the engine's calls. A chat request goes to
// engine.chat.completions.create as it came, less what only the server reads (stream_options, user): fields
// this file does not know are the engine's to accept or refuse, so chat options the engine learns (structured
// output, logprobs…) reach it without a change here.
import type { ChatCompletionRequest } from "../engine/chat-types.ts";
import type { EngineGenerateOptions } from "../engine/engine.ts";
import { badField, HttpError } from "./http-error.ts";
import { type ConstraintOptions, constraintGrammar } from "../runtime/grammar/constraint-options.ts";
import { TernionError } from "../runtime/errors.ts";

type Body = Record<string, unknown>;

interface NumberRule {
  integer?: boolean;
  min?: number;
  max?: number;
}

/** The sampling fields both endpoints take, with OpenAI's documented ranges; the engine checks its own too. */
const SAMPLING_FIELDS: Record<string, NumberRule> = {
  max_tokens: { integer: true, min: 1 },
  temperature: { min: 0, max: 2 },
  top_p: { min: 0, max: 1 },
  frequency_penalty: { min: -2, max: 2 },
  presence_penalty: { min: -2, max: 2 },
  seed: { integer: true },
  // llama.cpp's extensions, as the engine's chat takes them.
  top_k: { integer: true, min: 0 },
  min_p: { min: 0, max: 1 },
  repetition_penalty: { min: 0 },
};

/** What the server itself reads from a request, beside what goes to the engine. */
export interface StreamChoice {
  stream: boolean;
  /** stream_options.include_usage: a last chunk with `usage` and no choices. */
  includeUsage: boolean;
}

export interface ChatCall extends StreamChoice {
  request: ChatCompletionRequest;
}

export interface CompletionCall extends StreamChoice {
  prompt: string | number[];
  options: Omit<EngineGenerateOptions, "signal">;
}

/**
 * A chat request for the engine; `model` becomes the served model's id, and a request that gives no token limit
 * gets the server's `maxTokens` (with ignore_eos and context shift a generation need not end by itself).
 */
export function chatCall(body: Body, modelId: string, maxTokens: number): ChatCall {
  const { stream_options: _streamOptions, user: _user, ...rest } = withoutNulls(body);
  const choice = streamChoice(body);
  checkString(body, "model");
  checkString(body, "user");
  checkMessages(body.messages);
  for (const [name, rule] of Object.entries({ ...SAMPLING_FIELDS, max_completion_tokens: SAMPLING_FIELDS.max_tokens! }))
    checkNumber(body, name, rule);
  checkTokenCap(body, "max_tokens", maxTokens);
  checkTokenCap(body, "max_completion_tokens", maxTokens);
  checkStop(body.stop);
  if (body.n !== undefined && body.n !== null) checkNumber(body, "n", { integer: true, min: 1 });
  const limit = rest.max_tokens === undefined && rest.max_completion_tokens === undefined ? { max_tokens: maxTokens } : {};
  return { ...choice, request: { ...rest, ...limit, model: modelId, stream: choice.stream } as unknown as ChatCompletionRequest };
}

/** The completions fields this server takes; any other is refused (the engine's generate has no pass-through). */
const COMPLETION_FIELDS = new Set([
  "model",
  "prompt",
  "stream",
  "stream_options",
  "user",
  "stop",
  "n",
  "best_of",
  "echo",
  "logprobs",
  "suffix",
  "logit_bias",
  "ignore_eos",
  "grammar",
  "json_schema",
  ...Object.keys(SAMPLING_FIELDS),
]);

/** OpenAI's default for a legacy completion. */
const COMPLETION_MAX_TOKENS = 16;

/** A completion request as the engine's generate call; `maxTokens` is the server's cap on max_tokens. */
export function completionCall(body: Body, maxTokens: number): CompletionCall {
  body = withoutNulls(body);
  for (const key of Object.keys(body)) {
    if (!COMPLETION_FIELDS.has(key)) throw badField(key, "unknown field", "unknown_field");
  }
  const choice = streamChoice(body);
  checkString(body, "model");
  checkString(body, "user");
  for (const [name, rule] of Object.entries(SAMPLING_FIELDS)) checkNumber(body, name, rule);
  checkTokenCap(body, "max_tokens", maxTokens);
  checkStop(body.stop);
  for (const one of ["n", "best_of"]) {
    if (body[one] !== undefined && body[one] !== 1) throw badField(one, "must be 1: one choice per request", "unsupported_value");
  }
  if (body.ignore_eos !== undefined && typeof body.ignore_eos !== "boolean") throw badField("ignore_eos", "must be a boolean");
  if (body.echo !== undefined && body.echo !== false) throw badField("echo", "is not supported (only false)", "unsupported_value");
  // OpenAI's legacy completions take logprobs as the number of alternatives per token, at most 5.
  if (body.logprobs !== undefined) checkNumber(body, "logprobs", { integer: true, min: 0, max: 5 });
  if (body.suffix !== undefined) throw badField("suffix", "is not supported (no fill-in-the-middle)", "unsupported_value");
  if (body.logit_bias !== undefined && (typeof body.logit_bias !== "object" || Object.keys(body.logit_bias as object).length > 0)) {
    throw badField("logit_bias", "is not supported", "unsupported_value");
  }
  const options: Omit<EngineGenerateOptions, "signal"> = {
    maxTokens: (body.max_tokens as number | undefined) ?? Math.min(COMPLETION_MAX_TOKENS, maxTokens),
    temperature: body.temperature as number | undefined,
    topP: body.top_p as number | undefined,
    topK: body.top_k as number | undefined,
    minP: body.min_p as number | undefined,
    seed: body.seed as number | undefined,
    frequencyPenalty: body.frequency_penalty as number | undefined,
    presencePenalty: body.presence_penalty as number | undefined,
    repeatPenalty: body.repetition_penalty as number | undefined,
    stop: typeof body.stop === "string" ? [body.stop] : (body.stop as string[] | undefined),
    // llama.cpp's extension: generate exactly max_tokens (benchmarks).
    ignoreEos: body.ignore_eos as boolean | undefined,
    logprobs: body.logprobs as number | undefined,
    // llama.cpp's extensions: the text follows a GBNF grammar or is JSON valid against a schema.
    ...completionConstraint(body),
  };
  for (const k of Object.keys(options) as (keyof typeof options)[]) if (options[k] === undefined) delete options[k];
  return { ...choice, prompt: completionPrompt(body.prompt), options };
}

/** `grammar` / `json_schema` as generate's options, compiled here so that a bad one is a 400 naming its field. */
function completionConstraint(body: Body): ConstraintOptions {
  const options: ConstraintOptions = {};
  if (body.grammar !== undefined) options.grammar = body.grammar as string;
  if (body.json_schema !== undefined) options.jsonSchema = body.json_schema;
  try {
    constraintGrammar(options);
  } catch (e) {
    if (!(e instanceof TernionError)) throw e;
    throw new HttpError(400, e.code, e.message, { param: body.grammar !== undefined ? "grammar" : "json_schema" });
  }
  return options;
}

/** A JSON null stands for a field left out (clients send `"stop": null`, `"seed": null`). */
function withoutNulls(body: Body): Body {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== null));
}

function streamChoice(body: Body): StreamChoice {
  const stream = body.stream ?? false;
  if (typeof stream !== "boolean") throw badField("stream", "must be a boolean");
  const o = body.stream_options;
  if (o === undefined || o === null) return { stream, includeUsage: false };
  if (typeof o !== "object" || Array.isArray(o)) throw badField("stream_options", "must be an object");
  if (!stream) throw badField("stream_options", "is only allowed with stream: true");
  const include = (o as Body).include_usage ?? false;
  if (typeof include !== "boolean") throw badField("stream_options.include_usage", "must be a boolean");
  return { stream, includeUsage: include };
}

function checkString(body: Body, name: string): void {
  if (body[name] !== undefined && body[name] !== null && typeof body[name] !== "string") throw badField(name, "must be a string");
}

function checkNumber(body: Body, name: string, rule: NumberRule): void {
  const v = body[name];
  if (v === undefined || v === null) return;
  const what = rule.integer ? "an integer" : "a number";
  const range = rule.min !== undefined && rule.max !== undefined ? ` in [${rule.min}, ${rule.max}]` : rule.min !== undefined ? ` ≥ ${rule.min}` : "";
  if (typeof v !== "number" || !Number.isFinite(v) || (rule.integer && !Number.isInteger(v))) {
    throw badField(name, `must be ${what}${range}, got ${JSON.stringify(v)}`);
  }
  if ((rule.min !== undefined && v < rule.min) || (rule.max !== undefined && v > rule.max)) {
    throw badField(name, `must be ${what}${range}, got ${v}`);
  }
}

/** A token limit above the server's cap (`ternion serve --max-tokens`) is refused rather than lowered. */
function checkTokenCap(body: Body, name: string, maxTokens: number): void {
  const v = body[name];
  if (typeof v === "number" && v > maxTokens) throw badField(name, `must be at most ${maxTokens} (the server's --max-tokens), got ${v}`);
}

function checkStop(stop: unknown): void {
  if (stop === undefined || stop === null || typeof stop === "string") return;
  if (!Array.isArray(stop) || !stop.every((s) => typeof s === "string")) throw badField("stop", "must be a string or an array of strings");
}

function checkMessages(messages: unknown): void {
  if (messages === undefined) throw badField("messages", "is required", "missing_field");
  if (!Array.isArray(messages) || messages.length === 0) throw badField("messages", "must be a non-empty array");
  messages.forEach((m: unknown, i) => {
    const at = `messages[${i}]`;
    if (typeof m !== "object" || m === null || Array.isArray(m)) throw badField(at, "must be an object");
    const { role, content } = m as Body;
    if (typeof role !== "string") throw badField(`${at}.role`, "must be a string");
    if (typeof content === "string") return;
    if (!Array.isArray(content)) throw badField(`${at}.content`, "must be a string or an array of text parts");
    content.forEach((part: unknown, j) => {
      const p = part as Body | null;
      if (typeof p !== "object" || p === null || p.type !== "text" || typeof p.text !== "string") {
        throw badField(`${at}.content[${j}]`, 'must be a text part { type: "text", text } (only text is supported)');
      }
    });
  });
}

/** A completion prompt: text or token ids, or a list holding one of them (one choice per request). */
function completionPrompt(prompt: unknown, listed = false): string | number[] {
  if (prompt === undefined) throw badField("prompt", "is required", "missing_field");
  if (typeof prompt === "string") return prompt;
  const shape = "must be a string, an array of token ids, or a list of one of them";
  if (!Array.isArray(prompt) || prompt.length === 0) throw badField("prompt", shape);
  if (prompt.every((t) => Number.isInteger(t) && t >= 0)) return prompt as number[];
  if (listed) throw badField("prompt", shape);
  if (prompt.length > 1) throw new HttpError(400, "UNSUPPORTED_VALUE", "prompt: only one prompt per request is supported", { param: "prompt" });
  return completionPrompt(prompt[0], true);
}
