// NaN or ±∞ in a logit vector means the model's arithmetic broke (non-finite weights, an overflow): sampling
// from it would pick token 0 over and over and call it text, and perplexity would print NaN. Both refuse it.
//
// The check runs on every token, so it is one pass that sums the logits in f64 and tests the sum: a NaN or an
// infinity makes the sum non-finite, and finite f32 values cannot overflow an f64 sum (2^21 × 3.4e38 ≪ 1.8e308).
// Only a failing vector is searched for the offending entry, to name it.
import { ModelError } from "../errors.ts";

/**
 * Throws ModelError NON_FINITE_LOGITS when `logits` holds NaN or ±∞, naming the first such token id and, where
 * the caller gives it, the sequence position of the token these logits predict.
 */
export function checkFiniteLogits(logits: Float32Array, position?: number): void {
  // Four sums, so that the additions do not wait on each other.
  const n = logits.length;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += logits[i]!;
    s1 += logits[i + 1]!;
    s2 += logits[i + 2]!;
    s3 += logits[i + 3]!;
  }
  for (; i < n; i++) s0 += logits[i]!;
  if (Number.isFinite(s0 + s1 + s2 + s3)) return;
  let at = 0;
  while (at < logits.length && Number.isFinite(logits[at]!)) at++;
  const where = position === undefined ? "" : ` for position ${position}`;
  throw new ModelError(
    "NON_FINITE_LOGITS",
    `the model computed a non-finite logit${where}: token ${at} is ${logits[at]} (its weights hold NaN or infinity, or a tensor's data is not of its stated type)`,
  );
}
