// A grammar applied to sampling, token by token. The generation loop asks `allows(token)` of the token the
// sampler drew (a walk over that token's few bytes); only when it is refused does `mask` set every refused
// token's logit to −∞ (VocabularyGrammar finds them through the vocabulary's trie, or keeps them from before).
// An end-of-generation token is allowed exactly when the output so far is complete; `done` says that nothing can
// follow, so generation ends there.
import { GrammarError } from "../errors.ts";
import type { GrammarMatcher, MatchState } from "./matcher.ts";
import type { TokenVocabulary } from "./token-vocabulary.ts";
import type { VocabularyGrammar } from "./vocabulary-grammar.ts";

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
