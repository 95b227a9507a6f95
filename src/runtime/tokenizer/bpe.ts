// Byte-level BPE on one pre-tokenized word (llama.cpp llm_tokenizer_bpe_session): the word arrives as GPT-2
// byte characters, starts as one symbol per byte, and the adjacent pair with the lowest merge rank is merged
// until no ranked pair is left (ties: the leftmost pair). A heap of candidate pairs keeps this O(n log n);
// results are cached per word because natural text repeats its words.
import { Heap } from "./heap.ts";
import type { Vocab } from "./vocab.ts";

interface Bigram {
  left: number;
  right: number;
  rank: number;
  /** Length of the merged text when queued; a mismatch later means the entry is stale. */
  size: number;
}

const lowerRankFirst = (a: Bigram, b: Bigram) => a.rank < b.rank || (a.rank === b.rank && a.left < b.left);
const utf8 = new TextEncoder();
const CACHE_LIMIT = 65_536;

export class BpeModel {
  /** "left right" → merge rank (its index in tokenizer.ggml.merges; the first occurrence wins). */
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, readonly number[]>();

  /**
   * @param ignoreMerges a word that is itself a vocabulary token is emitted whole, without merging
   *   (llama.cpp sets this for the llama-3 family).
   */
  constructor(
    private readonly vocab: Vocab,
    merges: readonly string[],
    private readonly ignoreMerges: boolean,
  ) {
    merges.forEach((merge, rank) => {
      // Split at the first space after the first character, as llama.cpp does.
      const at = merge.indexOf(" ", 1);
      const key = at < 0 ? " " : merge.slice(0, at) + " " + merge.slice(at + 1);
      if (!this.ranks.has(key)) this.ranks.set(key, rank);
    });
  }

  /** Appends the tokens of one byte-encoded word to `out`. */
  encodeWord(word: string, out: number[]): void {
    let ids = this.cache.get(word);
    if (ids === undefined) {
      ids = this.merge(word);
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(word, ids);
    }
    for (const id of ids) out.push(id);
  }

  private merge(word: string): number[] {
    const { tokenToId } = this.vocab;
    const whole = tokenToId.get(word);
    if (this.ignoreMerges && whole !== undefined) return [whole];

    // GPT-2 byte characters are all in the BMP, so one UTF-16 unit is one symbol.
    const count = word.length;
    const start = new Int32Array(count);
    const len = new Int32Array(count).fill(1);
    const prev = new Int32Array(count);
    const next = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      start[i] = i;
      prev[i] = i - 1;
      next[i] = i + 1 < count ? i + 1 : -1;
    }

    const queue = new Heap<Bigram>(lowerRankFirst);
    const tryAdd = (left: number, right: number) => {
      if (left < 0 || right < 0) return;
      const l = start[left]!;
      const key = word.slice(l, l + len[left]!) + " " + word.slice(start[right]!, start[right]! + len[right]!);
      const rank = this.ranks.get(key);
      if (rank !== undefined) queue.push({ left, right, rank, size: len[left]! + len[right]! });
    };
    for (let i = 1; i < count; i++) tryAdd(i - 1, i);

    for (let b = queue.pop(); b !== undefined; b = queue.pop()) {
      const { left, right } = b;
      if (len[left] === 0 || len[right] === 0 || len[left]! + len[right]! !== b.size) continue;
      len[left]! += len[right]!;
      len[right] = 0;
      next[left] = next[right]!;
      if (next[right]! >= 0) prev[next[right]!] = left;
      tryAdd(prev[left]!, left);
      tryAdd(left, next[left]!);
    }

    const ids: number[] = [];
    for (let i = 0; i !== -1 && count > 0; i = next[i]!) {
      const piece = word.slice(start[i]!, start[i]! + len[i]!);
      const id = tokenToId.get(piece);
      if (id !== undefined) {
        ids.push(id);
        continue;
      }
      // A merge result missing from the vocabulary: llama.cpp looks up each UTF-8 byte of the piece as a
      // one-byte token and silently drops the bytes that have none (only ASCII can match).
      for (const byte of utf8.encode(piece)) {
        const single = byte < 0x80 ? tokenToId.get(String.fromCharCode(byte)) : undefined;
        if (single !== undefined) ids.push(single);
      }
    }
    return ids;
  }
}
