// Sampling options, their defaults (llama.cpp's common_params_sampling) and their validation. Every bad
// value is an OptionError naming the option, so a typo in a UI slider never becomes silent nonsense.
import { OptionError } from "../errors.ts";

export interface SamplingOptions {
  /** Softmax temperature; 0 picks the most likely token (greedy). Default 0.8. */
  temperature?: number;
  /** Keep only the k most likely tokens; 0 disables. Default 40. */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p; 1 disables. Default 0.95. */
  topP?: number;
  /** Drop tokens less likely than minP × the most likely one; 0 disables. Default 0.05. */
  minP?: number;
  /** Divides positive logits and multiplies negative ones of recent tokens; 1 disables. Default 1. */
  repeatPenalty?: number;
  /** Subtracted from a recent token's logit once per occurrence. Default 0. */
  frequencyPenalty?: number;
  /** Subtracted once from the logit of every token that occurs recently. Default 0. */
  presencePenalty?: number;
  /** How many of the last tokens the penalties look at; 0 disables them, −1 means all. Default 64. */
  repeatLastN?: number;
  /** u32 seed: the same seed and inputs give the same tokens everywhere. Default: a random seed. */
  seed?: number;
}

export type ResolvedSamplingOptions = Required<SamplingOptions>;

export const SAMPLING_DEFAULTS: Readonly<Omit<ResolvedSamplingOptions, "seed">> = {
  temperature: 0.8,
  topK: 40,
  topP: 0.95,
  minP: 0.05,
  repeatPenalty: 1,
  frequencyPenalty: 0,
  presencePenalty: 0,
  repeatLastN: 64,
};

type Check = (v: number) => boolean;
const RULES: Record<keyof SamplingOptions, [Check, string]> = {
  temperature: [(v) => Number.isFinite(v) && v >= 0, "a finite number ≥ 0"],
  topK: [(v) => Number.isSafeInteger(v) && v >= 0, "an integer ≥ 0"],
  topP: [(v) => v > 0 && v <= 1, "in (0, 1]"],
  minP: [(v) => v >= 0 && v <= 1, "in [0, 1]"],
  repeatPenalty: [(v) => Number.isFinite(v) && v > 0, "a finite number > 0"],
  frequencyPenalty: [Number.isFinite, "a finite number"],
  presencePenalty: [Number.isFinite, "a finite number"],
  repeatLastN: [(v) => Number.isSafeInteger(v) && v >= -1, "an integer ≥ −1"],
  seed: [(v) => Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff, "an integer in [0, 2^32)"],
};

/** Checks `options` (unknown keys included) and fills in the defaults. */
export function resolveSamplingOptions(options: SamplingOptions = {}): ResolvedSamplingOptions {
  for (const [name, value] of Object.entries(options)) {
    const rule = RULES[name as keyof SamplingOptions];
    if (!rule) throw new OptionError("UNKNOWN_OPTION", `unknown sampling option "${name}"`, name);
    if (value === undefined) continue;
    if (typeof value !== "number" || !rule[0](value)) {
      throw new OptionError("BAD_OPTION_VALUE", `sampling option ${name} must be ${rule[1]}, got ${String(value)}`, name);
    }
  }
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  return { ...SAMPLING_DEFAULTS, ...defined, seed: options.seed ?? randomSeed() };
}

/** A fresh seed when none is given: from the platform's CSPRNG (browsers, Node ≥ 20, Deno all have it). */
function randomSeed(): number {
  return globalThis.crypto.getRandomValues(new Uint32Array(1))[0]!;
}
