// SentencePiece tokenizer against llama.cpp: the reference cases shipped with llama.cpp's vocab tests, a real
// model's prompt, and a differential run against llama.cpp itself (node-llama-cpp, vocab only) on random text.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import type { Llama, LlamaModel, Token } from "node-llama-cpp";
import { cpuLlama, lacks } from "./helpers/optional-deps.ts";
import { sharedPath } from "./helpers/shared.ts";
import { TokenizerError } from "../src/runtime/errors.ts";
import { readGgufHeader } from "../src/runtime/gguf/reader.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { GgufValueType, type GgufValue } from "../src/runtime/gguf/types.ts";
import { tokenizerFromGguf, type Tokenizer } from "../src/runtime/tokenizer/index.ts";

const VOCAB = sharedPath("vocab/ggml-vocab-llama-spm.gguf");
const STORIES = sharedPath("models/stories260K.gguf");

async function readMetadata(path: string): Promise<Map<string, GgufValue>> {
  const source = await openFileSource(path);
  try {
    return (await readGgufHeader(source)).metadata;
  } finally {
    await source.close();
  }
}

/** The cases as llama.cpp's test-tokenizer-0 reads them: split at "\n__ggml_vocab_test__\n", one .out line each. */
function readVocabCases(path: string): { text: string; ids: number[] }[] {
  const raw = readFileSync(path + ".inp", "utf8");
  const sep = "\n__ggml_vocab_test__\n";
  const inputs: string[] = [];
  for (let pos = 0; pos < raw.length; ) {
    const next = raw.indexOf(sep, pos);
    if (next < 0) {
      inputs.push(raw.slice(pos));
      break;
    }
    inputs.push(raw.slice(pos, next));
    pos = next + sep.length;
  }
  const outputs = readFileSync(path + ".out", "utf8").split("\n");
  if (outputs.at(-1) === "") outputs.pop(); // getline sees no line after the final newline
  expect(outputs.length).toBe(inputs.length);
  return inputs.map((text, i) => {
    const line = outputs[i]!.trim();
    return { text, ids: line === "" ? [] : line.split(" ").map(Number) };
  });
}

let spm: Tokenizer;
const warnings: string[] = [];

beforeAll(async () => {
  spm = tokenizerFromGguf(await readMetadata(VOCAB), { onWarning: (m) => warnings.push(m) });
});

describe("SentencePiece tokenizer: llama.cpp reference cases", () => {
  const cases = readVocabCases(VOCAB);

  it("has all the cases of the .inp/.out files", () => {
    expect(cases.length).toBe(46);
    expect(cases.some((c) => c.text === "")).toBe(true);
  });

  // test-tokenizer-0 tokenizes with add_special = false, parse_special = false.
  it.each(cases.map((c, i) => [i, JSON.stringify(c.text).slice(0, 60), c] as const))("case %i %s", (_i, _label, c) => {
    expect(spm.encode(c.text, { addBos: false, addEos: false, parseSpecial: false })).toEqual(c.ids);
  });

  it("decode(encode(x)) gives back every case text", () => {
    for (const c of cases) expect(spm.decode(spm.encode(c.text, { addBos: false }))).toBe(c.text);
    for (const c of cases) expect(spm.decode(c.ids)).toBe(c.text);
  });

  it("loads the llama.cpp defaults and ids", () => {
    expect(spm.kind).toBe("spm");
    expect(spm.vocabSize).toBe(32000);
    expect(spm.bos).toBe(1);
    expect(spm.eos).toBe(2);
    expect(spm.addBos).toBe(true);
    expect(spm.isEog(2)).toBe(true);
    expect(spm.isEog(1)).toBe(false);
    expect(spm.isEog(13)).toBe(false);
  });
});

describe("SentencePiece tokenizer: stories260K", () => {
  it('encodes "Once upon a time" with BOS as llama.cpp does', async () => {
    const tok = tokenizerFromGguf(await readMetadata(STORIES), { onWarning: () => {} });
    expect(tok.encode("Once upon a time", { addBos: true })).toEqual([1, 403, 407, 261, 378]);
    // add_bos is the llama default for SentencePiece when the file does not say
    expect(tok.encode("Once upon a time")).toEqual([1, 403, 407, 261, 378]);
    expect(tok.decode([1, 403, 407, 261, 378], { removeSpecial: true })).toBe(" Once upon a time");
  });
});

describe("SentencePiece tokenizer: special tokens and decoding rules", () => {
  const id = (text: string) => {
    for (let i = 0; i < spm.vocabSize; i++) if (spm.tokenText(i) === text) return i;
    throw new Error(`no token ${text}`);
  };

  it("keeps control tokens as text unless parseSpecial, and then adds the space prefix after them", () => {
    const plain = spm.encode("<s>hi</s>", { addBos: false });
    expect(plain).not.toContain(1);
    expect(plain).not.toContain(2);
    expect(spm.encode("<s>hi</s>", { addBos: false, parseSpecial: true })).toEqual([1, id("▁hi"), 2]);
  });

  it("decodes as llama_detokenize: BOS vanishes and keeps the space; unparseSpecial shows it", () => {
    // values from llama.cpp (node-llama-cpp detokenize, remove_special = false)
    expect(spm.decode([1, id("▁Hello")])).toBe(" Hello");
    expect(spm.decode([1, id("▁Hello")], { unparseSpecial: true })).toBe("<s> Hello");
    expect(spm.decode([id("▁Hello")])).toBe("Hello");
    expect(spm.decode([1, id("▁Hello"), 2], { removeSpecial: true })).toBe(" Hello");
    expect(new TextDecoder().decode(spm.tokenToPiece(id("▁Hello")))).toBe(" Hello");
    expect(Array.from(spm.tokenToPiece(id("<0x0A>")))).toEqual([10]);
    expect(spm.tokenToPiece(2).length).toBe(0);
    expect(new TextDecoder().decode(spm.tokenToPiece(2, { special: true }))).toBe("</s>");
  });

  it("appends EOS on request and rejects ids outside the vocabulary", () => {
    expect(spm.encode("a", { addBos: true, addEos: true }).at(-1)).toBe(2);
    expect(() => spm.decode([32000])).toThrow(TokenizerError);
    expect(() => spm.tokenToPiece(-1)).toThrow(TokenizerError);
  });
});

describe("tokenizerFromGguf: metadata errors", () => {
  const str = (value: string): GgufValue => ({ type: GgufValueType.STRING, value });
  const strings = (values: string[]): GgufValue => ({ type: GgufValueType.ARRAY, value: { elementType: GgufValueType.STRING, values } });

  it("names what is missing or unsupported", () => {
    const expectCode = (meta: Map<string, GgufValue>, code: string) => {
      let error: unknown;
      try {
        tokenizerFromGguf(meta, { onWarning: () => {} });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(TokenizerError);
      expect((error as TokenizerError).code).toBe(code);
    };
    expectCode(new Map(), "MISSING_METADATA");
    expectCode(new Map([["tokenizer.ggml.model", str("t5")]]), "UNSUPPORTED_TOKENIZER");
    expectCode(new Map([["tokenizer.ggml.model", str("llama")]]), "MISSING_METADATA");
    expectCode(
      new Map([
        ["tokenizer.ggml.model", str("gpt2")],
        ["tokenizer.ggml.tokens", strings(["a"])],
      ]),
      "MISSING_METADATA",
    );
    expectCode(
      new Map([
        ["tokenizer.ggml.model", str("llama")],
        ["tokenizer.ggml.tokens", strings(["a", "b", "a"])],
      ]),
      "DUPLICATE_TOKEN",
    );
    expectCode(
      new Map([
        ["tokenizer.ggml.model", str("llama")],
        ["tokenizer.ggml.tokens", str("a")],
      ]),
      "BAD_METADATA",
    );
  });
});

describe("SentencePiece tokenizer: long text", () => {
  it("encodes and decodes 1 MB of text exactly", () => {
    const text = readFileSync(sharedPath("corpus/tinyshakespeare.txt"), "utf8");
    const ids = spm.encode(text);
    expect(ids.length).toBeGreaterThan(200_000);
    expect(ids[0]).toBe(1);
    // after an explicit BOS llama.cpp keeps the space prefix in the text
    expect(spm.decode(ids)).toBe(" " + text);
    expect(spm.decode(ids.slice(1))).toBe(text);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Differential: the same file in llama.cpp (node-llama-cpp, vocab only). tokenize(text, special) there is
// common_tokenize(add_special = false, parse_special = special); detokenize(ids, special) is
// llama_detokenize(remove_special = false, unparse_special = special).

/** Text pieces that exercise the tokenizer's corners. */
const PIECES = [
  "a",
  "b",
  "z",
  "A",
  "Q",
  "e",
  "the",
  "Hello",
  "world",
  "ing",
  "tion",
  "0",
  "1",
  "7",
  "42",
  "2024",
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
  "é",
  "Ä",
  "ß",
  "ñ",
  "ø",
  "e\u0301",
  "İ",
  "ﬁ",
  "нещо",
  "Български",
  "Ελλάδα",
  "שלום",
  "مرحبا",
  "٣",
  "²",
  "Ⅻ",
  "１２",
  "我",
  "想在",
  "日本語",
  "한국어",
  "กขค",
  "កាន់",
  "🦙",
  "😀",
  "👍🏽",
  "👨‍👩‍👧",
  "🇺🇸",
  "✅",
  "☃",
  "\u{1F9E0}",
  "\u{10348}",
  "\ud800",
  "\udc00x",
  "\ufffd",
  "<s>",
  "</s>",
  "<unk>",
  "<0x41>",
  "▁",
  "▁▁",
];
const piece = fc.constantFrom(...PIECES);
/** Concatenated pieces, mixed with arbitrary code points. */
const randomText = fc.oneof(
  fc.array(piece, { maxLength: 24 }).map((p) => p.join("")),
  fc.array(fc.oneof(piece, fc.string({ unit: "binary", maxLength: 3 })), { maxLength: 16 }).map((p) => p.join("")),
  fc.string({ unit: "binary", maxLength: 30 }),
);
const RUNS = 1000;

describe.skipIf(lacks("node-llama-cpp"))("SentencePiece tokenizer: differential against llama.cpp", () => {
  let llama: Llama;
  let model: LlamaModel;

  beforeAll(async () => {
    llama = await cpuLlama("disabled");
    model = await llama.loadModel({ modelPath: VOCAB, vocabOnly: true });
  });
  afterAll(async () => {
    await model?.dispose();
    await llama?.dispose();
  });

  it(`tokenize matches on ${RUNS} random strings, with and without special-token parsing`, () => {
    fc.assert(
      fc.property(randomText, fc.boolean(), (text, special) => {
        const expected = Array.from(model.tokenize(text, special));
        expect(spm.encode(text, { addBos: false, addEos: false, parseSpecial: special })).toEqual(expected);
      }),
      { numRuns: RUNS, seed: 1234 },
    );
  });

  it("tokenize matches on every reference case and on longer corpus lines", () => {
    const lines = readFileSync(sharedPath("corpus/tinyshakespeare.txt"), "utf8").split("\n").slice(0, 300);
    for (const text of [...readVocabCases(VOCAB).map((c) => c.text), ...lines, lines.join("\n")]) {
      expect(spm.encode(text, { addBos: false })).toEqual(Array.from(model.tokenize(text, false)));
    }
  });

  it(`detokenize matches on ${RUNS} random id sequences (bytes, controls, pieces)`, () => {
    const ids = fc.array(fc.oneof(fc.integer({ min: 0, max: 31999 }), fc.integer({ min: 0, max: 300 }), fc.constantFrom(1, 2, 13, 29871, 15043)), {
      maxLength: 16,
    });
    fc.assert(
      fc.property(ids, fc.boolean(), (seq, special) => {
        expect(spm.decode(seq, { unparseSpecial: special })).toBe(model.detokenize(seq as Token[], special));
      }),
      { numRuns: RUNS, seed: 99 },
    );
  });

  it("decode(encode(text)) matches llama.cpp's detokenize of its own tokens", () => {
    fc.assert(
      fc.property(randomText, (text) => {
        const ids = spm.encode(text, { addBos: true });
        expect(spm.decode(ids)).toBe(model.detokenize(ids as Token[], false));
        expect(spm.decode(ids, { unparseSpecial: true })).toBe(model.detokenize(ids as Token[], true));
      }),
      { numRuns: RUNS, seed: 7 },
    );
  });
});

afterAll(() => {
  // The llama vocab has one empty token string, which llama.cpp also reports.
  expect(warnings.every((w) => w.startsWith("empty token"))).toBe(true);
});
