// A grammar on one vocabulary: its matcher and the tokens each state it was asked about allows.
import { GrammarError } from "../errors.ts";
import type { Grammar } from "./grammar.ts";
import { GrammarMatcher, type MatchState } from "./matcher.ts";
import type { TokenVocabulary, TrieNode } from "./token-vocabulary.ts";

/** Most states whose allowed tokens a grammar keeps (a bit per vocabulary token each). */
const MASK_CACHE_ENTRIES = 256;

/**
 * A grammar on one vocabulary: its matcher (whose parse stacks, states and steps are computed once) and the
 * tokens each state between code points allows, as a bitset (states recur: every character inside a JSON string
 * is in one of a few), so a mask there after the first is a pass over the bits instead of a vocabulary walk.
 */
export class VocabularyGrammar {
  readonly matcher: GrammarMatcher;
  /** Allowed-token bitsets by interned state. */
  private readonly allowed = new Map<MatchState, Uint32Array>();
  private readonly flags: Uint8Array;

  constructor(
    grammar: Grammar,
    readonly vocabulary: TokenVocabulary,
  ) {
    this.matcher = new GrammarMatcher(grammar);
    this.flags = new Uint8Array(vocabulary.size);
  }

  /** The tokens `state` allows, a bit per token id. A GrammarError NO_VALID_TOKEN when it allows none. */
  allowedBits(state: MatchState): Uint32Array {
    const interned = state.after !== undefined;
    let bits = interned ? this.allowed.get(state) : undefined;
    if (!bits) {
      bits = this.walk(state);
      if (interned && this.allowed.size < MASK_CACHE_ENTRIES) this.allowed.set(state, bits);
    }
    return bits;
  }

  private walk(start: MatchState): Uint32Array {
    const allowed = this.flags;
    allowed.fill(0);
    let count = 0;
    // Depth first with a work list: a vocabulary may hold a very long token.
    const work: [TrieNode, MatchState][] = [[this.vocabulary.trie, start]];
    while (work.length > 0) {
      const [node, state] = work.pop()!;
      if (!node.children) continue;
      for (const [byte, child] of node.children) {
        const s = this.matcher.advanceByte(state, byte);
        if (!s) continue;
        if (child.tokens) {
          for (const t of child.tokens) allowed[t] = 1;
          count += child.tokens.length;
        }
        work.push([child, s]);
      }
    }
    if (start.complete && start.pending === 0) {
      for (const t of this.vocabulary.eog) {
        allowed[t] = 1;
        count++;
      }
    }
    if (count === 0) throw new GrammarError("NO_VALID_TOKEN", "the grammar admits no token of this vocabulary at this point of the output");
    const bits = new Uint32Array(Math.ceil(allowed.length / 32));
    for (let i = 0; i < allowed.length; i++) if (allowed[i]) bits[i >>> 5]! |= 1 << (i & 31);
    return bits;
  }
}
