// The grammar machinery (src/runtime/grammar) without a model: each GBNF feature through the matcher, the
// bounds a hostile grammar or schema meets, the JSON-schema compiler's accepted and refused texts, and the
// token-level constraint on a tiny vocabulary (a grammar that admits no token is an error, not a hang).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { GrammarError } from "../src/runtime/errors.ts";
import { parseGbnf } from "../src/runtime/grammar/gbnf.ts";
import { jsonSchemaToGbnf } from "../src/runtime/grammar/json-schema.ts";
import { GrammarMatcher, type MatchState } from "../src/runtime/grammar/matcher.ts";
import { TokenConstraint } from "../src/runtime/grammar/token-constraint.ts";
import { TokenVocabulary } from "../src/runtime/grammar/token-vocabulary.ts";
import { VocabularyGrammar } from "../src/runtime/grammar/vocabulary-grammar.ts";
import { constraintGrammar } from "../src/runtime/grammar/constraint-options.ts";

const utf8 = new TextEncoder();

/** "complete" (a whole sentence), "prefix" (may continue to one) or "no". */
function match(grammar: string, text: string): "complete" | "prefix" | "no" {
  const m = new GrammarMatcher(parseGbnf(grammar));
  const s = m.advanceBytes(m.initial(), utf8.encode(text));
  return s === undefined ? "no" : s.complete ? "complete" : "prefix";
}

function grammarError(f: () => unknown): GrammarError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(GrammarError);
    return e as GrammarError;
  }
  throw new Error("expected a GrammarError");
}

describe("GBNF", () => {
  it("literals, sequences and alternation", () => {
    const g = 'root ::= "ab" "c" | "x" y\ny ::= "yz"';
    expect(match(g, "abc")).toBe("complete");
    expect(match(g, "xyz")).toBe("complete");
    expect(match(g, "ab")).toBe("prefix");
    expect(match(g, "abd")).toBe("no");
    expect(match(g, "abcx")).toBe("no");
  });

  it("character classes: ranges, lists, negation, escapes and .", () => {
    expect(match("root ::= [a-c0-9_]", "b")).toBe("complete");
    expect(match("root ::= [a-c0-9_]", "_")).toBe("complete");
    expect(match("root ::= [a-c0-9_]", "d")).toBe("no");
    expect(match('root ::= [^"\\\\]', "q")).toBe("complete");
    expect(match('root ::= [^"\\\\]', '"')).toBe("no");
    expect(match('root ::= [\\x41-\\x43] "\\n" [\\]]', "B\n]")).toBe("complete");
    expect(match("root ::= . .", "é€")).toBe("complete");
    expect(match("root ::= .", "\n")).toBe("no");
  });

  it("multi-byte characters are matched by code point, a partial one while it can still fit", () => {
    const g = 'root ::= "€" [α-ω]';
    expect(match(g, "€β")).toBe("complete");
    const m = new GrammarMatcher(parseGbnf(g));
    const euro = utf8.encode("€");
    const partial = m.advanceBytes(m.initial(), euro.subarray(0, 2));
    expect(partial).toBeDefined();
    expect(partial!.complete).toBe(false);
    expect(m.advanceBytes(m.initial(), utf8.encode("é").subarray(0, 1))).toBeUndefined(); // 0xC3 cannot start "€"
    expect(m.advanceBytes(m.initial(), Uint8Array.of(0xff))).toBeUndefined(); // never UTF-8
    // Overlong forms and surrogates are not UTF-8 (a decoder shows them as U+FFFD), whatever they would spell.
    expect(match('root ::= "{"', "\u{7b}")).toBe("complete");
    const any = new GrammarMatcher(parseGbnf("root ::= [^x]"));
    expect(any.advanceBytes(any.initial(), Uint8Array.of(0xc1, 0xbb))).toBeUndefined();
    expect(any.advanceBytes(any.initial(), Uint8Array.of(0xe0, 0x81, 0xbb))).toBeUndefined();
    expect(any.advanceBytes(any.initial(), Uint8Array.of(0xed, 0xa0, 0x80))).toBeUndefined();
    expect(any.advanceBytes(any.initial(), Uint8Array.of(0xf4, 0x90, 0x80, 0x80))).toBeUndefined();
    expect(any.advanceBytes(any.initial(), Uint8Array.of(0xf0, 0x9f, 0x98, 0x81))?.complete).toBe(true);
  });

  it("repetitions: * + ? {m} {m,} {m,n}, on a class, a literal and a group", () => {
    expect(match('root ::= "a"*', "")).toBe("complete");
    expect(match('root ::= "a"*', "aaaa")).toBe("complete");
    expect(match('root ::= "ab"+', "")).toBe("prefix");
    expect(match('root ::= "ab"+', "abab")).toBe("complete");
    expect(match('root ::= "ab"+', "aba")).toBe("prefix");
    expect(match('root ::= "x" "y"? "z"', "xz")).toBe("complete");
    expect(match('root ::= "x" "y"? "z"', "xyz")).toBe("complete");
    expect(match('root ::= "x" "y"? "z"', "xyyz")).toBe("no");
    expect(match("root ::= [0-9]{3}", "12")).toBe("prefix");
    expect(match("root ::= [0-9]{3}", "123")).toBe("complete");
    expect(match("root ::= [0-9]{3}", "1234")).toBe("no");
    expect(match("root ::= [0-9]{2,}", "1")).toBe("prefix");
    expect(match("root ::= [0-9]{2,}", "123456")).toBe("complete");
    expect(match("root ::= [0-9]{1,3}", "123")).toBe("complete");
    expect(match("root ::= [0-9]{1,3}", "1234")).toBe("no");
    expect(match('root ::= ("a" | "bc"){2}', "bca")).toBe("complete");
    expect(match('root ::= ("a" | "bc"){2}', "abcx")).toBe("no");
  });

  it("comments, blank lines and newlines inside groups", () => {
    const g = '# a comment\n\nroot ::= ( # open\n  "a"\n  | "b"\n) x # trailing\nx ::= "!"\n';
    expect(match(g, "a!")).toBe("complete");
    expect(match(g, "b!")).toBe("complete");
  });

  it("a long right-recursive repetition keeps its stacks shallow", () => {
    const m = new GrammarMatcher(parseGbnf('root ::= "x"*'));
    let s: MatchState | undefined = m.initial();
    for (let i = 0; i < 5000 && s; i++) s = m.advanceByte(s, 0x78);
    expect(s?.complete).toBe(true);
    expect(Math.max(...s!.stacks.map((n) => n.depth))).toBeLessThan(4);
  });

  it("a chain of thousands of rules, or a very long token, does not overflow the call stack", () => {
    const chain = Array.from({ length: 15_000 }, (_, i) => `r${i} ::= r${i + 1}`).join("\n");
    expect(match(`root ::= r0\n${chain}\nr15000 ::= "a"`, "a")).toBe("complete");
    const long = "x".repeat(200_000);
    const tokenizer = { vocabSize: 2, tokenToPiece: (id: number) => utf8.encode(id === 0 ? long : "y"), isEog: () => false };
    const c = new TokenConstraint(new VocabularyGrammar(parseGbnf('root ::= "x"* "y"'), new TokenVocabulary(tokenizer)));
    const logits = new Float32Array(2);
    c.mask(logits);
    expect(Array.from(logits)).toEqual([0, 0]);
  });

  it("syntax errors name the line and column", () => {
    expect(grammarError(() => parseGbnf('root ::= "a'))).toMatchObject({ code: "GRAMMAR_SYNTAX" });
    expect(grammarError(() => parseGbnf("root ::= [a-"))).toMatchObject({ code: "GRAMMAR_SYNTAX" });
    expect(grammarError(() => parseGbnf('root ::= "a"\nx = "b"')).message).toMatch(/line 2, column 3/);
    expect(grammarError(() => parseGbnf("root ::= *")).message).toMatch(/follows nothing/);
    expect(grammarError(() => parseGbnf('root ::= "\\q"')).message).toMatch(/unknown escape/);
    expect(grammarError(() => parseGbnf('root ::= "a"{3,2}')).message).toMatch(/below its minimum/);
  });

  it("an undefined rule, a missing root or a duplicate rule is refused", () => {
    expect(grammarError(() => parseGbnf("root ::= item"))).toMatchObject({ code: "UNDEFINED_RULE", message: expect.stringContaining('"item"') });
    expect(grammarError(() => parseGbnf('start ::= "a"'))).toMatchObject({ code: "UNDEFINED_RULE", message: expect.stringContaining('"root"') });
    expect(grammarError(() => parseGbnf('root ::= "a"\nroot ::= "b"'))).toMatchObject({ code: "GRAMMAR_SYNTAX" });
  });

  it("left recursion, direct or through rules that match nothing, is refused", () => {
    expect(grammarError(() => parseGbnf('root ::= root "a" | "b"'))).toMatchObject({ code: "LEFT_RECURSION" });
    expect(grammarError(() => parseGbnf('root ::= e x\nx ::= e root "a" | "b"\ne ::= "c"?'))).toMatchObject({ code: "LEFT_RECURSION" });
    expect(grammarError(() => parseGbnf('root ::= ("a"?)*'))).toMatchObject({ code: "LEFT_RECURSION" });
    // Recursion after a character is fine.
    expect(match('root ::= "(" root ")" | "x"', "((x))")).toBe("complete");
  });

  it("hostile sizes are bounded: length, nesting, repetition counts, expansion, ambiguity", () => {
    expect(grammarError(() => parseGbnf(`root ::= "${"a".repeat(300_000)}"`))).toMatchObject({ code: "GRAMMAR_TOO_LARGE" });
    // A huge text is refused by its length, before an array of its code points is built (that takes seconds).
    const huge = "a".repeat(30_000_000);
    const started = performance.now();
    expect(grammarError(() => parseGbnf(huge))).toMatchObject({ code: "GRAMMAR_TOO_LARGE" });
    expect(performance.now() - started).toBeLessThan(100);
    // Astral characters count once each: two UTF-16 units of each are still one character of the limit.
    expect(() => parseGbnf(`# ${"😀".repeat(200_000)}\nroot ::= "a"`)).not.toThrow();
    expect(grammarError(() => parseGbnf(`root ::= ${"(".repeat(100)}"a"${")".repeat(100)}`)).message).toMatch(/nest deeper/);
    expect(grammarError(() => parseGbnf('root ::= "a"{100000}')).message).toMatch(/at most 1000/);
    expect(grammarError(() => parseGbnf(`root ::= "${"a".repeat(250)}"{1000}`))).toMatchObject({ code: "GRAMMAR_TOO_LARGE" });
    // Equal stacks are one object, so splitting a run many ways costs nothing…
    const splits = new GrammarMatcher(parseGbnf(`root ::= x*\nx ::= ${Array.from({ length: 20 }, (_, i) => `"${"a".repeat(i + 1)}"`).join(" | ")}`));
    let s: MatchState | undefined = splits.initial();
    for (let i = 0; i < 400 && s; i++) s = splits.advanceByte(s, 0x61);
    expect(s!.stacks.length).toBeLessThanOrEqual(210);
    // …but each "a" here doubles the distinct parses (which closer each one owes): bounded, not exponential.
    const doubling = new GrammarMatcher(parseGbnf('root ::= "a" root "b" | "a" root "c" | "d"'));
    expect(
      grammarError(() => {
        let t: MatchState | undefined = doubling.initial();
        for (let i = 0; i < 20 && t; i++) t = doubling.advanceByte(t, 0x61);
      }),
    ).toMatchObject({ code: "GRAMMAR_TOO_AMBIGUOUS" });
  });
});

describe("JSON schema → grammar", () => {
  const accepts = (schema: unknown, text: string) => match(jsonSchemaToGbnf(schema), text) === "complete";

  it("objects: properties in order, required ones always, optional ones maybe, nothing else", () => {
    const schema = {
      type: "object",
      properties: { name: { type: "string", maxLength: 4 }, age: { type: "integer" }, ok: { type: "boolean" } },
      required: ["age"],
      additionalProperties: false,
    };
    expect(accepts(schema, '{"age":3}')).toBe(true);
    expect(accepts(schema, '{"name": "Tom", "age": -12, "ok": true}')).toBe(true);
    expect(accepts(schema, '{"name":"Tom"}')).toBe(false);
    expect(accepts(schema, '{"name":"Tommy","age":1}')).toBe(false);
    expect(accepts(schema, '{"age":1.5}')).toBe(false);
    expect(accepts(schema, '{"age":1,"x":2}')).toBe(false);
    expect(accepts(schema, '{"age":01}')).toBe(false);
  });

  it("arrays, enums, const, anyOf, null, numbers, string lengths", () => {
    const list = { type: "array", items: { enum: ["a", 1, null] }, minItems: 1, maxItems: 2 };
    expect(accepts(list, "[]")).toBe(false);
    expect(accepts(list, '["a", null]')).toBe(true);
    expect(accepts(list, '["a",1,1]')).toBe(false);
    expect(accepts(list, '["b"]')).toBe(false);
    expect(accepts({ const: { x: [1, "y"] } }, '{"x":[1,"y"]}')).toBe(true);
    expect(accepts({ anyOf: [{ type: "null" }, { type: "number" }] }, "-1.25e-3")).toBe(true);
    expect(accepts({ anyOf: [{ type: "null" }, { type: "number" }] }, "true")).toBe(false);
    expect(accepts({ type: ["string", "null"] }, "null")).toBe(true);
    expect(accepts({ type: "string", minLength: 2, maxLength: 3 }, '"a"')).toBe(false);
    expect(accepts({ type: "string", minLength: 2, maxLength: 3 }, '"a\\nb"')).toBe(true);
    expect(accepts({ type: "string" }, '"a\nb"')).toBe(false); // a raw control character is not JSON
  });

  it("$ref to $defs, recursive ones included; true and {} admit any JSON value", () => {
    const tree = {
      $defs: {
        node: { type: "object", properties: { v: { type: "integer" }, kids: { type: "array", items: { $ref: "#/$defs/node" } } }, required: ["v"] },
      },
      $ref: "#/$defs/node",
    };
    expect(accepts(tree, '{"v":1,"kids":[{"v":2},{"v":3,"kids":[]}]}')).toBe(true);
    expect(accepts(tree, '{"v":1,"kids":[{"w":2}]}')).toBe(false);
    expect(accepts(true, '[{"a":null},"x",1e5]')).toBe(true);
    expect(accepts({}, "false")).toBe(true);
    expect(accepts({ type: "object" }, '{"any": {"thing": [1]}}')).toBe(true);
  });

  it("an unsupported keyword is refused by name, a malformed schema as such", () => {
    for (const [schema, keyword] of [
      [{ type: "string", pattern: "^a" }, "pattern"],
      [{ type: "string", format: "date" }, "format"],
      [{ type: "integer", minimum: 0 }, "minimum"],
      [{ oneOf: [{ type: "null" }] }, "oneOf"],
      [{ allOf: [{ type: "null" }] }, "allOf"],
      [{ type: "object", properties: { a: { type: "array", uniqueItems: true } } }, "uniqueItems"],
      [{ type: "object", additionalProperties: { type: "string" } }, "additionalProperties"],
      [{ $ref: "https://example.com/s.json" }, "$ref"],
    ] as const) {
      expect(grammarError(() => jsonSchemaToGbnf(schema))).toMatchObject({
        code: "UNSUPPORTED_SCHEMA",
        message: expect.stringContaining(`"${keyword}"`),
      });
    }
    expect(grammarError(() => jsonSchemaToGbnf(false))).toMatchObject({ code: "BAD_SCHEMA" });
    expect(grammarError(() => jsonSchemaToGbnf({ type: "strnig" }))).toMatchObject({ code: "BAD_SCHEMA" });
    expect(grammarError(() => jsonSchemaToGbnf({ $ref: "#/$defs/missing" }))).toMatchObject({ code: "BAD_SCHEMA" });
    expect(grammarError(() => jsonSchemaToGbnf({ type: "array", minItems: 3, maxItems: 2 }))).toMatchObject({ code: "BAD_SCHEMA" });
  });

  it("counts above the GBNF repetition limit are refused naming the keyword, its value and the schema path", () => {
    const string = grammarError(() => constraintGrammar({ jsonSchema: { type: "string", maxLength: 5000 } }));
    expect(string).toMatchObject({ code: "UNSUPPORTED_SCHEMA" });
    expect(string.message).toBe("maxLength 5000 (at #) is not supported: at most 1000");
    const items = grammarError(() => constraintGrammar({ jsonSchema: { properties: { a: { type: "array", minItems: 1001 } } } }));
    expect(items).toMatchObject({ code: "UNSUPPORTED_SCHEMA" });
    expect(items.message).toContain("minItems 1001 (at #/properties/a)");
    expect(accepts({ type: "string", maxLength: 1000 }, '"ab"')).toBe(true);
  });

  it("hostile schemas are bounded: nesting and size", () => {
    let deep: unknown = { type: "null" };
    for (let i = 0; i < 100; i++) deep = { type: "array", items: deep };
    expect(grammarError(() => jsonSchemaToGbnf(deep))).toMatchObject({ code: "GRAMMAR_TOO_LARGE" });
    const wide = { anyOf: Array.from({ length: 20_000 }, () => ({ type: "null" })) };
    expect(grammarError(() => jsonSchemaToGbnf(wide))).toMatchObject({ code: "GRAMMAR_TOO_LARGE" });
    const long = { anyOf: Array.from({ length: 300 }, () => ({ type: "string", minLength: 1000, maxLength: 1000 })) };
    expect(grammarError(() => constraintGrammar({ jsonSchema: long }))).toMatchObject({ code: "GRAMMAR_TOO_LARGE" });
  });
});

describe("TokenConstraint", () => {
  // A vocabulary of five tokens: "{", "}", "a", "ab" and an end-of-generation token with no text.
  const pieces = ["{", "}", "a", "ab", ""];
  const tokenizer = {
    vocabSize: pieces.length,
    tokenToPiece: (id: number) => utf8.encode(pieces[id]!),
    isEog: (id: number) => id === 4,
  };
  const vocabulary = TokenVocabulary.of(tokenizer);

  it("allows and masks exactly the tokens the grammar admits; the end token once the output is complete", () => {
    const c = new TokenConstraint(new VocabularyGrammar(parseGbnf('root ::= "{" "a"* "b"? "}"?'), vocabulary));
    expect([0, 1, 2, 3, 4].map((t) => c.allows(t))).toEqual([true, false, false, false, false]);
    c.accept(0);
    const logits = new Float32Array(5).fill(1);
    c.mask(logits);
    expect(Array.from(logits)).toEqual([Number.NEGATIVE_INFINITY, 1, 1, 1, 1]);
    c.accept(3); // "ab": nothing but "}" or the end may follow
    expect([0, 1, 2, 3, 4].map((t) => c.allows(t))).toEqual([false, true, false, false, true]);
    expect(c.done).toBe(false);
    c.accept(1);
    expect(c.done).toBe(true);
  });

  it("a mask from a state seen before (kept refused tokens) equals a fresh walk of the vocabulary", () => {
    // Every byte a token, some words, an end token: walk a valid text byte by byte, masking at every step with
    // the walking constraint (its kept masks) and with a fresh one brought to the same point.
    const words = ['"name"', "Tom", "om", ' "', '{"', "12"];
    const vocab = { vocabSize: 256 + words.length + 1 };
    const tok = {
      ...vocab,
      tokenToPiece: (id: number) => (id < 256 ? Uint8Array.of(id) : utf8.encode(words[id - 256] ?? "")),
      isEog: (id: number) => id === vocab.vocabSize - 1,
    };
    const words256 = new TokenVocabulary(tok);
    const grammar = constraintGrammar({
      jsonSchema: {
        type: "object",
        properties: { name: { type: "string" }, tags: { type: "array", items: { type: "integer" } } },
        required: ["name"],
      },
    })!;
    const text = utf8.encode('{"name":"Tommy Tom Tom","tags":[12, 3,45]}');
    // The second walk shares the first one's grammar: its masks all come from what the first kept.
    const shared = new VocabularyGrammar(grammar, words256);
    for (const run of ["cold", "warm"]) {
      const walking = new TokenConstraint(shared);
      for (let i = 0; i <= text.length; i++) {
        const fresh = new TokenConstraint(new VocabularyGrammar(grammar, words256));
        for (const b of text.subarray(0, i)) fresh.accept(b);
        const a = new Float32Array(vocab.vocabSize);
        const b = new Float32Array(vocab.vocabSize);
        walking.mask(a);
        walking.mask(a); // a second mask at the same point changes nothing
        fresh.mask(b);
        expect(Array.from(a), `${run}, after ${i} bytes`).toEqual(Array.from(b));
        if (i < text.length) walking.accept(text[i]!);
      }
      expect(walking.done).toBe(true);
    }
  });

  it("a grammar that admits no token from here is a GrammarError NO_VALID_TOKEN", () => {
    const c = new TokenConstraint(new VocabularyGrammar(parseGbnf('root ::= "{" "c"'), vocabulary));
    c.accept(0);
    expect(grammarError(() => c.mask(new Float32Array(5)))).toMatchObject({ code: "NO_VALID_TOKEN" });
    expect(grammarError(() => c.accept(2))).toMatchObject({ code: "NO_VALID_TOKEN" });
  });
});

describe("hostile input", () => {
  const onlyGrammarErrors = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      if (!(e instanceof GrammarError)) throw e;
    }
  };

  it("random grammar text compiles or is a GrammarError, never another error", () => {
    const piece = fc.constantFrom(
      "root",
      " ::= ",
      "::=",
      "|",
      "(",
      ")",
      "[",
      "]",
      "^",
      "-",
      '"',
      "\\",
      "*",
      "+",
      "?",
      "{",
      "}",
      ",",
      "2",
      "a",
      "x",
      "\n",
      " ",
      "#",
      ".",
      "r1",
    );
    fc.assert(
      fc.property(fc.array(fc.oneof(piece, fc.string({ maxLength: 3 })), { maxLength: 40 }), (parts) => {
        onlyGrammarErrors(() => {
          const m = new GrammarMatcher(parseGbnf(parts.join("")));
          m.advanceBytes(m.initial(), utf8.encode("ax(2)"));
        });
      }),
      { numRuns: 2000 },
    );
  });

  it("random JSON as a schema compiles or is a GrammarError, never another error", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (schema) => onlyGrammarErrors(() => constraintGrammar({ jsonSchema: schema }))),
      { numRuns: 1000 },
    );
    const keyword = fc.constantFrom(
      "type",
      "properties",
      "items",
      "enum",
      "const",
      "anyOf",
      "required",
      "minItems",
      "maxLength",
      "$ref",
      "additionalProperties",
    );
    const schemaLike = fc.letrec((tie) => ({
      node: fc.dictionary(keyword, fc.oneof(fc.jsonValue({ maxDepth: 1 }), tie("node"), fc.array(tie("node"), { maxLength: 2 })), { maxKeys: 3 }),
    })).node;
    fc.assert(
      fc.property(schemaLike, (schema) => onlyGrammarErrors(() => constraintGrammar({ jsonSchema: schema }))),
      { numRuns: 1000 },
    );
  });
});
