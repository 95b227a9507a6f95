// Training batches from one token stream: `batch` sequences of `seqLen` inputs, each target the next token.
// Either sequential windows (a cursor walks the stream and wraps; the cursor is part of the checkpoint) or
// windows at random offsets drawn from the run's seeded PRNG (whose state is part of the checkpoint).
import type { Xoshiro128 } from "../runtime/sampling/prng.ts";

export interface Batch {
  /** [batch][seqLen] token ids, sequences back to back. */
  inputs: Int32Array;
  /** The next token of each input. */
  targets: Int32Array;
}

export type Sampling = "sequential" | "random";

function checkStream(tokens: ArrayLike<number>, seqLen: number): void {
  if (tokens.length < seqLen + 1) throw new RangeError(`${tokens.length} tokens cannot fill one window of ${seqLen} + 1`);
}

function fill(tokens: ArrayLike<number>, starts: number[], seqLen: number): Batch {
  const inputs = new Int32Array(starts.length * seqLen);
  const targets = new Int32Array(starts.length * seqLen);
  starts.forEach((s, b) => {
    for (let i = 0; i < seqLen; i++) {
      inputs[b * seqLen + i] = tokens[s + i]!;
      targets[b * seqLen + i] = tokens[s + i + 1]!;
    }
  });
  return { inputs, targets };
}

/** Windows at cursor, cursor + seqLen, …; a window that would run past the end restarts at 0. */
export function sequentialBatch(tokens: ArrayLike<number>, cursor: number, batch: number, seqLen: number): { batch: Batch; cursor: number } {
  checkStream(tokens, seqLen);
  const starts: number[] = [];
  let c = cursor;
  for (let b = 0; b < batch; b++) {
    if (c + seqLen + 1 > tokens.length) c = 0;
    starts.push(c);
    c += seqLen;
  }
  return { batch: fill(tokens, starts, seqLen), cursor: c };
}

/** Windows at uniformly drawn offsets (u32 modulo the range: the bias is below 2⁻¹⁰ for streams < 4M). */
export function randomBatch(tokens: ArrayLike<number>, rng: Xoshiro128, batch: number, seqLen: number): Batch {
  checkStream(tokens, seqLen);
  const range = tokens.length - seqLen;
  const starts: number[] = [];
  for (let b = 0; b < batch; b++) starts.push(rng.nextU32() % range);
  return fill(tokens, starts, seqLen);
}
