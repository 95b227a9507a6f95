// Byte-level BPE. No GPT-2 style vocabulary ships in ../shared, so the test trains a small one on
// tinyshakespeare, checks properties (decode∘encode = identity, pre-tokenizer splits written by hand), then
// writes it into GGUF files and compares token ids with llama.cpp (node-llama-cpp, vocab only) for the
// gpt-2, llama-3 and default pre-tokenizers on random text.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import type { Llama, LlamaModel, Token } from "node-llama-cpp";
import { cpuLlama, lacks } from "./helpers/optional-deps.ts";
import { sharedPath } from "./helpers/shared.ts";
import { GgufValueType as T, type GgufValue } from "../src/runtime/gguf/types.ts";
import { writeGgufFile } from "../src/runtime/gguf/writer-node.ts";
import { BYTE_TO_CHAR } from "../src/runtime/tokenizer/byte-unicode.ts";
import { tokenizerFromGguf, TokenType, type Tokenizer } from "../src/runtime/tokenizer/index.ts";
import { pretokenizerFor } from "../src/runtime/tokenizer/pretokenizers.ts";

// ---------------------------------------------------------------------------------------------------------
// A tiny byte-level BPE trainer (independent of the code under test).

/** Text pieces that exercise the tokenizers' corners; random test strings are concatenations of them. */
const PIECES = [
  "a",
  "b",
  "z",
  "A",
  "Q",
  "X",
  "QX",
  "e",
  "the",
  "Hello",
  "hello",
  "world",
  " world",
  "ing",
  "tion",
  "0",
  "1",
  "7",
  "42",
  "2024",
  "12345",
  " ",
  " ",
  "  ",
  "   ",
  "\t",
  "\n",
  "\n\n",
  "\r\n",
  "\r",
  "\u00a0",
  "\u3000",
  "\u2028",
  "\u0085",
  "\ufeff",
  "\u200b",
  ".",
  ",",
  "!",
  "?",
  "'",
  "'s",
  "'S",
  "'re",
  "'ll",
  "'LL",
  "'t",
  "'D",
  '"',
  "-",
  "_",
  "(",
  ")",
  "[",
  "<",
  ">",
  "/",
  "\\",
  "#",
  "$",
  "%",
  "+",
  "=",
  "^",
  "~",
  "|",
  "`",
  "é",
  "Ä",
  "ß",
  "ñ",
  "e\u0301",
  "İ",
  "ﬁ",
  "нещо",
  "н",
  "Български",
  "Ελλάδα",
  "مرحبا",
  "٣",
  "²",
  "Ⅻ",
  "１２",
  "我",
  "想在",
  "日本語",
  "한국어",
  "កាន់",
  "🦙",
  "😀",
  "👍🏽",
  "👨‍👩‍👧",
  "✅",
  "\u{10348}",
  "\ud800",
  "\udc00x",
  "\ufffd",
  "<|user|>",
  "<|eot_id|>",
  "<|begin_of_text|>",
  "<|end_of_text|>",
  "<s>",
];

/** GPT-2's byte → character table, written out from its definition. */
function gpt2ByteChars(): string[] {
  const keep = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = [];
  let shifted = 0;
  for (let b = 0; b < 256; b++) out.push(String.fromCodePoint(keep(b) ? b : 256 + shifted++));
  return out;
}
const BYTE_CHARS = gpt2ByteChars();
const utf8 = new TextEncoder();
const encodeBytes = (s: string) => Array.from(utf8.encode(s), (b) => BYTE_CHARS[b]).join("");

interface TrainedBpe {
  tokens: string[];
  merges: string[];
}

/** Deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Learns `merges` merges from `text` cut into random chunks of 1–10 code points. Random chunks (instead of
 * a pre-tokenizer's words) give merges across every kind of boundary — digit pairs, space+digit,
 * newline+space, punctuation+letter — so that differences between pre-tokenizers change token ids.
 */
function trainBpe(text: string, merges: number): TrainedBpe {
  const random = prng(17);
  const chars = [...text];
  const counts = new Map<string, number>();
  for (let i = 0; i < chars.length; ) {
    const n = 1 + Math.floor(random() * 10);
    const w = encodeBytes(chars.slice(i, i + n).join(""));
    counts.set(w, (counts.get(w) ?? 0) + 1);
    i += n;
  }
  const words = [...counts].map(([w, n]) => ({ symbols: [...w], n }));
  // Pair counts kept up to date incrementally: a merge only touches the words that contain the pair.
  const pairCount = new Map<string, number>();
  const pairWords = new Map<string, Set<number>>();
  const account = (index: number, sign: 1 | -1) => {
    const { symbols, n } = words[index]!;
    for (let i = 0; i + 1 < symbols.length; i++) {
      const key = symbols[i] + " " + symbols[i + 1];
      pairCount.set(key, (pairCount.get(key) ?? 0) + sign * n);
      if (sign > 0) (pairWords.get(key) ?? pairWords.set(key, new Set()).get(key)!).add(index);
    }
  };
  words.forEach((_, i) => account(i, 1));

  const tokens = [...BYTE_CHARS];
  const known = new Set(tokens);
  const learned: string[] = [];
  for (let step = 0; step < merges; step++) {
    let best = "";
    let bestCount = 1;
    for (const [key, n] of pairCount) if (n > bestCount || (n === bestCount && key < best)) (best = key), (bestCount = n);
    if (best === "") break;
    const [l = "", r = ""] = best.split(" "); // every key is "left right"
    learned.push(best);
    if (!known.has(l + r)) known.add(l + r), tokens.push(l + r);
    for (const index of pairWords.get(best)!) {
      account(index, -1);
      const s = words[index]!.symbols;
      const merged: string[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === l && s[i + 1] === r) merged.push(l + r), i++;
        else merged.push(s[i]!);
      }
      words[index]!.symbols = merged;
      account(index, 1);
    }
  }
  return { tokens, merges: learned };
}

/** Text made of the random-test pieces (special-token text aside), so that the vocabulary has merges for them. */
function piecesText(length: number): string {
  const random = prng(3);
  const pieces = PIECES.filter((p) => !p.startsWith("<|"));
  let out = "";
  while (out.length < length) out += pieces[Math.floor(random() * pieces.length)];
  return out;
}

const CORPUS = readFileSync(sharedPath("corpus/tinyshakespeare.txt"), "utf8");
const TRAINED = trainBpe(CORPUS.slice(0, 100_000) + piecesText(60_000), 600);

/** Whole-word tokens that no learned merge reaches (absent from the training text): only llama-3's
 * ignore_merges can produce them. */
const WHOLE_WORDS = ["Zyzzyva", " Zyzzyva", "Ярослав", " 東京都", "🐉🐉", "987", " ding"];
/** Merges into strings that are not tokens ("{}" and "ж" = D0 B6), for text absent from the training data. */
const QUIRK_MERGES = ["{ }", "Ð ¶"];
const QUIRK_TEXT = ["{}", "ж", "{ж}"];
/** Random test text: concatenations of the pieces the whole words and the quirk text. */
const piece = fc.constantFrom(...PIECES, ...WHOLE_WORDS, ...QUIRK_TEXT);
const randomText = fc.oneof(
  fc.array(piece, { maxLength: 24 }).map((p) => p.join("")),
  fc.array(fc.oneof(piece, fc.string({ unit: "binary", maxLength: 3 })), { maxLength: 16 }).map((p) => p.join("")),
  fc.string({ unit: "binary", maxLength: 30 }),
);
const SPECIALS: [string, number][] = [
  // before the longer control token it overlaps, so that id order and llama.cpp's longest-first order differ
  ["<|end", TokenType.USER_DEFINED],
  ["<|begin_of_text|>", TokenType.CONTROL],
  ["<|end_of_text|>", TokenType.CONTROL],
  ["<|eot_id|>", TokenType.CONTROL],
  ["<|user|>", TokenType.USER_DEFINED],
];

interface VocabSpec {
  tokens: string[];
  types: number[];
  merges: string[];
  bos: number;
  eos: number;
}

/**
 * The trained vocabulary plus whole-word tokens and specials. With `quirks`, merges whose result is not a
 * token are appended: llama.cpp then falls back to one-byte tokens and drops the bytes that have none.
 */
function vocabSpec(quirks: boolean): VocabSpec {
  const tokens = [...TRAINED.tokens];
  for (const w of WHOLE_WORDS.map(encodeBytes)) if (!tokens.includes(w)) tokens.push(w);
  const types: number[] = tokens.map(() => TokenType.NORMAL);
  for (const [text, type] of SPECIALS) tokens.push(text), types.push(type);
  const merges = [...TRAINED.merges];
  if (quirks) {
    for (const m of QUIRK_MERGES) expect(tokens).not.toContain(m.replace(" ", ""));
    merges.push(...QUIRK_MERGES);
  }
  return {
    tokens,
    types,
    merges,
    bos: tokens.indexOf("<|begin_of_text|>"),
    eos: tokens.indexOf("<|end_of_text|>"),
  };
}

function ggufMetadata(spec: VocabSpec, pre: string | undefined): Map<string, GgufValue> {
  const u32 = (value: number): GgufValue => ({ type: T.UINT32, value });
  const str = (value: string): GgufValue => ({ type: T.STRING, value });
  const strings = (values: string[]): GgufValue => ({ type: T.ARRAY, value: { elementType: T.STRING, values } });
  const meta = new Map<string, GgufValue>([
    ["general.architecture", str("llama")],
    ["general.name", str("synthetic-bpe")],
    ["llama.context_length", u32(128)],
    ["llama.embedding_length", u32(64)],
    ["llama.block_count", u32(1)],
    ["llama.feed_forward_length", u32(128)],
    ["llama.attention.head_count", u32(4)],
    ["llama.attention.head_count_kv", u32(4)],
    ["llama.attention.layer_norm_rms_epsilon", { type: T.FLOAT32, value: 1e-5 }],
    ["llama.rope.dimension_count", u32(16)],
    ["llama.vocab_size", u32(spec.tokens.length)],
    ["tokenizer.ggml.model", str("gpt2")],
  ]);
  if (pre !== undefined) meta.set("tokenizer.ggml.pre", str(pre));
  meta.set("tokenizer.ggml.tokens", strings(spec.tokens));
  meta.set("tokenizer.ggml.token_type", { type: T.ARRAY, value: { elementType: T.INT32, values: Int32Array.from(spec.types) } });
  meta.set("tokenizer.ggml.merges", strings(spec.merges));
  meta.set("tokenizer.ggml.bos_token_id", u32(spec.bos));
  meta.set("tokenizer.ggml.eos_token_id", u32(spec.eos));
  return meta;
}

const quiet = { onWarning: () => {} };

// ---------------------------------------------------------------------------------------------------------

describe("GPT-2 byte ↔ unicode map", () => {
  it("is the GPT-2 table", () => {
    expect(BYTE_TO_CHAR).toEqual(BYTE_CHARS);
    expect(BYTE_TO_CHAR[0x20]).toBe("Ġ");
    expect(BYTE_TO_CHAR[0x0a]).toBe("Ċ");
    expect(BYTE_TO_CHAR[0xad]).toBe("Ń");
    expect(new Set(BYTE_TO_CHAR).size).toBe(256);
  });
});

describe("pre-tokenizers split as the reference regexes do", () => {
  const split = (pre: string, text: string) => pretokenizerFor(pre, () => {}).split(text);

  it("gpt2", () => {
    expect(split("gpt-2", "I'm 12345 years")).toEqual(["I", "'m", " 12345", " years"]);
    expect(split("gpt-2", "Hello  world\n\n  x")).toEqual(["Hello", " ", " world", "\n\n ", " x"]);
    expect(split("gpt-2", "you're DON'T")).toEqual(["you", "'re", " DON", "'", "T"]);
    expect(split("gpt-2", "3.14159")).toEqual(["3", ".", "14159"]);
    expect(split("gpt-2", "a\u00a0b")).toEqual(["a", "\u00a0", "b"]);
    expect(split("gpt-2", "\ufeffx")).toEqual(["\ufeff", "x"]); // U+FEFF is not White_Space
    expect(split("gpt-2", "😀😀 hi  ")).toEqual(["😀😀", " hi", "  "]);
    expect(split("gpt-2", "")).toEqual([]);
  });

  it("llama3: 1–3 digit groups, case-insensitive contractions, newline runs", () => {
    expect(split("llama3", "I'm 12345 years")).toEqual(["I", "'m", " ", "123", "45", " years"]);
    expect(split("llama-bpe", "Hello  world\n\n  x")).toEqual(["Hello", " ", " world", "\n\n", " ", " x"]);
    expect(split("llama3", "you're DON'T")).toEqual(["you", "'re", " DON", "'T"]);
    expect(split("llama3", "3.14159")).toEqual(["3", ".", "141", "59"]);
    expect(split("llama3", "a\u00a0b")).toEqual(["a", "\u00a0b"]);
    expect(split("llama3", "\ufeffx")).toEqual(["\ufeffx"]);
    expect(split("llama3", "x ...\n\ny")).toEqual(["x", " ...\n\n", "y"]);
    expect(split("llama3", "1234567")).toEqual(["123", "456", "7"]);
  });

  it("default: punctuation runs, then GPT-2, then digit runs and ASCII digit triples", () => {
    expect(split("default", "I'm 12345 years")).toEqual(["I", "'", "m", " ", "123", "45", " years"]);
    expect(split("default", "a+b=c")).toEqual(["a", "+", "b", "=", "c"]);
  });

  it("an unknown name falls back to GPT-2 with a warning; a missing one to default", () => {
    const warnings: string[] = [];
    const p = pretokenizerFor("no-such-pre", (m) => warnings.push(m));
    expect(p.name).toBe("gpt2");
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toContain("no-such-pre");
    expect(pretokenizerFor("", (m) => warnings.push(m)).name).toBe("default");
    expect(warnings.length).toBe(2);
  });
});

describe("byte-level BPE tokenizer: properties", () => {
  const tokenizers: [string, Tokenizer][] = (["llama3", "gpt-2", "default"] as const).map((pre) => [
    pre,
    tokenizerFromGguf(ggufMetadata(vocabSpec(false), pre), quiet),
  ]);
  const anyText = fc.oneof(
    fc.string({ unit: "binary", maxLength: 40 }),
    fc.string({ unit: "grapheme", maxLength: 40 }),
    fc
      .array(fc.constantFrom("a", " ", "  ", "\n", "\r\n", "\t", "12345", "'s", "'LL", "😀", "👨‍👩‍👧", "我想", "é", ".", "Ünïcödé"), {
        maxLength: 20,
      })
      .map((a) => a.join("")),
  );

  it.each(tokenizers)("%s: decode(encode(x)) = x on arbitrary Unicode", (_pre, tok) => {
    fc.assert(
      fc.property(anyText, (text) => {
        const ids = tok.encode(text, { addBos: false });
        expect(tok.decode(ids, { cleanSpaces: false })).toBe(text);
      }),
      { numRuns: 500, seed: 42 },
    );
  });

  it("merges: each word is merged lowest rank first, leftmost on ties (checked against a naive BPE)", () => {
    const [, gpt2] = tokenizers[1]!;
    const spec = vocabSpec(false);
    const rank = new Map(spec.merges.map((m, i) => [m, i]));
    const naive = (word: string): number[] => {
      const s = [...encodeBytes(word)];
      for (;;) {
        let best = -1;
        for (let i = 0; i + 1 < s.length; i++) {
          const r = rank.get(s[i] + " " + s[i + 1]);
          if (r !== undefined && (best < 0 || r < rank.get(s[best] + " " + s[best + 1])!)) best = i;
        }
        if (best < 0) return s.map((t) => spec.tokens.indexOf(t));
        s.splice(best, 2, s[best]! + s[best + 1]!);
      }
    };
    const split = pretokenizerFor("gpt-2", () => {});
    // without special-token text, which the tokenizer splits out before merging
    fc.assert(
      fc.property(
        randomText.filter((t) => !t.includes("<|")),
        (text) => {
          expect(gpt2.encode(text, { addBos: false })).toEqual(split.split(text).flatMap(naive));
        },
      ),
      { numRuns: 300, seed: 8 },
    );
  });

  it("ignore_merges (llama-3) takes a word that is a token whole; GPT-2 merges it", () => {
    const [, llama3] = tokenizers[0]!;
    const [, gpt2] = tokenizers[1]!;
    const id = (text: string) => vocabSpec(false).tokens.indexOf(encodeBytes(text));
    expect(id("Zyzzyva")).toBeGreaterThan(0);
    expect(llama3.encode("Zyzzyva", { addBos: false })).toEqual([id("Zyzzyva")]);
    expect(gpt2.encode("Zyzzyva", { addBos: false })).not.toEqual([id("Zyzzyva")]);
    expect(llama3.addBos).toBe(true);
    expect(llama3.encode("x")[0]).toBe(llama3.bos);
  });

  it("the clean-up passes of llama.cpp apply on decode by default", () => {
    const [, gpt2] = tokenizers[1]!;
    const ids = gpt2.encode("Hello , world . It 's you ' re", { addBos: false });
    expect(gpt2.decode(ids)).toBe("Hello, world. It's you're");
    expect(gpt2.decode(ids, { cleanSpaces: false })).toBe("Hello , world . It 's you ' re");
  });

  it("user-defined tokens are always split out; control tokens only with parseSpecial", () => {
    const [, tok] = tokenizers[0]!;
    const spec = vocabSpec(false);
    const user = spec.tokens.indexOf("<|user|>");
    const eot = spec.tokens.indexOf("<|eot_id|>");
    expect(tok.encode("hi<|user|>yo", { addBos: false })).toContain(user);
    expect(tok.encode("hi<|eot_id|>", { addBos: false })).not.toContain(eot);
    expect(tok.encode("hi<|eot_id|>", { addBos: false, parseSpecial: true }).at(-1)).toBe(eot);
    expect(tok.isEog(eot)).toBe(true);
    expect(tok.isEog(spec.eos)).toBe(true);
    expect(tok.decode([eot])).toBe("");
    expect(tok.decode([eot], { unparseSpecial: true })).toBe("<|eot_id|>");
    expect(tok.decode([user])).toBe("<|user|>");
  });

  it("encodes and decodes 1 MB of text exactly", () => {
    const [, tok] = tokenizers[0]!;
    const ids = tok.encode(CORPUS, { addBos: false });
    expect(tok.decode(ids, { cleanSpaces: false })).toBe(CORPUS);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Differential against llama.cpp on GGUF files holding the synthetic vocabulary.

const RUNS = 1000;
const PRES: (string | undefined)[] = ["llama3", "gpt-2", "default", undefined];

describe.skipIf(lacks("node-llama-cpp"))("byte-level BPE tokenizer: differential against llama.cpp", () => {
  let llama: Llama;
  let dir: string;
  const models = new Map<string, { ours: Tokenizer; theirs: LlamaModel }>();
  const label = (pre: string | undefined) => pre ?? "(no pre)";

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "ternion-bpe-"));
    llama = await cpuLlama("disabled");
    const spec = vocabSpec(true);
    for (const pre of PRES) {
      const meta = ggufMetadata(spec, pre);
      const path = join(dir, `${label(pre)}.gguf`);
      await writeGgufFile(path, { metadata: meta, tensors: [] });
      const theirs = await llama.loadModel({ modelPath: path, vocabOnly: true });
      models.set(label(pre), { ours: tokenizerFromGguf(meta, quiet), theirs });
    }
  });
  afterAll(async () => {
    for (const { theirs } of models.values()) await theirs.dispose();
    await llama?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each(PRES.map(label))(`%s: tokenize matches on ${RUNS} random strings, with and without special parsing`, (pre) => {
    const { ours, theirs } = models.get(pre)!;
    fc.assert(
      fc.property(randomText, fc.boolean(), (text, special) => {
        const expected = Array.from(theirs.tokenize(text, special));
        expect(ours.encode(text, { addBos: false, addEos: false, parseSpecial: special })).toEqual(expected);
      }),
      { numRuns: RUNS, seed: 2024 },
    );
  });

  it.each(PRES.map(label))("%s: tokenize matches on corpus lines and the whole excerpt", (pre) => {
    const { ours, theirs } = models.get(pre)!;
    const lines = CORPUS.slice(300_000, 330_000).split("\n");
    for (const text of [...lines, lines.join("\n")]) {
      expect(ours.encode(text, { addBos: false })).toEqual(Array.from(theirs.tokenize(text, false)));
    }
  });

  it.each(PRES.map(label))(`%s: detokenize matches on ${RUNS} random id sequences`, (pre) => {
    const { ours, theirs } = models.get(pre)!;
    const n = ours.vocabSize;
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: n - 1 }), { maxLength: 16 }), fc.boolean(), (ids, special) => {
        expect(ours.decode(ids, { unparseSpecial: special })).toBe(theirs.detokenize(ids as Token[], special));
      }),
      { numRuns: RUNS, seed: 5 },
    );
  });

  it.each(PRES.map(label))("%s: decode of encoded random text matches (clean-up passes included)", (pre) => {
    const { ours, theirs } = models.get(pre)!;
    fc.assert(
      fc.property(randomText, (text) => {
        const ids = ours.encode(text, { addBos: true });
        expect(ours.decode(ids)).toBe(theirs.detokenize(ids as Token[], false));
      }),
      { numRuns: RUNS, seed: 11 },
    );
  });
});
