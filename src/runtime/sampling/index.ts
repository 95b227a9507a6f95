// Token sampling and stop strings.
export { Sampler } from "./sampler.ts";
export { resolveSamplingOptions, SAMPLING_DEFAULTS, type ResolvedSamplingOptions, type SamplingOptions } from "./options.ts";
export { Xoshiro128 } from "./prng.ts";
export { topKIndices, argmax } from "./select.ts";
export { applyPenalties, PenaltyWindow, type PenaltyOptions } from "./penalties.ts";
export { StopMatcher, type StopResult } from "./stop.ts";
