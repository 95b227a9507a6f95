// Incremental matching of a Grammar, one byte at a time: a pushdown automaton whose state is the set of
// parse stacks that are still alive (llama.cpp's approach), plus the UTF-8 sequence being assembled. Each
// stack is a linked list of element positions, its top a character class the next code point must match.
// Stacks are hash-consed (an equal stack is the same object), so the set dedupes by identity and a state is
// cheap to keep, share and branch: nothing is ever re-parsed from the start. States between code points are
// interned too, each with its steps by code point computed once: text that loops through the same states (the
// characters of a JSON string) costs a map lookup per character.
import { GrammarError } from "../errors.ts";
import { ELEMENT_CHAR, ELEMENT_END, type Grammar } from "./grammar.ts";

/** A stack deeper than this (a recursive rule nested this far) is dropped: the bound on recursion depth. */
export const MAX_STACK_DEPTH = 1024;
/** Most live stacks: more means an ambiguous grammar whose cost would explode. */
export const MAX_STACKS = 4096;

export class StackNode {
  /** The stacks that push a position on top of this one, by position. */
  readonly above = new Map<number, StackNode>();
  constructor(
    readonly id: number,
    readonly pos: number,
    readonly next: StackNode | null,
    readonly depth: number,
  ) {}
}

export interface MatchState {
  /** Live stacks, each with a character class on top. */
  readonly stacks: readonly StackNode[];
  /** The input so far is a whole sentence of the grammar (it may also continue). */
  readonly complete: boolean;
  /** Bytes of a UTF-8 sequence still to come (0 between code points), its bits so far, and the least code
   * point a sequence of its length may encode (shorter forms are overlong: invalid UTF-8, decoded as U+FFFD). */
  readonly pending: number;
  readonly bits: number;
  readonly least: number;
  /** On an interned state (between code points): the state after each code point seen so far (undefined: refused). */
  readonly after?: Map<number, MatchState | undefined>;
  /** …and after each set of its stacks a code point matched (a bit per stack), which alone decides the next state. */
  readonly byMatched?: Map<number, MatchState | undefined>;
}

export class GrammarMatcher {
  private readonly bottoms = new Map<number, StackNode>();
  private readonly states = new Map<string, MatchState>();
  private nodes = 0;

  constructor(readonly grammar: Grammar) {}

  /** Stack nodes and states made so far: they and their steps live as long as the matcher. */
  get size(): number {
    return this.nodes + this.states.size;
  }

  /** The one state object of these stacks (any order) and completeness. */
  intern(stacks: StackNode[], complete: boolean): MatchState {
    // Most states are one or two stacks: their keys skip the sort.
    const [a, b] = [stacks[0]?.id ?? -1, stacks[1]?.id ?? -1];
    const ids =
      stacks.length <= 1
        ? `${a}`
        : stacks.length === 2
          ? a < b
            ? `${a},${b}`
            : `${b},${a}`
          : stacks
              .map((s) => s.id)
              .sort((x, y) => x - y)
              .join(",");
    const key = complete ? `c${ids}` : ids;
    let state = this.states.get(key);
    if (!state) {
      state = { stacks, complete, pending: 0, bits: 0, least: 0, after: new Map(), byMatched: new Map() };
      this.states.set(key, state);
    }
    return state;
  }

  /** The state before any input. */
  initial(): MatchState {
    const out = new Expansion(this);
    for (const a of this.grammar.alternatives[this.grammar.root]!) out.expand(this.node(a, null));
    return out.state();
  }

  /** The state after one more byte, or undefined when the grammar cannot continue with it. */
  advanceByte(state: MatchState, byte: number): MatchState | undefined {
    if (state.pending === 0) {
      if (byte < 0x80) return this.advanceCodePoint(state, byte);
      if ((byte & 0xe0) === 0xc0) return this.partial(state, 1, byte & 0x1f, 0x80);
      if ((byte & 0xf0) === 0xe0) return this.partial(state, 2, byte & 0x0f, 0x800);
      if ((byte & 0xf8) === 0xf0) return this.partial(state, 3, byte & 0x07, 0x10000);
      return undefined;
    }
    if ((byte & 0xc0) !== 0x80) return undefined;
    const bits = (state.bits << 6) | (byte & 0x3f);
    if (state.pending > 1) return this.partial(state, state.pending - 1, bits, state.least);
    if (bits < state.least || bits > 0x10ffff || (bits >= 0xd800 && bits <= 0xdfff)) return undefined;
    return this.advanceCodePoint(state, bits);
  }

  /** The state after a whole token's bytes, or undefined. */
  advanceBytes(state: MatchState, bytes: Uint8Array): MatchState | undefined {
    let s: MatchState | undefined = state;
    for (let i = 0; i < bytes.length && s; i++) s = this.advanceByte(s, bytes[i]!);
    return s;
  }

  /** A sequence with `need` bytes to come is kept while some stack could accept a valid code point it may become. */
  private partial(state: MatchState, need: number, bits: number, least: number): MatchState | undefined {
    const lo = Math.max(bits * 2 ** (6 * need), least);
    const hi = Math.min(bits * 2 ** (6 * need) + 2 ** (6 * need) - 1, 0x10ffff);
    if (lo > hi) return undefined;
    const g = this.grammar;
    if (!state.stacks.some((s) => g.matchesSome(s.pos, lo, hi))) return undefined;
    return { stacks: state.stacks, complete: false, pending: need, bits, least };
  }

  private advanceCodePoint(state: MatchState, cp: number): MatchState | undefined {
    const { after, byMatched, stacks } = state;
    const known = after?.get(cp);
    if (known !== undefined || after?.has(cp)) return known;
    const g = this.grammar;
    let next: MatchState | undefined;
    if (byMatched && stacks.length <= 30) {
      // Code points that match the same stacks (every ordinary character inside a JSON string) share one expansion.
      let matched = 0;
      for (let i = 0; i < stacks.length; i++) if (g.matches(stacks[i]!.pos, cp)) matched |= 1 << i;
      if (matched === 0) next = undefined;
      else if (byMatched.has(matched)) next = byMatched.get(matched);
      else {
        next = this.continueMatched(stacks, (i) => ((matched >>> i) & 1) === 1);
        byMatched.set(matched, next);
      }
    } else next = this.continueMatched(stacks, (i) => g.matches(stacks[i]!.pos, cp));
    after?.set(cp, next);
    return next;
  }

  /** The state after a code point that the stacks `matched` picks have matched, or undefined when none has. */
  private continueMatched(stacks: readonly StackNode[], matched: (i: number) => boolean): MatchState | undefined {
    const out = new Expansion(this);
    for (let i = 0; i < stacks.length; i++) if (matched(i)) out.continueAfter(stacks[i]!.pos, stacks[i]!.next);
    return out.stacks.size === 0 && !out.complete ? undefined : out.state();
  }

  node(pos: number, next: StackNode | null): StackNode {
    const table = next ? next.above : this.bottoms;
    let n = table.get(pos);
    if (!n) {
      n = new StackNode(this.nodes++, pos, next, next ? next.depth + 1 : 1);
      table.set(pos, n);
    }
    return n;
  }
}

/** One step's new stacks: every way to reach a character class from the positions given. */
class Expansion {
  readonly stacks = new Set<StackNode>();
  complete = false;
  private readonly seen = new Set<StackNode>();

  constructor(private readonly m: GrammarMatcher) {}

  /** The stack that continues after element `pos` (whose symbol has just matched) below `next`. */
  continueAfter(pos: number, next: StackNode | null): void {
    const g = this.m.grammar;
    this.expand(g.kinds[pos + 1] === ELEMENT_END ? next : this.m.node(pos + 1, next));
  }

  /**
   * Every stack with a character class on top that `start` leads to (null: the empty stack, a whole sentence).
   * A work list, not recursion: a chain of rules as long as a grammar may have would overflow the call stack.
   */
  expand(start: StackNode | null): void {
    const g = this.m.grammar;
    const work: (StackNode | null)[] = [start];
    while (work.length > 0) {
      const stack = work.pop()!;
      if (stack === null) {
        this.complete = true;
        continue;
      }
      if (this.seen.has(stack) || stack.depth > MAX_STACK_DEPTH) continue;
      this.seen.add(stack);
      const pos = stack.pos;
      const kind = g.kinds[pos];
      if (kind === ELEMENT_CHAR) {
        this.stacks.add(stack);
        if (this.stacks.size > MAX_STACKS)
          throw new GrammarError("GRAMMAR_TOO_AMBIGUOUS", `the grammar keeps more than ${MAX_STACKS} parses alive at once: make it less ambiguous`);
      } else if (kind === ELEMENT_END) work.push(stack.next);
      else {
        // A rule reference: what follows it goes below (nothing when the reference ends its alternative, so
        // that right recursion such as x* does not deepen the stack), then each alternative of the rule on top.
        const after = g.kinds[pos + 1] === ELEMENT_END ? stack.next : this.m.node(pos + 1, stack.next);
        for (const a of g.alternatives[g.refs[pos]!]!) work.push(g.kinds[a] === ELEMENT_END ? after : this.m.node(a, after));
      }
    }
  }

  state(): MatchState {
    return this.m.intern([...this.stacks], this.complete);
  }
}
