// Picks the next token from a logit vector, with llama.cpp's default chain and semantics:
//   penalties → top-k → top-p → min-p → temperature → draw
// (top-p and min-p see the distribution at temperature 1, as in llama.cpp, where temperature comes last).
// Temperature 0 is greedy: the most likely token after the penalties. The draw uses a seeded xoshiro128**,
// so the same seed and logits give the same tokens on every platform. (The weights go through Math.exp,
// which engines need not round identically; a last-bit difference could change a draw only if the random
// number fell within ~1e-16 of a boundary between two tokens.)
//
// Cost per token on a vocabulary of n: O(n) for the copy, the penalties and the selections; only the
// candidates that survive top-k (or the prefix that reaches top-p) are ever sorted.
import { OptionError } from "../errors.ts";
import { checkFiniteLogits } from "./finite-logits.ts";
import { resolveSamplingOptions, type ResolvedSamplingOptions, type SamplingOptions } from "./options.ts";
import { applyPenalties, PenaltyWindow } from "./penalties.ts";
import { Xoshiro128 } from "./prng.ts";
import { argmax, type SelectScratch, selectScratch, topKIndices } from "./select.ts";

/** What constrains the draw (a grammar: runtime/grammar/token-constraint.ts). */
export interface SamplingConstraint {
  /** Whether `token` may come next. */
  allows(token: number): boolean;
  /** Sets the logits of the tokens that may not come next to −∞ (throws when none may). */
  mask(logits: Float32Array): void;
}

/** First prefix size tried when top-p runs without top-k; grown ×8 until the prefix reaches p. */
const TOP_P_FIRST_PREFIX = 64;

export class Sampler {
  readonly options: Readonly<ResolvedSamplingOptions>;
  private rng: Xoshiro128;
  private readonly window: PenaltyWindow;
  // Work buffers, reused from token to token (a 128k vocabulary would otherwise allocate ~1 MiB per token).
  private work = new Float32Array(0);
  private indices = new Int32Array(0);
  private scratch: SelectScratch = selectScratch(0);
  private masked = new Float32Array(0);

  constructor(options: SamplingOptions = {}) {
    this.options = Object.freeze(resolveSamplingOptions(options));
    this.rng = new Xoshiro128(this.options.seed);
    this.window = new PenaltyWindow(this.options.repeatLastN);
  }

  /** Records a token the penalties should see (prompt tokens; `sample` records its own result). */
  accept(token: number): void {
    this.window.push(token);
  }

  /** Forgets the penalty history and restarts the random sequence from the seed. */
  reset(): void {
    this.window.clear();
    this.rng = new Xoshiro128(this.options.seed);
  }

  /**
   * Chooses the next token from `logits` (one per vocabulary entry) and records it. NaN or ±∞ among them is a
   * ModelError NON_FINITE_LOGITS, naming `position` (the sequence position the logits predict) when given.
   * With a `constraint`, the token is one it allows.
   */
  sample(logits: Float32Array, position?: number, constraint?: SamplingConstraint): number {
    let token = this.choose(logits, position);
    if (constraint && !constraint.allows(token)) {
      // llama.cpp's lazy constraint: only a refused draw pays for masking the vocabulary, then draws again
      // (which gives each allowed token the same probability as drawing from the masked logits at once).
      if (this.masked.length !== logits.length) this.masked = new Float32Array(logits.length);
      this.masked.set(logits);
      constraint.mask(this.masked);
      token = this.choose(this.masked, position, true);
    }
    this.accept(token);
    return token;
  }

  /**
   * The tokens the next draw would choose from (after penalties, top-k, top-p and min-p; only the most
   * likely one at temperature 0) with their penalised logits before temperature. Records nothing and draws
   * nothing: for tests and for UIs that show the alternatives.
   */
  candidates(logits: Float32Array): { ids: Int32Array; logits: Float32Array } {
    const ids = this.filter(logits).slice();
    return { ids, logits: Float32Array.from(ids, (t) => this.work[t]!) };
  }

  private choose(logits: Float32Array, position?: number, masked = false): number {
    const candidates = this.filter(logits, position, masked);
    // filter() keeps at least one candidate, each an index into `work`.
    return candidates.length === 1 ? candidates[0]! : this.draw(this.work, candidates, this.options.temperature);
  }

  /**
   * Fills `work` with the penalised logits and returns the surviving candidates (a view of a work buffer).
   * `masked` logits hold −∞ for refused tokens: their finite check was done on the logits before the mask.
   */
  private filter(logits: Float32Array, position?: number, masked = false): Int32Array {
    const n = logits.length;
    if (n === 0) throw new OptionError("BAD_LOGITS", "cannot sample from an empty logit vector");
    if (this.work.length !== n) {
      this.work = new Float32Array(n);
      this.indices = new Int32Array(n);
      this.scratch = selectScratch(n);
    }
    if (!masked) checkFiniteLogits(logits, position);
    const work = this.work;
    work.set(logits);
    applyPenalties(work, this.window, this.options);

    const { temperature, topK, topP, minP } = this.options;
    if (temperature === 0) {
      this.indices[0] = argmax(work);
      return this.indices.subarray(0, 1);
    }
    let candidates: Int32Array;
    let topPDone = false;
    if (topK > 0 && topK < n) {
      candidates = topKIndices(work, topK, this.scratch);
    } else if (topP < 1) {
      candidates = topPPrefix(work, topP, this.scratch);
      topPDone = true;
    } else {
      candidates = this.indices;
      for (let i = 0; i < n; i++) candidates[i] = i;
    }
    if (topP < 1 && !topPDone) candidates = cutTopP(work, candidates, topP);
    if (minP > 0) candidates = cutMinP(work, candidates, minP);
    return candidates;
  }

  /** Draws from softmax(logits / temperature) over the candidates. */
  private draw(work: Float32Array, candidates: Int32Array, temperature: number): number {
    let max = -Infinity;
    for (const t of candidates) if (work[t]! > max) max = work[t]!;
    if (max === -Infinity) return candidates[0]!; // nothing is possible: any choice is as good
    let sum = 0;
    for (const t of candidates) sum += Math.exp((work[t]! - max) / temperature);
    const target = this.rng.nextFloat() * sum;
    let acc = 0;
    for (const t of candidates) {
      acc += Math.exp((work[t]! - max) / temperature);
      if (acc > target) return t;
    }
    // Rounding may leave target just above the last partial sum: take the last possible token.
    for (let i = candidates.length - 1; i >= 0; i--) if (work[candidates[i]!]! > -Infinity) return candidates[i]!;
    return candidates[0]!;
  }
}

/** Largest logit first: the shortest prefix whose probability (over all of `work`) reaches p. */
function topPPrefix(work: Float32Array, p: number, scratch: SelectScratch): Int32Array {
  const n = work.length;
  const max = work[argmax(work)]!; // work is not empty: filter() checked
  if (max === -Infinity) return scratch.ids.subarray(0, 1).fill(0);
  let z = 0;
  for (let i = 0; i < n; i++) z += Math.exp(work[i]! - max);
  for (let size = Math.min(n, TOP_P_FIRST_PREFIX); ; size = Math.min(n, size * 8)) {
    const top = topKIndices(work, size, scratch);
    const cut = prefixReaching(work, top, p * z, max);
    if (cut <= top.length || size === n) return top.subarray(0, Math.min(cut, top.length));
  }
}

/** top-p over candidates sorted largest first, normalised over the candidates (as llama.cpp after top-k). */
function cutTopP(work: Float32Array, sorted: Int32Array, p: number): Int32Array {
  const max = work[sorted[0]!]!;
  if (max === -Infinity) return sorted.subarray(0, 1);
  let z = 0;
  for (const t of sorted) z += Math.exp(work[t]! - max);
  return sorted.subarray(0, Math.min(prefixReaching(work, sorted, p * z, max), sorted.length));
}

/** Length of the shortest prefix whose mass reaches `target` (at least 1); length + 1 when none does. */
function prefixReaching(work: Float32Array, sorted: Int32Array, target: number, max: number): number {
  let acc = 0;
  for (let i = 0; i < sorted.length; i++) {
    acc += Math.exp(work[sorted[i]!]! - max);
    if (acc >= target) return i + 1;
  }
  return sorted.length + 1;
}

/** Keeps tokens with probability ≥ minP × the largest, i.e. logit ≥ max + ln(minP); order is kept. */
function cutMinP(work: Float32Array, candidates: Int32Array, minP: number): Int32Array {
  let max = -Infinity;
  for (const t of candidates) if (work[t]! > max) max = work[t]!;
  const threshold = max + Math.log(minP);
  let kept = 0;
  for (const t of candidates) if (work[t]! >= threshold) candidates[kept++] = t;
  return candidates.subarray(0, Math.max(kept, 1));
}
