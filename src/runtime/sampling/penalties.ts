// Repetition, frequency and presence penalties over the last N tokens, as llama.cpp's penalties sampler:
// for every token that occurs c > 0 times in the window,
//   logit = logit ≤ 0 ? logit · repeat : logit / repeat      (so a penalty > 1 always makes it less likely)
//   logit −= c · frequency + presence
// The window keeps its counts up to date as tokens enter and leave, so applying costs O(distinct tokens).

export class PenaltyWindow {
  private readonly ring: number[] = [];
  private head = 0;
  private readonly counts = new Map<number, number>();

  /** `size`: tokens kept (0: none, −1: all). */
  constructor(private readonly size: number) {}

  push(token: number): void {
    if (this.size === 0) return;
    if (this.size > 0 && this.ring.length === this.size) {
      const old = this.ring[this.head]!;
      this.ring[this.head] = token;
      this.head = (this.head + 1) % this.size;
      const c = this.counts.get(old)! - 1;
      if (c === 0) this.counts.delete(old);
      else this.counts.set(old, c);
    } else {
      this.ring.push(token);
    }
    this.counts.set(token, (this.counts.get(token) ?? 0) + 1);
  }

  clear(): void {
    this.ring.length = 0;
    this.head = 0;
    this.counts.clear();
  }

  /** Occurrences of each token in the window. */
  entries(): IterableIterator<[number, number]> {
    return this.counts.entries();
  }
}

export interface PenaltyOptions {
  repeatPenalty: number;
  frequencyPenalty: number;
  presencePenalty: number;
}

/** Whether the penalties leave every logit as it is. */
export function penaltiesAreOff(o: PenaltyOptions): boolean {
  return o.repeatPenalty === 1 && o.frequencyPenalty === 0 && o.presencePenalty === 0;
}

/** Applies the penalties in place to `logits` (indexed by token id; ids outside it are ignored). */
export function applyPenalties(logits: Float32Array, window: PenaltyWindow, o: PenaltyOptions): void {
  if (penaltiesAreOff(o)) return;
  for (const [token, count] of window.entries()) {
    if (token < 0 || token >= logits.length) continue;
    let l = logits[token]!;
    l = l <= 0 ? l * o.repeatPenalty : l / o.repeatPenalty;
    logits[token] = l - count * o.frequencyPenalty - o.presencePenalty;
  }
}
