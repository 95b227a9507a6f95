// Building a tokenizer from GGUF metadata: `tokenizer.ggml.model` picks SentencePiece ("llama") or
// byte-level BPE ("gpt2"); the defaults are llama.cpp's for each.
import { TokenizerError } from "../errors.ts";
import { BpeModel } from "./bpe.ts";
import { Detokenizer } from "./detokenize.ts";
import { getString, getStringArray, type Metadata } from "./metadata.ts";
import { pretokenizerFor } from "./pretokenizers.ts";
import { SpmModel } from "./spm.ts";
import { LlamaTokenizer } from "./tokenizer.ts";
import type { Tokenizer, TokenizerOptions } from "./types.ts";
import { NULL_TOKEN, loadVocab } from "./vocab.ts";

export type { Tokenizer, TokenizerOptions } from "./types.ts";
export { TokenType } from "./types.ts";
export { StreamingDecoder } from "./streaming-decoder.ts";

/**
 * The tokenizer of a model from its GGUF metadata (`GgufHeader.metadata`). Throws TokenizerError when the
 * tokenizer keys are missing, malformed or of an unsupported kind; non-fatal oddities go to `onWarning`.
 */
export function tokenizerFromGguf(metadata: Metadata, options: TokenizerOptions = {}): Tokenizer {
  const warn = options.onWarning ?? ((message: string) => console.warn(`ternion tokenizer: ${message}`));
  const model = getString(metadata, "tokenizer.ggml.model");
  if (model === undefined) throw new TokenizerError("MISSING_METADATA", "tokenizer.ggml.model is missing");

  if (model === "llama") {
    const vocab = loadVocab(metadata, "spm", { addBos: true, addEos: false, addSpacePrefix: true, bos: 1, eos: 2, unk: 0 }, warn);
    return new LlamaTokenizer(vocab, { kind: "spm", spm: new SpmModel(vocab) }, new Detokenizer(vocab, vocab.addSpacePrefix, false));
  }

  if (model === "gpt2") {
    const merges = getStringArray(metadata, "tokenizer.ggml.merges");
    if (merges === undefined) throw new TokenizerError("MISSING_METADATA", "tokenizer.ggml.merges is missing");
    const pretokenizer = pretokenizerFor(getString(metadata, "tokenizer.ggml.pre") ?? "", warn);
    const vocab = loadVocab(
      metadata,
      "bpe",
      { addBos: pretokenizer.addBosDefault, addEos: false, addSpacePrefix: false, bos: 11, eos: 11, unk: NULL_TOKEN },
      warn,
    );
    // BPE encoding never adds a space prefix, but llama.cpp's decoder still honours add_space_prefix when a
    // file sets it (default false), so the detokenizer gets the flag as for SentencePiece.
    return new LlamaTokenizer(
      vocab,
      { kind: "bpe", bpe: new BpeModel(vocab, merges, pretokenizer.ignoreMerges), pretokenizer },
      new Detokenizer(vocab, vocab.addSpacePrefix, pretokenizer.cleanSpaces),
    );
  }

  throw new TokenizerError("UNSUPPORTED_TOKENIZER", `tokenizer.ggml.model ${JSON.stringify(model)} is not supported (only "llama" and "gpt2")`);
}
