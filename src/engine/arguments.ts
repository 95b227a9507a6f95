// The engine API's arguments, checked where they enter (client.ts, and createEngine / createLocalEngine) so that
// a wrong call is an OptionError naming the argument or option and what it got: a wrong type or null
// (BAD_ARGUMENT for a positional argument, BAD_OPTION for an options object), an option nobody knows
// (UNKNOWN_OPTION), a value out of range (BAD_OPTION_VALUE). The callers turn these into rejected promises;
// nothing here runs the model. Checks that need the model (a token id against the vocabulary, a context length
// against the model's) stay where the model is.
import { OptionError } from "../runtime/errors.ts";
import { resolveSamplingOptions, type SamplingOptions } from "../runtime/sampling/options.ts";
import type { DecodeOptions, EncodeOptions } from "../runtime/tokenizer/types.ts";
import type { ChatCompletionRequest } from "./chat-types.ts";
import type { EngineFinetuneOptions, EngineGenerateOptions, EngineOptions, EnginePerplexityOptions } from "./engine.ts";

/** Says what a value should have been, or undefined when it is right. */
type Check = (value: unknown) => string | undefined;

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
    if (!check) throw new OptionError("UNKNOWN_OPTION", `unknown ${what} option "${key}" (known: ${Object.keys(spec).join(", ")})`);
    if (value === undefined) continue;
    const expected = check(value);
    if (expected !== undefined) throw new OptionError("BAD_OPTION_VALUE", `${what} option ${key} must be ${expected}, got ${describe(value)}`);
  }
}

/** A positional argument: `name` of `method` must pass `check`. */
export function checkArgument(method: string, name: string, value: unknown, check: Check): void {
  const expected = check(value);
  if (expected !== undefined) throw new OptionError("BAD_ARGUMENT", `${method}: ${name} must be ${expected}, got ${describe(value)}`);
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
  signal: checks.signal,
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

/** The chat request's fields that map to generate options are checked as those; the rest as OpenAI types them. */
export const CHAT_REQUEST_FIELDS: Partial<Record<keyof ChatCompletionRequest | "n", Check>> = {
  messages: (v) => (Array.isArray(v) ? undefined : "an array of messages"),
  model: checks.string,
  stream: checks.boolean,
  n: checks.integer(1, 1),
  max_tokens: checks.integer(0),
  max_completion_tokens: checks.integer(0),
  stop: (v) => (typeof v === "string" || checks.strings(v) === undefined ? undefined : "a string or an array of strings"),
};

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
  seed: checks.any,
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
} satisfies Record<keyof EngineFinetuneOptions, Check>;

// ---- loading ----

/** createLocalEngine's options (createEngine adds workerUrl). The model's own type is checked where it is opened. */
export const ENGINE_OPTIONS = {
  model: checks.any,
  backend: checks.oneOf("auto", "wasm", "webgpu"),
  gpu: (v) => (v === "webgpu" || isObject(v) ? undefined : 'a GPU object or "webgpu"'),
  threads: checks.integer(1, 1024),
  contextLength: checks.integer(1),
  kvType: checks.oneOf("f16", "f32"),
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
