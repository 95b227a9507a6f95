// Splitting special tokens out of input text before the real tokenizer runs (llama.cpp
// tokenizer_st_partition). Tokens are tried longest first; each one cuts every remaining text fragment at its
// left-to-right, non-overlapping occurrences. User-defined tokens are always matched; control and unknown
// tokens only when the caller asks for special-token parsing.
import { TokenAttr } from "./types.ts";
import type { Vocab } from "./vocab.ts";

/** A run of plain text, or a token already decided. */
export type Fragment = string | number;

export function partitionSpecial(vocab: Vocab, text: string, parseSpecial: boolean): Fragment[] {
  if (text === "") return [];
  let fragments: Fragment[] = [text];
  for (const id of vocab.specialTokens) {
    if (!parseSpecial && vocab.attrs[id]! & (TokenAttr.CONTROL | TokenAttr.UNKNOWN)) continue;
    const needle = vocab.tokens[id]!;
    if (!fragments.some((f) => typeof f === "string" && f.includes(needle))) continue;
    const next: Fragment[] = [];
    for (const f of fragments) {
      if (typeof f === "number" || !f.includes(needle)) {
        next.push(f);
        continue;
      }
      const parts = f.split(needle);
      parts.forEach((part, i) => {
        if (i > 0) next.push(id);
        if (part !== "") next.push(part);
      });
    }
    fragments = next;
  }
  return fragments;
}
