// Token ids → bytes → text, following llama.cpp's token_to_piece and detokenize: control and unknown tokens
// vanish unless asked for, SentencePiece "▁" becomes a space, byte tokens are raw bytes, byte-level BPE
// characters map back to bytes; the leading space the tokenizer added is removed once; optional
// clean-up of spaces before punctuation.
import { TokenizerError } from "../errors.ts";
import { CHAR_TO_BYTE } from "./byte-unicode.ts";
import { TokenAttr } from "./types.ts";
import type { Vocab } from "./vocab.ts";

const utf8 = new TextEncoder();
const EMPTY = new Uint8Array(0);

export class Detokenizer {
  /** Pieces with control tokens rendered (llama.cpp's cache_token_to_piece), filled on first use. */
  private readonly pieces: (Uint8Array | undefined)[];

  constructor(
    private readonly vocab: Vocab,
    /** Whether the tokenizer adds a leading space that decoding should take back (SentencePiece). */
    private readonly addSpacePrefix: boolean,
    readonly cleanSpaces: boolean,
  ) {
    this.pieces = new Array(vocab.tokens.length);
  }

  /** The bytes of one token; `special` renders control/unknown tokens as their text. */
  piece(id: number, special: boolean): Uint8Array {
    const attrs = this.vocab.attrs;
    if (!Number.isInteger(id) || id < 0 || id >= attrs.length) {
      throw new TokenizerError("BAD_TOKEN_ID", `token id ${id} is outside the vocabulary (size ${attrs.length})`);
    }
    if (!special && attrs[id]! & (TokenAttr.UNKNOWN | TokenAttr.CONTROL)) return EMPTY;
    return (this.pieces[id] ??= this.renderPiece(id));
  }

  private renderPiece(id: number): Uint8Array {
    // `id` was checked against the vocabulary in piece().
    const text = this.vocab.tokens[id]!;
    const attr = this.vocab.attrs[id]!;
    if (attr & (TokenAttr.UNKNOWN | TokenAttr.CONTROL | TokenAttr.USER_DEFINED)) return utf8.encode(text);
    if (attr & TokenAttr.NORMAL) {
      return this.vocab.kind === "spm" ? utf8.encode(text.replaceAll("\u2581", " ")) : decodeByteChars(text);
    }
    if (attr & TokenAttr.BYTE) return Uint8Array.of(parseInt(text.slice(3, 5), 16));
    // Unused and undefined tokens have no text, as in llama.cpp.
    return EMPTY;
  }

  /** llama.cpp llama_detokenize, returning bytes (which may end in the middle of a character). */
  detokenizeBytes(ids: ArrayLike<number>, removeSpecial: boolean, unparseSpecial: boolean, cleanSpaces: boolean): Uint8Array {
    const { vocab } = this;
    let begin = 0;
    let end = ids.length;
    let removeSpace = this.addSpacePrefix;
    if (removeSpecial && vocab.addBos && end > 0 && ids[0] === vocab.bos) {
      // The space after an explicit BOS is kept: llama.cpp only strips it when the text starts the sequence.
      removeSpace = false;
      begin++;
    }
    if (removeSpecial && vocab.addEos && end > begin && ids[end - 1] === vocab.eos) end--;

    const parts: Uint8Array[] = [];
    let total = 0;
    for (let i = begin; i < end; i++) {
      let p = this.piece(ids[i]!, unparseSpecial);
      if (removeSpace && p.length > 0 && p[0] === 0x20) p = p.subarray(1);
      removeSpace = false;
      parts.push(p);
      total += p.length;
    }
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return cleanSpaces ? cleanUpSpaces(out) : out;
  }
}

/** Byte-level BPE token text → bytes; a character outside the map becomes llama.cpp's "[UNK_BYTE_…]" marker. */
function decodeByteChars(text: string): Uint8Array {
  const bytes: number[] = [];
  for (const ch of text) {
    const b = CHAR_TO_BYTE.get(ch.codePointAt(0)!);
    if (b !== undefined) {
      bytes.push(b);
      continue;
    }
    const hex = Array.from(utf8.encode(ch), (x) => x.toString(16).padStart(2, "0")).join("");
    bytes.push(...utf8.encode(`[UNK_BYTE_0x${hex}${text}]`));
  }
  return Uint8Array.from(bytes);
}

const SPACE = 0x20;
const APOS = 0x27;
const code = (c: string) => c.charCodeAt(0);

/**
 * llama.cpp's three clean_up_tokenization_spaces passes, in place on the bytes: drop the space before
 * ? ! . , ; turn " ' " into "'"; drop the space before 's 'm 're 've.
 */
export function cleanUpSpaces(input: Uint8Array): Uint8Array {
  const t = input.slice();
  let total = t.length;

  const n1 = total;
  total = n1 > 0 ? 1 : 0;
  for (let i = 1; i < n1; i++) {
    const x = t[i]!;
    if (t[i - 1] === SPACE && (x === code("?") || x === code("!") || x === code(".") || x === code(","))) total--;
    t[total++] = x;
  }

  const n2 = total;
  total = n2 > 0 ? 1 : 0;
  for (let i = 1; i < n2; i++) {
    const x = t[i]!;
    if (x === APOS && i + 1 < n2 && t[i - 1] === SPACE && t[i + 1] === SPACE) {
      total--; // the space before
      t[++i] = 0; // and the space after, which the loop then skips
    }
    t[total++] = x;
  }

  const n3 = total;
  total = n3 > 0 ? 1 : 0;
  for (let i = 1; i < n3; i++) {
    const x = t[i]!;
    if (t[i - 1] === SPACE && x === APOS && i + 1 < n3) {
      const x1 = t[i + 1];
      if (x1 === code("s") || x1 === code("m")) total--;
      else if (i + 2 < n3) {
        const x2 = t[i + 2];
        if ((x1 === code("r") && x2 === code("e")) || (x1 === code("v") && x2 === code("e"))) total--;
      }
    }
    t[total++] = x;
  }
  return t.subarray(0, total);
}
