// llama.cpp's GBNF grammar syntax, parsed into a Grammar (grammar.ts):
//   rule ::= alternative | alternative …        one rule per line; "root" is where matching starts
//   "literal"  [a-z0-9_]  [^"\\]  .  name  ( group )  and the repetitions  x*  x+  x?  x{m}  x{m,}  x{m,n}
//   escapes \n \r \t \\ \" \[ \] \- \xHH \uHHHH \UHHHHHHHH; # starts a comment; newlines are free inside ( ).
// Repetitions become rules of their own, right-recursive (x* is R ::= x R | ""), so matching never re-parses.
// The input is hostile: its length, nesting and repetition counts are bounded, and every error is a
// GrammarError GRAMMAR_SYNTAX naming the line and column.
import { GrammarError } from "../errors.ts";
import { Grammar, type GrammarSymbol, MAX_GRAMMAR_ELEMENTS, type RuleAlternatives } from "./grammar.ts";

/** Longest grammar text, in code points. */
export const MAX_GRAMMAR_LENGTH = 256 * 1024;
/** Deepest nesting of ( ) groups. */
export const MAX_GROUP_DEPTH = 64;
/** Largest m or n in x{m,n}. */
export const MAX_REPETITION = 1000;
/** Most rules, the ones repetitions and groups create included. */
export const MAX_RULES = 50_000;

/** Parses GBNF text into a Grammar whose root is the rule "root". */
export function parseGbnf(text: string): Grammar {
  if (typeof text !== "string") throw new GrammarError("GRAMMAR_SYNTAX", "a grammar must be a string");
  // A code point is one or two UTF-16 units: a text this long is over the limit before any array is built.
  if (text.length > 2 * MAX_GRAMMAR_LENGTH)
    throw new GrammarError("GRAMMAR_TOO_LARGE", `the grammar has more than ${MAX_GRAMMAR_LENGTH} characters, the most allowed`);
  const cps = Array.from(text, (c) => c.codePointAt(0)!);
  if (cps.length > MAX_GRAMMAR_LENGTH)
    throw new GrammarError("GRAMMAR_TOO_LARGE", `the grammar has ${cps.length} characters, more than the ${MAX_GRAMMAR_LENGTH} allowed`);
  return new GbnfParser(cps).parse();
}

const isWordChar = (c: number) => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f;
const ch = (s: string) => s.codePointAt(0)!;

class GbnfParser {
  private pos = 0;
  private readonly rules: (RuleAlternatives | undefined)[] = [];
  private readonly names: string[] = [];
  private readonly ids = new Map<string, number>();
  /** Where each rule was first referenced, for the undefined-rule message. */
  private readonly firstUse = new Map<number, number>();

  constructor(private readonly s: number[]) {}

  parse(): Grammar {
    this.space(true);
    while (this.pos < this.s.length) {
      this.rule();
      this.space(true);
    }
    for (let r = 0; r < this.rules.length; r++) {
      if (!this.rules[r])
        throw new GrammarError("UNDEFINED_RULE", `rule "${this.names[r]}" is used ${this.where(this.firstUse.get(r) ?? 0)} but never defined`);
    }
    const root = this.ids.get("root");
    if (root === undefined) throw new GrammarError("UNDEFINED_RULE", 'the grammar has no "root" rule');
    return new Grammar(this.rules as RuleAlternatives[], this.names, root);
  }

  private rule(): void {
    const start = this.pos;
    const name = this.name();
    this.space(false);
    if (!this.take("::=")) this.fail('expected "::=" after the rule name');
    this.space(true);
    const id = this.ruleId(name, start);
    if (this.rules[id]) throw new GrammarError("GRAMMAR_SYNTAX", `rule "${name}" is defined twice (${this.where(start)})`);
    this.rules[id] = this.alternatives(0);
    this.space(false);
    const c = this.s[this.pos];
    if (c !== undefined && c !== 0x0a && c !== 0x0d) this.fail("expected the end of the line after the rule");
  }

  private alternatives(depth: number): RuleAlternatives {
    const alts = [this.sequence(depth)];
    while (this.s[this.pos] === ch("|")) {
      this.pos++;
      this.space(true);
      alts.push(this.sequence(depth));
    }
    return alts;
  }

  private sequence(depth: number): GrammarSymbol[] {
    const seq: GrammarSymbol[] = [];
    let lastStart = -1; // where the last primary's symbols begin, for a repetition after it
    for (;;) {
      const c = this.s[this.pos];
      if (c === undefined) break;
      if (c === ch('"')) {
        lastStart = seq.length;
        this.pos++;
        for (;;) {
          const d = this.s[this.pos];
          if (d === undefined || d === 0x0a) this.fail("unterminated string literal");
          if (d === ch('"')) break;
          const cp = this.char();
          seq.push({ kind: "char", ranges: [cp, cp], negated: false });
        }
        this.pos++;
      } else if (c === ch("[")) {
        lastStart = seq.length;
        seq.push(this.charClass());
      } else if (c === ch(".")) {
        lastStart = seq.length;
        this.pos++;
        seq.push({ kind: "char", ranges: [0x0a, 0x0a, 0x0d, 0x0d], negated: true });
      } else if (isWordChar(c)) {
        lastStart = seq.length;
        const at = this.pos;
        seq.push({ kind: "ref", rule: this.ruleId(this.name(), at) });
      } else if (c === ch("(")) {
        if (depth >= MAX_GROUP_DEPTH) this.fail(`groups nest deeper than ${MAX_GROUP_DEPTH}`);
        lastStart = seq.length;
        this.pos++;
        this.space(true);
        const group = this.alternatives(depth + 1);
        this.space(true);
        if (this.s[this.pos] !== ch(")")) this.fail('expected ")"');
        this.pos++;
        seq.push({ kind: "ref", rule: this.newRule(group) });
      } else if (c === ch("*") || c === ch("+") || c === ch("?") || c === ch("{")) {
        if (lastStart < 0) this.fail(`"${String.fromCodePoint(c)}" follows nothing it could repeat`);
        const [min, max] = this.repetition();
        const item = seq.splice(lastStart);
        for (const sym of this.repeat(item, min, max)) seq.push(sym);
        lastStart = -1;
      } else break;
      this.space(depth > 0);
    }
    return seq;
  }

  /** `item` repeated min … max times (max Infinity: unbounded), as symbols. */
  private repeat(item: GrammarSymbol[], min: number, max: number): GrammarSymbol[] {
    if (item.length * (min + 1) > MAX_GRAMMAR_ELEMENTS)
      throw new GrammarError("GRAMMAR_TOO_LARGE", `a repetition in the grammar expands to more than ${MAX_GRAMMAR_ELEMENTS} elements`);
    const out: GrammarSymbol[] = [];
    for (let i = 0; i < min; i++) for (const sym of item) out.push(sym);
    if (max === Number.POSITIVE_INFINITY) {
      const star = this.newRule([]);
      this.rules[star] = [[...item, { kind: "ref", rule: star }], []];
      out.push({ kind: "ref", rule: star });
    } else if (max > min) {
      // Nested optionals: x{0,3} is (x (x (x)?)?)?, one way to match each count.
      let tail = this.newRule([item, []]);
      for (let i = min + 1; i < max; i++) tail = this.newRule([[...item, { kind: "ref", rule: tail }], []]);
      out.push({ kind: "ref", rule: tail });
    }
    return out;
  }

  private repetition(): [number, number] {
    const c = this.s[this.pos++]!;
    if (c === ch("*")) return [0, Number.POSITIVE_INFINITY];
    if (c === ch("+")) return [1, Number.POSITIVE_INFINITY];
    if (c === ch("?")) return [0, 1];
    this.space(false);
    const min = this.integer();
    this.space(false);
    let max = min;
    if (this.s[this.pos] === ch(",")) {
      this.pos++;
      this.space(false);
      max = this.s[this.pos] === ch("}") ? Number.POSITIVE_INFINITY : this.integer();
      this.space(false);
    }
    if (this.s[this.pos] !== ch("}")) this.fail('expected "}" to end the repetition');
    this.pos++;
    if (max < min) this.fail(`repetition {${min},${max}} has its maximum below its minimum`);
    return [min, max];
  }

  private integer(): number {
    const start = this.pos;
    while (this.pos < this.s.length && this.s[this.pos]! >= 0x30 && this.s[this.pos]! <= 0x39) this.pos++;
    if (this.pos === start) this.fail("expected a number");
    const n = Number(String.fromCodePoint(...this.s.slice(start, Math.min(this.pos, start + 12))));
    if (this.pos - start > 12 || n > MAX_REPETITION) this.fail(`a repetition count is at most ${MAX_REPETITION}`);
    return n;
  }

  private charClass(): GrammarSymbol {
    this.pos++; // [
    const negated = this.s[this.pos] === ch("^");
    if (negated) this.pos++;
    const ranges: number[] = [];
    for (;;) {
      const c = this.s[this.pos];
      if (c === undefined || c === 0x0a) this.fail("unterminated character class");
      if (c === ch("]")) break;
      const lo = this.char();
      let hi = lo;
      if (this.s[this.pos] === ch("-") && this.s[this.pos + 1] !== ch("]") && this.s[this.pos + 1] !== undefined) {
        this.pos++;
        hi = this.char();
        if (hi < lo) this.fail("a character range ends below its start");
      }
      ranges.push(lo, hi);
    }
    this.pos++;
    return { kind: "char", ranges, negated };
  }

  /** One character of a literal or class, escapes decoded. */
  private char(): number {
    const c = this.s[this.pos++]!;
    if (c !== ch("\\")) return c;
    const e = this.s[this.pos++];
    switch (e) {
      case ch("n"):
        return 0x0a;
      case ch("r"):
        return 0x0d;
      case ch("t"):
        return 0x09;
      case ch("x"):
        return this.hex(2);
      case ch("u"):
        return this.hex(4);
      case ch("U"):
        return this.hex(8);
      case ch("\\"):
      case ch('"'):
      case ch("["):
      case ch("]"):
      case ch("-"):
      case ch("/"):
        return e;
      default:
        this.pos--;
        return this.fail("unknown escape");
    }
  }

  private hex(digits: number): number {
    let v = 0;
    for (let i = 0; i < digits; i++) {
      const d = this.s[this.pos];
      const x = d === undefined ? -1 : Number.parseInt(String.fromCodePoint(d), 16);
      if (Number.isNaN(x) || x < 0) this.fail(`expected ${digits} hexadecimal digits`);
      v = v * 16 + x;
      this.pos++;
    }
    if (v > 0x10ffff) this.fail("not a Unicode code point");
    return v;
  }

  private name(): string {
    const start = this.pos;
    while (this.pos < this.s.length && isWordChar(this.s[this.pos]!)) this.pos++;
    if (this.pos === start) this.fail("expected a rule name");
    return String.fromCodePoint(...this.s.slice(start, this.pos));
  }

  private ruleId(name: string, at: number): number {
    let id = this.ids.get(name);
    if (id === undefined) {
      id = this.newRule(undefined, name);
      this.ids.set(name, id);
      this.firstUse.set(id, at);
    }
    return id;
  }

  private newRule(alts: RuleAlternatives | undefined, name = `${this.names.length}`): number {
    if (this.rules.length >= MAX_RULES) throw new GrammarError("GRAMMAR_TOO_LARGE", `the grammar needs more than ${MAX_RULES} rules`);
    this.rules.push(alts);
    this.names.push(name);
    return this.rules.length - 1;
  }

  /** Skips blanks and comments; newlines too when `newlines`. */
  private space(newlines: boolean): void {
    while (this.pos < this.s.length) {
      const c = this.s[this.pos]!;
      if (c === 0x20 || c === 0x09 || ((c === 0x0a || c === 0x0d) && newlines)) this.pos++;
      else if (c === ch("#")) while (this.pos < this.s.length && this.s[this.pos] !== 0x0a) this.pos++;
      else break;
    }
  }

  private take(word: string): boolean {
    const w = Array.from(word, (c) => c.codePointAt(0)!);
    if (w.every((c, i) => this.s[this.pos + i] === c)) {
      this.pos += w.length;
      return true;
    }
    return false;
  }

  private where(at: number): string {
    let line = 1;
    let col = 1;
    for (let i = 0; i < at && i < this.s.length; i++) {
      if (this.s[i] === 0x0a) {
        line++;
        col = 1;
      } else col++;
    }
    return `at line ${line}, column ${col}`;
  }

  private fail(message: string): never {
    throw new GrammarError("GRAMMAR_SYNTAX", `grammar: ${message} ${this.where(this.pos)}`);
  }
}
