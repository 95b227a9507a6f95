// A context-free grammar over Unicode code points in the flat form the matcher walks (llama.cpp's layout):
// every alternative of every rule is a run of elements in one array, ended by an END element. An element is a
// character class (ranges of code points, possibly negated) or a reference to a rule. Built from rules of
// symbols (gbnf.ts builds them from text); building checks what would make matching hang or explode: rules
// that are referenced but not defined, left recursion (a rule that can reach itself without consuming a
// character), and a size bound.
import { GrammarError } from "../errors.ts";

/** A character class: code point ranges [lo, hi] (inclusive, flattened), matched unless `negated`. */
export interface CharSymbol {
  kind: "char";
  ranges: number[];
  negated: boolean;
}

export interface RefSymbol {
  kind: "ref";
  rule: number;
}

export type GrammarSymbol = CharSymbol | RefSymbol;

/** A rule: its alternatives, each a sequence of symbols (an empty sequence matches nothing, i.e. "" ). */
export type RuleAlternatives = GrammarSymbol[][];

/** Most elements a grammar may have once its repetitions are expanded. */
export const MAX_GRAMMAR_ELEMENTS = 200_000;

export const ELEMENT_END = 0;
export const ELEMENT_CHAR = 1;
export const ELEMENT_REF = 2;

export class Grammar {
  /** ELEMENT_END, ELEMENT_CHAR or ELEMENT_REF per element. */
  readonly kinds: Uint8Array;
  /** The rule a REF element refers to (−1 otherwise). */
  readonly refs: Int32Array;
  /** The ranges of a CHAR element (empty otherwise). */
  readonly ranges: readonly Int32Array[];
  readonly negated: Uint8Array;
  /** Per rule, the element index where each of its alternatives starts. */
  readonly alternatives: readonly Int32Array[];
  readonly root: number;

  constructor(
    rules: readonly RuleAlternatives[],
    readonly ruleNames: readonly string[],
    root: number,
  ) {
    let size = 0;
    for (const alts of rules) for (const alt of alts) size += alt.length + 1;
    if (size > MAX_GRAMMAR_ELEMENTS)
      throw new GrammarError("GRAMMAR_TOO_LARGE", `the grammar has ${size} elements once expanded, more than the ${MAX_GRAMMAR_ELEMENTS} allowed`);
    this.kinds = new Uint8Array(size);
    this.refs = new Int32Array(size).fill(-1);
    this.negated = new Uint8Array(size);
    const ranges: Int32Array[] = new Array(size);
    const none = new Int32Array(0);
    const starts: Int32Array[] = [];
    let at = 0;
    for (const alts of rules) {
      const s = new Int32Array(alts.length);
      alts.forEach((alt, a) => {
        s[a] = at;
        for (const sym of alt) {
          if (sym.kind === "char") {
            this.kinds[at] = ELEMENT_CHAR;
            ranges[at] = Int32Array.from(sym.ranges);
            this.negated[at] = sym.negated ? 1 : 0;
          } else {
            this.kinds[at] = ELEMENT_REF;
            this.refs[at] = sym.rule;
            ranges[at] = none;
          }
          at++;
        }
        this.kinds[at] = ELEMENT_END;
        ranges[at] = none;
        at++;
      });
      starts.push(s);
    }
    this.ranges = ranges;
    this.alternatives = starts;
    this.root = root;
    checkLeftRecursion(rules, ruleNames);
  }

  /** Whether the CHAR element at `pos` matches code point `cp`. */
  matches(pos: number, cp: number): boolean {
    const r = this.ranges[pos]!;
    let inside = false;
    for (let i = 0; i < r.length; i += 2) {
      if (cp >= r[i]! && cp <= r[i + 1]!) {
        inside = true;
        break;
      }
    }
    return inside !== (this.negated[pos] === 1);
  }

  /** Whether the CHAR element at `pos` matches some code point in [lo, hi]. */
  matchesSome(pos: number, lo: number, hi: number): boolean {
    const r = this.ranges[pos]!;
    if (this.negated[pos] === 1) {
      // Some code point of [lo, hi] lies outside every range unless the ranges cover it all.
      let covered = lo;
      const sorted: [number, number][] = [];
      for (let i = 0; i < r.length; i += 2) sorted.push([r[i]!, r[i + 1]!]);
      sorted.sort((a, b) => a[0] - b[0]);
      for (const [a, b] of sorted) {
        if (a > covered) break;
        if (b >= covered) covered = b + 1;
        if (covered > hi) return false;
      }
      return true;
    }
    for (let i = 0; i < r.length; i += 2) if (r[i]! <= hi && r[i + 1]! >= lo) return true;
    return false;
  }
}

/** A rule that can derive itself as its first symbol (directly or through rules that can match "") would loop forever. */
function checkLeftRecursion(rules: readonly RuleAlternatives[], names: readonly string[]): void {
  // Rules that can match the empty string, to a fixed point.
  const nullable = new Uint8Array(rules.length);
  for (let changed = true; changed; ) {
    changed = false;
    rules.forEach((alts, r) => {
      if (nullable[r]) return;
      if (alts.some((alt) => alt.every((s) => s.kind === "ref" && nullable[s.rule]))) {
        nullable[r] = 1;
        changed = true;
      }
    });
  }
  // Left edges: rule → the rules that can come first in it.
  const edges = rules.map((alts) => {
    const first = new Set<number>();
    for (const alt of alts) {
      for (const s of alt) {
        if (s.kind === "char") break;
        first.add(s.rule);
        if (!nullable[s.rule]) break;
      }
    }
    return [...first];
  });
  // Iterative depth-first search for a cycle (0 unvisited, 1 on the path, 2 done).
  const state = new Uint8Array(rules.length);
  for (let start = 0; start < rules.length; start++) {
    if (state[start]) continue;
    const stack: [number, number][] = [[start, 0]];
    state[start] = 1;
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      const [r, i] = top;
      if (i < edges[r]!.length) {
        top[1]++;
        const next = edges[r]![i]!;
        if (state[next] === 1)
          throw new GrammarError("LEFT_RECURSION", `rule "${names[next]}" is left-recursive: it can reach itself without matching a character`);
        if (state[next] === 0) {
          state[next] = 1;
          stack.push([next, 0]);
        }
      } else {
        state[r] = 2;
        stack.pop();
      }
    }
  }
}
