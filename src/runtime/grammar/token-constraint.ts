// A grammar applied to sampling, token by token. The generation loop asks `allows(token)` of the token the
// sampler drew (a walk over that token's few bytes); only when it is refused does `mask` visit the vocabulary,
// through a byte trie of every token's bytes (built once per tokenizer), so tokens that share a prefix share
// the matching work and a dead prefix prunes its whole subtree. An end-of-generation token is allowed exactly
// when the output so far is complete; `done` says that nothing can follow, so generation ends there.
// A grammar's matcher and the masks it needed are kept with the vocabulary (VocabularyGrammar, a few grammars
// at a time), so the next generation with the same grammar or schema — a server's next request — starts warm.
import { GrammarError } from "../errors.ts";
import type { Tokenizer } from "../tokenizer/types.ts";
import type { Grammar } from "./grammar.ts";
import { GrammarMatcher, type MatchState } from "./matcher.ts";

/** Most states whose allowed tokens a grammar keeps (a bit per vocabulary token each). */
const MASK_CACHE_ENTRIES = 256;
/** Grammars kept per vocabulary (the most recently used). */
const KEPT_GRAMMARS = 8;
/** A kept grammar whose matcher has made more stack nodes and states than this starts over (bounds a long-lived server). */
const MAX_KEPT_NODES = 200_000;

/** The vocabulary as the constraint sees it: each token's bytes and a trie over them. */
export class TokenVocabulary {
  readonly size: number;
  readonly pieces: readonly Uint8Array[];
  readonly eog: readonly number[];
  readonly trie: TrieNode;

  constructor(tokenizer: Pick<Tokenizer, "vocabSize" | "tokenToPiece" | "isEog">) {
    this.size = tokenizer.vocabSize;
    const pieces: Uint8Array[] = [];
    const eog: number[] = [];
    this.trie = new TrieNode();
    for (let id = 0; id < this.size; id++) {
      const piece = tokenizer.tokenToPiece(id);
      pieces.push(piece);
      if (tokenizer.isEog(id)) eog.push(id);
      else if (piece.length > 0) this.trie.insert(piece, id);
    }
    this.pieces = pieces;
    this.eog = eog;
  }

  private readonly grammars = new Map<string, VocabularyGrammar>();

  /** The kept VocabularyGrammar of the GBNF `text` (compiled by `compile` when there is none, or a fresh one
   * when the kept one has grown past its bound); the most recently used few are kept. */
  grammar(text: string, compile: () => Grammar): VocabularyGrammar {
    let g = this.grammars.get(text);
    this.grammars.delete(text);
    if (!g || g.matcher.size > MAX_KEPT_NODES) g = new VocabularyGrammar(compile(), this);
    this.grammars.set(text, g);
    if (this.grammars.size > KEPT_GRAMMARS) this.grammars.delete(this.grammars.keys().next().value!);
    return g;
  }

  private static readonly cache = new WeakMap<object, TokenVocabulary>();

  /** The vocabulary of `tokenizer`, built on first use and kept as long as the tokenizer lives. */
  static of(tokenizer: Pick<Tokenizer, "vocabSize" | "tokenToPiece" | "isEog">): TokenVocabulary {
    let v = TokenVocabulary.cache.get(tokenizer);
    if (!v) {
      v = new TokenVocabulary(tokenizer);
      TokenVocabulary.cache.set(tokenizer, v);
    }
    return v;
  }
}

/** A node of the vocabulary's byte trie; most are leaves, so their map and list are made only when needed. */
export class TrieNode {
  children: Map<number, TrieNode> | undefined;
  /** Tokens whose bytes end here. */
  tokens: number[] | undefined;

  insert(bytes: Uint8Array, id: number): void {
    let n: TrieNode = this;
    for (const b of bytes) {
      n.children ??= new Map();
      let c = n.children.get(b);
      if (!c) {
        c = new TrieNode();
        n.children.set(b, c);
      }
      n = c;
    }
    (n.tokens ??= []).push(id);
  }
}

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

/** One generation's place in a grammar: what the loop and the sampler ask. */
export class TokenConstraint {
  private readonly matcher: GrammarMatcher;
  private readonly vocabulary: TokenVocabulary;
  private state: MatchState;
  private readonly eog: Set<number>;
  /** The state `allows` computed last, so that `accept` of the same token does not walk its bytes again. */
  private checked: { token: number; state: MatchState | undefined } = { token: -1, state: undefined };

  constructor(private readonly shared: VocabularyGrammar) {
    this.matcher = shared.matcher;
    this.vocabulary = shared.vocabulary;
    this.state = this.matcher.initial();
    this.eog = new Set(this.vocabulary.eog);
  }
  /** Nothing can follow the output: generation ends here. */
  get done(): boolean {
    return this.state.complete && this.state.stacks.length === 0;
  }

  /** The output so far is a whole sentence of the grammar. */
  get complete(): boolean {
    return this.state.complete;
  }

  /** Whether `token` may come next. */
  allows(token: number): boolean {
    if (this.eog.has(token)) return this.state.complete;
    const piece = this.vocabulary.pieces[token];
    if (!piece || piece.length === 0) return false;
    this.checked = { token, state: this.matcher.advanceBytes(this.state, piece) };
    return this.checked.state !== undefined;
  }

  /** Moves past `token` (which `allows` accepted). */
  accept(token: number): void {
    const checked = this.checked;
    this.checked = { token: -1, state: undefined };
    if (this.eog.has(token)) {
      if (!this.state.complete) throw new GrammarError("NO_VALID_TOKEN", `token ${token} ends the output before the grammar is complete`);
      this.state = { stacks: [], complete: true, pending: 0, bits: 0, least: 0 };
      return;
    }
    const next = checked.token === token ? checked.state : this.matcher.advanceBytes(this.state, this.vocabulary.pieces[token] ?? new Uint8Array(0));
    if (!next) throw new GrammarError("NO_VALID_TOKEN", `token ${token} does not fit the grammar here`);
    this.state = next;
  }

  /**
   * Sets the logit of every token the grammar refuses here to −∞. A GrammarError NO_VALID_TOKEN when it
   * refuses them all (a grammar that needs a character no token spells), so generation fails instead of
   * producing text outside the grammar.
   */
  mask(logits: Float32Array): void {
    const bits = this.shared.allowedBits(this.state);
    const n = logits.length;
    for (let w = 0; w < bits.length; w++) {
      let refused = ~bits[w]! >>> 0;
      while (refused !== 0) {
        const low = refused & -refused;
        const t = w * 32 + 31 - Math.clz32(low);
        if (t < n) logits[t] = Number.NEGATIVE_INFINITY;
        refused = (refused ^ low) >>> 0;
      }
    }
  }
}
