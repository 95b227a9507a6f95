// The engine API's arguments, checked where they enter (client.ts, and createEngine / createLocalEngine) so that
// a wrong call is an OptionError naming the argument or option and what it got: a wrong type or null
// (BAD_ARGUMENT for a positional argument, BAD_OPTION for an options object), an option nobody knows
// (UNKNOWN_OPTION), one ternion knows but does not do (UNSUPPORTED_OPTION: OpenAI's tools…), a value out of range
// (BAD_OPTION_VALUE; a chat request's fields are options too). The callers turn these into rejected promises;
// nothing here runs the model. Checks that need the model (a token id against the vocabulary, a context length
// against the model's) stay where the model is.
import { OptionError } from "../runtime/errors.ts";
import { MAX_TOP_LOGPROBS } from "./logprobs.ts";
import { resolveSamplingOptions, type SamplingOptions } from "../runtime/sampling/options.ts";
import { constraintGrammar } from "../runtime/grammar/constraint-options.ts";
import type { DecodeOptions, EncodeOptions } from "../runtime/tokenizer/types.ts";
import { responseFormatCheck } from "./response-format.ts";
import type { EngineFinetuneOptions, EngineGenerateOptions, EngineOptions, EnginePerplexityOptions } from "./engine.ts";

/**
 * Says what a value should have been, or undefined when it is right. A fault in a part of the value names the
 * part (`at`, a path such as "json_schema.schema") and what that part is, so that the message shows what was wrong.
 */
type Check = (value: unknown) => string | PartFault | undefined;
export interface PartFault {
  expected: string;
  at: string;
  value: unknown;
}

/** "must be …, got …" for a value that failed its check. */
function mustBe(fault: string | PartFault, value: unknown): string {
  if (typeof fault === "string") return `must be ${fault}, got ${describe(value)}`;
  return `must be ${fault.expected}, got ${describe(fault.value)} for ${fault.at}`;
}

/** How a value is shown in a message: its JSON where short, else its kind. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") return String(value);
  if (typeof value === "string") return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === "function") return "a function";
  if (typeof value === "symbol") return "a symbol";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  const name = Object.getPrototypeOf(value)?.constructor?.name;
  return name && name !== "Object" ? `a ${name}` : "an object";
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export const checks = {
  integer:
    (min: number, max = Number.MAX_SAFE_INTEGER): Check =>
    (v) =>
      typeof v === "number" && Number.isSafeInteger(v) && v >= min && v <= max
        ? undefined
        : max === Number.MAX_SAFE_INTEGER
          ? `an integer ≥ ${min}`
          : `an integer in [${min}, ${max}]`,
  boolean: ((v) => (typeof v === "boolean" ? undefined : "true or false")) as Check,
  string: ((v) => (typeof v === "string" ? undefined : "a string")) as Check,
  function: ((v) => (typeof v === "function" ? undefined : "a function")) as Check,
  object: ((v) => (isObject(v) ? undefined : "an object")) as Check,
  oneOf:
    (...values: readonly string[]): Check =>
    (v) =>
      typeof v === "string" && values.includes(v)
        ? undefined
        : values
            .map((x) => JSON.stringify(x))
            .join(", ")
            .replace(/, ([^,]*)$/, " or $1"),
  signal: ((v) => (typeof AbortSignal !== "undefined" && v instanceof AbortSignal ? undefined : "an AbortSignal")) as Check,
  strings: ((v) => (Array.isArray(v) && v.every((s) => typeof s === "string") ? undefined : "an array of strings")) as Check,
  any: (() => undefined) as Check,
};

/**
 * Checks `options` (undefined, or an object whose keys are all in `spec` and whose defined values pass their
 * check). `what` names the call in messages ("generate").
 */
export function checkOptions(what: string, options: unknown, spec: Readonly<Record<string, Check>>): void {
  if (options === undefined) return;
  if (!isObject(options)) throw new OptionError("BAD_OPTION", `${what}'s options must be an object, got ${describe(options)}`);
  for (const [key, value] of Object.entries(options)) {
    const check = Object.hasOwn(spec, key) ? spec[key] : undefined;
    if (!check) throw new OptionError("UNKNOWN_OPTION", `unknown ${what} option "${key}" (known: ${Object.keys(spec).join(", ")})`, key);
    if (value === undefined) continue;
    const fault = check(value);
    if (fault !== undefined) throw new OptionError("BAD_OPTION_VALUE", `${what} option ${key} ${mustBe(fault, value)}`, key);
  }
}

/** A positional argument: `name` of `method` must pass `check`. */
export function checkArgument(method: string, name: string, value: unknown, check: Check): void {
  const fault = check(value);
  if (fault !== undefined) throw new OptionError("BAD_ARGUMENT", `${method}: ${name} ${mustBe(fault, value)}`);
}

// ---- the engine's calls ----

const SAMPLING_KEYS: readonly (keyof SamplingOptions)[] = [
  "temperature",
  "topK",
  "topP",
  "minP",
  "repeatPenalty",
  "frequencyPenalty",
  "presencePenalty",
  "repeatLastN",
  "seed",
];

const GENERATE_OPTIONS = {
  // The sampling values are checked together below, by options.ts's rules.
  temperature: checks.any,
  topK: checks.any,
  topP: checks.any,
  minP: checks.any,
  repeatPenalty: checks.any,
  frequencyPenalty: checks.any,
  presencePenalty: checks.any,
  repeatLastN: checks.any,
  seed: checks.any,
  maxTokens: checks.integer(0),
  repetitionPenalty: checks.any,
  stop: checks.strings,
  addBos: checks.boolean,
  ignoreEos: checks.boolean,
  contextShift: (v) => (v === true || v === false || v === "error" ? undefined : 'true, false or "error"'),
  contextKeep: checks.integer(0),
  logprobs: checks.integer(0, MAX_TOP_LOGPROBS),
  signal: checks.signal,
  grammar: checks.string,
  jsonSchema: (v) => (typeof v === "boolean" || isObject(v) ? undefined : "a JSON Schema (an object)"),
} satisfies Record<keyof EngineGenerateOptions, Check>;

/** A prompt: text, or token ids (integers; the vocabulary is checked by the model). */
export const promptCheck: Check = (v) =>
  typeof v === "string" ||
  ((Array.isArray(v) || v instanceof Int32Array || v instanceof Uint32Array) &&
    Array.prototype.every.call(v, (id: unknown) => typeof id === "number" && Number.isSafeInteger(id) && id >= 0))
    ? undefined
    : "a string or an array of token ids (integers ≥ 0)";

export function checkGenerateOptions(method: string, options: unknown): void {
  checkOptions(method, options, GENERATE_OPTIONS);
  if (options === undefined) return;
  const o = options as Record<string, unknown>;
  // Sampling values by the sampler's own rules (temperature ≥ 0, topP in (0, 1], …), repetitionPenalty as repeatPenalty.
  const sampling = Object.fromEntries(SAMPLING_KEYS.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
  if (o.repetitionPenalty !== undefined && sampling.repeatPenalty === undefined) sampling.repeatPenalty = o.repetitionPenalty;
  resolveSamplingOptions(sampling as SamplingOptions);
  // The grammar or schema compiles here, so that a bad one fails the call before it queues (GrammarError).
  constraintGrammar({ grammar: o.grammar as string | undefined, jsonSchema: o.jsonSchema });
}

export const TOKENIZE_OPTIONS = {
  addBos: checks.boolean,
  addEos: checks.boolean,
  parseSpecial: checks.boolean,
} satisfies Record<keyof EncodeOptions, Check>;
export const DETOKENIZE_OPTIONS = {
  removeSpecial: checks.boolean,
  unparseSpecial: checks.boolean,
  cleanSpaces: checks.boolean,
} satisfies Record<keyof DecodeOptions, Check>;
export const PERPLEXITY_OPTIONS = {
  ctx: checks.integer(4),
  signal: checks.signal,
  onWindow: checks.function,
} satisfies Record<keyof EnginePerplexityOptions, Check>;
export const RESTART_OPTIONS: Record<string, Check> = { backend: checks.oneOf("auto", "wasm", "webgpu") };
export const CHAT_CALL_OPTIONS: Record<string, Check> = { signal: checks.signal };

/** Token ids to decode: integers ≥ 0 (the vocabulary is checked by the model). */
export const tokensCheck: Check = (v) =>
  (Array.isArray(v) || v instanceof Int32Array || v instanceof Uint32Array) &&
  Array.prototype.every.call(v, (id: unknown) => typeof id === "number" && Number.isSafeInteger(id) && id >= 0)
    ? undefined
    : "an array of token ids (integers ≥ 0)";

const messagesCheck: Check = (v) => (Array.isArray(v) ? undefined : "an array of messages");

/**
 * A chat request's fields: OpenAI's that ternion does, llama.cpp's sampler extensions, and `context_shift`
 * (context-shift.ts). The sampling values are checked as generate options (chatOptions in client.ts).
 */
const CHAT_REQUEST_FIELDS: Record<string, Check> = {
  messages: messagesCheck,
  model: checks.string,
  stream: checks.boolean,
  stream_options: checks.object,
  user: checks.string,
  n: checks.integer(1),
  max_tokens: checks.integer(0),
  max_completion_tokens: checks.integer(0),
  temperature: checks.any,
  top_p: checks.any,
  seed: checks.any,
  stop: (v) => (typeof v === "string" || checks.strings(v) === undefined ? undefined : "a string or an array of strings"),
  frequency_penalty: checks.any,
  presence_penalty: checks.any,
  logprobs: checks.boolean,
  top_logprobs: checks.integer(0, MAX_TOP_LOGPROBS),
  response_format: responseFormatCheck,
  grammar: checks.string,
  // Only an empty bias (what some clients always send); any other is refused as unsupported first.
  logit_bias: (v) => (isObject(v) && Object.keys(v).length === 0 ? undefined : "an empty object"),
  top_k: checks.any,
  min_p: checks.any,
  repetition_penalty: checks.any,
  context_shift: GENERATE_OPTIONS.contextShift,
};

/** OpenAI's chat fields that ternion does not do (yet), and why. */
const CHAT_UNSUPPORTED_FIELDS: Record<string, string> = {
  tools: "tool calling is not implemented yet",
  tool_choice: "tool calling is not implemented yet",
  parallel_tool_calls: "tool calling is not implemented yet",
  functions: "function calling is not implemented yet",
  function_call: "function calling is not implemented yet",
  logit_bias: "logit biases are not implemented",
  audio: "a text model has no audio",
  modalities: "a text model answers in text only",
  prediction: "predicted outputs are not implemented",
  reasoning_effort: "the model has no reasoning setting",
  service_tier: "a local model has no service tiers",
  store: "nothing is stored",
  metadata: "nothing is stored to attach metadata to",
  web_search_options: "there is no web search",
};

/**
 * A chat request: an object (BAD_ARGUMENT), no field OpenAI has that ternion does not do (UNSUPPORTED_OPTION),
 * no field nobody knows (UNKNOWN_OPTION), every field's value of its type (BAD_OPTION_VALUE).
 */
export function checkChatRequest(request: unknown): void {
  const what = "chat.completions.create";
  checkArgument(what, "the request", request, checks.object);
  const r = request as Record<string, unknown>;
  for (const [field, why] of Object.entries(CHAT_UNSUPPORTED_FIELDS)) {
    if (r[field] === undefined) continue;
    if (field === "logit_bias" && isObject(r[field]) && Object.keys(r[field]).length === 0) continue; // an empty bias changes nothing
    throw new OptionError("UNSUPPORTED_OPTION", `${what} option "${field}" is not supported: ${why}`, field);
  }
  checkOptions(what, request, CHAT_REQUEST_FIELDS);
  if (r.messages === undefined) throw new OptionError("BAD_OPTION_VALUE", `${what} option messages is required (an array of messages)`, "messages");
  if (r.n !== undefined && r.n !== 1)
    throw new OptionError("UNSUPPORTED_OPTION", `${what} option "n" must be 1: one choice per request, got ${r.n}`, "n");
  if (r.top_logprobs !== undefined && r.logprobs !== true)
    throw new OptionError("BAD_OPTION_VALUE", `${what} option top_logprobs is only allowed with logprobs: true`, "top_logprobs");
}

/** applyChatTemplate's messages. */
export function checkMessagesArgument(method: string, messages: unknown): void {
  checkArgument(method, "messages", messages, messagesCheck);
}

// ---- finetune ----

/** The training values are left to train/finetune-run.ts, which checks them (ranges, schedules) with the model in hand. */
export const FINETUNE_OPTIONS = {
  dataTokens: checks.any,
  dataFree: checks.any,
  dataFreeTokens: checks.any,
  steps: checks.any,
  mode: checks.any,
  loss: checks.any,
  group: checks.any,
  lr: checks.any,
  warmup: checks.any,
  seqLen: checks.any,
  batch: checks.any,
  ce: checks.any,
  kl: checks.any,
  klTemperature: checks.any,
  seed: checks.any,
  salient: checks.any,
  salientMetric: checks.any,
  salientTrain: checks.any,
  checkpointEvery: checks.any,
  evalChars: checks.any,
  export: checks.any,
  threads: checks.any,
  teacher: checks.any,
  data: checks.string,
  evalText: checks.string,
  resumeFrom: (v) => (v instanceof Uint8Array ? undefined : "the bytes of a checkpoint (a Uint8Array)"),
  signal: checks.signal,
  onProgress: checks.function,
  onPhase: checks.function,
  onCheckpoint: checks.function,
  onNotice: checks.function,
} satisfies Record<keyof EngineFinetuneOptions, Check>;

// ---- loading ----

/** createLocalEngine's options (createEngine adds workerUrl). The model's own type is checked where it is opened. */
export const ENGINE_OPTIONS = {
  model: checks.any,
  backend: checks.oneOf("auto", "wasm", "webgpu"),
  gpu: (v) => (v === "webgpu" || isObject(v) ? undefined : 'a GPU object or "webgpu"'),
  threads: checks.integer(1, 1024),
  contextLength: checks.integer(1),
  kvType: checks.oneOf("f16", "f32", "q8_0"),
  headType: checks.oneOf("stored", "q8_0"),
  batchSize: checks.integer(1),
  wasmUrls: checks.object,
  hub: checks.object,
  cache: checks.boolean,
  cacheDir: checks.string,
  onProgress: checks.function,
  signal: checks.signal,
} satisfies Record<keyof EngineOptions, Check>;

export function checkEngineOptions(options: unknown, extra: Readonly<Record<string, Check>> = {}): void {
  if (!isObject(options)) throw new OptionError("BAD_OPTION", `the engine's options must be an object with a model, got ${describe(options)}`);
  if (options.model === undefined || options.model === null)
    throw new OptionError("BAD_OPTION", `options.model is required (a path, URL, Blob/File or bytes), got ${describe(options.model)}`);
  checkOptions("engine", options, { ...ENGINE_OPTIONS, ...extra });
}
