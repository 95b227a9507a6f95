// Pre-tokenizers of byte-level BPE vocabularies: the regex that cuts text into words before merging, chosen
// by `tokenizer.ggml.pre`, with the tokenizer flags llama.cpp ties to the same name.
//
// llama.cpp runs hand-written scanners for the GPT-2 and llama-3 patterns (unicode.cpp); they behave as the
// regexes below provided that `\s` means Unicode White_Space. JavaScript's `\s` differs (it includes U+FEFF
// and lacks U+0085), so the patterns spell the class out.
import type { TokenizerWarningHandler } from "./types.ts";

const WS = "\\t-\\r \\x85\\xA0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000";
const S = `[${WS}]`;
const NOT_S = `[^${WS}]`;

/** GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
const GPT2 = `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WS}\\p{L}\\p{N}]+|${S}+(?!${NOT_S})|${S}+`;

/** llama-3: case-insensitive contractions, a letter run with one leading non-letter, digits in groups of 1–3. */
const LLAMA3 =
  `'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}` +
  `| ?[^${WS}\\p{L}\\p{N}]+[\\r\\n]*|${S}*[\\r\\n]+|${S}+(?!${NOT_S})|${S}+`;

/**
 * llama.cpp's "default" (no or unrecognised-by-converter pre-tokenizer): four passes, each cutting the pieces
 * of the previous one — punctuation runs, the GPT-2 pattern, digit runs, then ASCII digit triples.
 */
const DEFAULT_PASSES = ["[\\p{P}$+<=>^~|]+", GPT2, "\\p{N}+", "[0-9][0-9][0-9]"];

export type PretokenizerName = "gpt2" | "llama3" | "default";

export interface Pretokenizer {
  readonly name: PretokenizerName;
  /** Cuts text into words (plain text; byte encoding happens afterwards). */
  split(text: string): string[];
  /** A word that is a whole vocabulary token skips merging (llama-3 family). */
  readonly ignoreMerges: boolean;
  /** llama.cpp's add_bos default for this family (the GGUF's add_bos_token overrides it). */
  readonly addBosDefault: boolean;
  /** Whether decoding applies llama.cpp's clean_up_tokenization_spaces passes by default. */
  readonly cleanSpaces: boolean;
}

const LLAMA3_NAMES = ["llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"];
const LLAMA3_REGEX_ONLY = ["dbrx", "smaug-bpe"];
const GPT2_NAMES = [
  "gpt2",
  "gpt-2",
  "phi-2",
  "jina-es",
  "jina-de",
  "gigachat",
  "jina-v2-es",
  "jina-v2-de",
  "a.x-4.0",
  "mellum",
  "modern-bert",
  "mpt",
  "olmo",
  "jais",
  "exaone4",
  "jina-v1-en",
  "jina-v2-code",
  "roberta-bpe",
];
const GPT2_NO_CLEAN = ["trillion", "granite-docling"];

export function pretokenizerFor(pre: string, warn: TokenizerWarningHandler): Pretokenizer {
  if (pre === "" || pre === "default") {
    if (pre === "") warn("missing tokenizer.ggml.pre, using the 'default' pre-tokenizer");
    return make("default", DEFAULT_PASSES, { ignoreMerges: false, addBosDefault: false, cleanSpaces: true });
  }
  if (LLAMA3_NAMES.includes(pre)) {
    return make("llama3", [LLAMA3], { ignoreMerges: true, addBosDefault: true, cleanSpaces: true });
  }
  if (LLAMA3_REGEX_ONLY.includes(pre)) {
    return make("llama3", [LLAMA3], { ignoreMerges: false, addBosDefault: false, cleanSpaces: true });
  }
  const known = GPT2_NAMES.includes(pre) || GPT2_NO_CLEAN.includes(pre);
  if (!known) warn(`unknown pre-tokenizer ${JSON.stringify(pre)}, using the GPT-2 pattern`);
  return make("gpt2", [GPT2], { ignoreMerges: false, addBosDefault: false, cleanSpaces: !GPT2_NO_CLEAN.includes(pre) });
}

function make(name: PretokenizerName, patterns: readonly string[], flags: Omit<Pretokenizer, "name" | "split">): Pretokenizer {
  const passes = patterns.map((p) => new RegExp(p, "gu"));
  return {
    name,
    ...flags,
    split(text) {
      let pieces = text === "" ? [] : [text];
      for (const re of passes) pieces = splitPieces(pieces, re);
      return pieces;
    },
  };
}

/** Cuts every piece at the matches of `re`, keeping the unmatched gaps as pieces too (llama.cpp semantics). */
function splitPieces(pieces: readonly string[], re: RegExp): string[] {
  const out: string[] = [];
  for (const piece of pieces) {
    let end = 0;
    re.lastIndex = 0;
    for (let m = re.exec(piece); m !== null; m = re.exec(piece)) {
      if (m[0].length === 0) {
        re.lastIndex++;
        continue;
      }
      if (m.index > end) out.push(piece.slice(end, m.index));
      out.push(m[0]);
      end = m.index + m[0].length;
    }
    if (end < piece.length) out.push(piece.slice(end));
  }
  return out;
}
