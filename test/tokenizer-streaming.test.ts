// Streaming detokenization: text leaves the decoder only in whole characters, whatever the token boundaries.
import { beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { sharedPath } from "./helpers/shared.ts";
import { readGgufHeader } from "../src/runtime/gguf/reader.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { StreamingDecoder, tokenizerFromGguf, type Tokenizer } from "../src/runtime/tokenizer/index.ts";

let spm: Tokenizer;
const byteToken: number[] = [];

beforeAll(async () => {
  const source = await openFileSource(sharedPath("vocab/ggml-vocab-llama-spm.gguf"));
  try {
    spm = tokenizerFromGguf((await readGgufHeader(source)).metadata, { onWarning: () => {} });
  } finally {
    await source.close();
  }
  for (let b = 0; b < 256; b++) {
    const hex = b.toString(16).toUpperCase().padStart(2, "0");
    for (let id = 0; id < spm.vocabSize; id++) if (spm.tokenText(id) === `<0x${hex}>`) byteToken[b] = id;
  }
});

const utf8 = new TextEncoder();

/** Byte offsets where a character of `text` ends. */
function charEnds(text: string): Set<number> {
  const ends = new Set<number>([0]);
  let at = 0;
  for (const ch of text) ends.add((at += utf8.encode(ch).length));
  return ends;
}

/** Text mostly outside the vocabulary, so that SentencePiece falls back to byte tokens for it. */
const rareText = fc
  .array(
    fc.oneof(
      fc.constantFrom("🦙", "😶‍🌫️", "👍🏽", "កាន់តែ", "𐍈", "☃", "ß", "a", " ", "\n", "日本", "x y"),
      fc.string({ unit: "binary", maxLength: 6 }),
    ),
    {
      maxLength: 20,
    },
  )
  .map((a) => a.join(""));

describe("StreamingDecoder", () => {
  it("emits exactly the text for any split of the token stream, and never a partial character", () => {
    fc.assert(
      fc.property(rareText, fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 50 }), (text, chunks) => {
        const ids = spm.encode(text, { addBos: false });
        // SentencePiece adds a space prefix to non-empty text; streamed pieces keep it (no lstrip)
        const expected = text === "" ? "" : " " + text;
        const decoder = new StreamingDecoder(spm);
        let out = "";
        for (let at = 0, k = 0; at < ids.length; k++) {
          const n = chunks[k % chunks.length]!;
          const piece = decoder.push(ids.slice(at, at + n));
          at += n;
          expect(piece).not.toMatch(/[\ud800-\udbff]$/); // no half of a surrogate pair
          out += piece;
          expect(expected.startsWith(out)).toBe(true);
          expect(charEnds(expected).has(utf8.encode(out).length)).toBe(true);
        }
        out += decoder.flush();
        expect(out).toBe(expected);
      }),
      { numRuns: 300, seed: 31 },
    );
  });

  it("holds a character split across byte tokens until its last byte, then emits it at once", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 30 }), (text) => {
        const bytes = utf8.encode(text);
        const ends = charEnds(text);
        const decoder = new StreamingDecoder(spm);
        let out = "";
        bytes.forEach((b, i) => {
          out += decoder.push(byteToken[b]!);
          // everything up to the last complete character, nothing more
          let complete = i + 1;
          while (!ends.has(complete)) complete--;
          expect(utf8.encode(out).length).toBe(complete);
        });
        expect(decoder.flush()).toBe("");
        expect(out).toBe(text);
      }),
      { numRuns: 300, seed: 5 },
    );
  });

  it("flush() turns an unfinished character into U+FFFD and the decoder starts afresh", () => {
    const decoder = new StreamingDecoder(spm);
    expect(decoder.push([byteToken[0xf0]!, byteToken[0x9f]!, byteToken[0xa6]!])).toBe("");
    expect(decoder.flush()).toBe("\ufffd");
    expect(decoder.push(byteToken[0x41]!)).toBe("A");
    // an invalid byte is not held back
    expect(decoder.push(byteToken[0x80]!)).toBe("\ufffd");
    expect(decoder.flush()).toBe("");
  });

  it("control tokens are silent unless asked for; a BOM character is content", () => {
    expect(new StreamingDecoder(spm).push([1, 2])).toBe("");
    expect(new StreamingDecoder(spm, { special: true }).push([1, 2])).toBe("<s></s>");
    const bom = utf8.encode("\ufeffhi");
    const decoder = new StreamingDecoder(spm);
    expect(decoder.push(Array.from(bom, (b) => byteToken[b]!))).toBe("\ufeffhi");
  });
});
