// SentencePiece-style tokenization as llama.cpp does it (llm_tokenizer_spm): start from single code points,
// repeatedly merge the adjacent pair whose concatenation is the highest-scoring vocabulary token (ties: the
// leftmost pair), and write code points that never became a token as byte-fallback tokens <0xNN>.
import { TokenizerError } from "../errors.ts";
import { NULL_TOKEN, type Vocab } from "./vocab.ts";

/**
 * Candidate merges, best first: highest score, then leftmost. Kept in typed arrays rather than objects because
 * a megabyte of text queues millions of candidates and an object heap is dominated by cache misses and GC.
 */
class BigramQueue {
  private score = new Float64Array(64);
  private left = new Int32Array(64);
  private right = new Int32Array(64);
  private size = new Int32Array(64);
  length = 0;
  /** The entry last returned by pop(). */
  topLeft = 0;
  topRight = 0;
  topSize = 0;

  push(score: number, left: number, right: number, size: number): void {
    if (this.length === this.score.length) this.grow();
    let i = this.length++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(score, left, p)) break;
      this.move(p, i);
      i = p;
    }
    this.set(i, score, left, right, size);
  }

  pop(): boolean {
    if (this.length === 0) return false;
    this.topLeft = this.left[0]!;
    this.topRight = this.right[0]!;
    this.topSize = this.size[0]!;
    const n = --this.length;
    if (n > 0) {
      const score = this.score[n]!,
        left = this.left[n]!,
        right = this.right[n]!,
        size = this.size[n]!;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const child = r < n && this.before(this.score[r]!, this.left[r]!, l) ? r : l;
        if (!this.before(this.score[child]!, this.left[child]!, -1, score, left)) break;
        this.move(child, i);
        i = child;
      }
      this.set(i, score, left, right, size);
    }
    return true;
  }

  /** Whether (score, left) pops before entry j, or before (score2, left2) when j < 0. */
  private before(score: number, left: number, j: number, score2 = this.score[j]!, left2 = this.left[j]!): boolean {
    return score > score2 || (score === score2 && left < left2);
  }

  private move(from: number, to: number): void {
    this.set(to, this.score[from]!, this.left[from]!, this.right[from]!, this.size[from]!);
  }

  private set(i: number, score: number, left: number, right: number, size: number): void {
    this.score[i] = score;
    this.left[i] = left;
    this.right[i] = right;
    this.size[i] = size;
  }

  private grow(): void {
    const n = this.score.length * 2;
    const grow = <A extends Float64Array | Int32Array>(a: A, b: A) => (b.set(a), b);
    this.score = grow(this.score, new Float64Array(n));
    this.left = grow(this.left, new Int32Array(n));
    this.right = grow(this.right, new Int32Array(n));
    this.size = grow(this.size, new Int32Array(n));
  }
}

const utf8 = new TextEncoder();

export class SpmModel {
  /** Byte value → its fallback token ("<0xNN>", else the one-byte string itself, as llama.cpp tries). */
  private readonly byteTokens = new Int32Array(256).fill(NULL_TOKEN);

  /**
   * Code points that occur in some token of two or more code points. Any other code point can never be part
   * of a merge, so it splits the text into independent merge problems: same result, much smaller queues.
   */
  private readonly mergeable = new Set<number>();
  /** Reused across runs (encode is synchronous, so one at a time): most runs are a line or shorter. */
  private readonly queue = new BigramQueue();
  private symbols = { len: new Int32Array(64), prev: new Int32Array(64), next: new Int32Array(64) };

  constructor(private readonly vocab: Vocab) {
    const hex = (b: number) => b.toString(16).toUpperCase().padStart(2, "0");
    for (let b = 0; b < 256; b++) {
      const id = vocab.tokenToId.get(`<0x${hex(b)}>`) ?? (b < 0x80 ? vocab.tokenToId.get(String.fromCharCode(b)) : undefined);
      if (id !== undefined) this.byteTokens[b] = id;
    }
    for (const token of vocab.tokens) {
      let n = 0;
      for (const _ of token) if (++n > 1) break;
      if (n > 1) for (const ch of token) this.mergeable.add(ch.codePointAt(0)!);
    }
  }

  /**
   * Tokenizes one text fragment that already has the space prefix and ▁ escaping applied, appending to `out`.
   * SentencePiece has no pre-tokenizer: merges may span the whole fragment, except across code points that
   * no multi-character token contains (a newline, in most vocabularies).
   */
  encode(text: string, out: number[]): void {
    let runStart = 0;
    for (let i = 0; i < text.length; ) {
      const cp = text.codePointAt(i)!;
      const width = cp > 0xffff ? 2 : 1;
      if (!this.mergeable.has(cp)) {
        if (i > runStart) this.encodeRun(text.slice(runStart, i), out);
        this.encodeRun(text.slice(i, i + width), out);
        runStart = i + width;
      }
      i += width;
    }
    if (runStart < text.length) this.encodeRun(text.slice(runStart), out);
  }

  /** The llama.cpp merge loop over one run of text. */
  private encodeRun(text: string, out: number[]): void {
    const { tokenToId, scores } = this.vocab;
    // Symbols are code points, kept as a doubly linked list of [start, start + len) spans of `text`.
    const start: number[] = [];
    for (let i = 0; i < text.length; ) {
      start.push(i);
      i += text.codePointAt(i)! > 0xffff ? 2 : 1;
    }
    const count = start.length;
    if (count === 0) return;
    if (this.symbols.len.length < count) {
      const n = Math.max(count, 2 * this.symbols.len.length);
      this.symbols = { len: new Int32Array(n), prev: new Int32Array(n), next: new Int32Array(n) };
    }
    const { len, prev, next } = this.symbols;
    for (let i = 0; i < count; i++) {
      len[i] = (i + 1 < count ? start[i + 1]! : text.length) - start[i]!;
      prev[i] = i - 1;
      next[i] = i + 1 < count ? i + 1 : -1;
    }

    const queue = this.queue;
    queue.length = 0;
    const tryAdd = (left: number, right: number) => {
      if (left < 0 || right < 0) return;
      const size = len[left]! + len[right]!;
      const id = tokenToId.get(text.slice(start[left]!, start[left]! + size));
      // The size recorded now tells a stale entry later: a symbol that changed since has grown or emptied.
      if (id !== undefined) queue.push(scores[id]!, left, right, size);
    };
    for (let i = 1; i < count; i++) tryAdd(i - 1, i);

    while (queue.pop()) {
      const left = queue.topLeft;
      const right = queue.topRight;
      if (len[left] === 0 || len[right] === 0 || len[left]! + len[right]! !== queue.topSize) continue;
      len[left]! += len[right]!;
      len[right] = 0;
      next[left] = next[right]!;
      if (next[right]! >= 0) prev[next[right]!] = left;
      tryAdd(prev[left]!, left);
      tryAdd(left, next[left]!);
    }

    // Every merged symbol is a vocabulary token by construction; only single code points can be missing, and
    // those fall back to bytes (llama.cpp's resegment never finds a merge record for them).
    for (let i = 0; i !== -1; i = next[i]!) {
      const piece = text.slice(start[i]!, start[i]! + len[i]!);
      const id = tokenToId.get(piece);
      if (id !== undefined) out.push(id);
      else for (const byte of utf8.encode(piece)) out.push(this.byteToken(byte));
    }
  }

  private byteToken(byte: number): number {
    const id = this.byteTokens[byte]!;
    if (id !== NULL_TOKEN) return id;
    // llama.cpp aborts here; a vocabulary without byte tokens degrades to <unk> instead.
    if (this.vocab.unk !== NULL_TOKEN) return this.vocab.unk;
    throw new TokenizerError("NO_BYTE_TOKEN", `no byte-fallback token for byte 0x${byte.toString(16)}`);
  }
}
