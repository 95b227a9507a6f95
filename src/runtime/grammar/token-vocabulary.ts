// The vocabulary as constrained generation sees it: each token's bytes (what the text will hold) and a byte trie
// over them, built once per tokenizer, so a mask walks shared prefixes once and drops a dead prefix's subtree.
// The recent grammars' matchers and masks are kept here too (VocabularyGrammar, a few at a time), so the next
// generation with the same grammar or schema — a server's next request, a chat's next turn — starts warm.
import type { Tokenizer } from "../tokenizer/types.ts";
import type { Grammar } from "./grammar.ts";
import { VocabularyGrammar } from "./vocabulary-grammar.ts";

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
