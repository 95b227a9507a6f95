// The public shape of a tokenizer. Behaviour follows llama.cpp (llama-vocab.cpp) so that token ids and text
// match what llama.cpp produces for the same GGUF file.

export interface EncodeOptions {
  /** Prepend BOS. Default: the model's `tokenizer.ggml.add_bos_token` (llama.cpp's add_special). */
  addBos?: boolean;
  /** Append EOS. Default: the model's `tokenizer.ggml.add_eos_token`. */
  addEos?: boolean;
  /**
   * Recognise control tokens (`<s>`, `<|eot_id|>`, …) written in the text. Default false, as in llama.cpp's
   * `llama_tokenize(…, parse_special = false)`. User-defined tokens are always recognised, as in llama.cpp.
   */
  parseSpecial?: boolean;
}

export interface DecodeOptions {
  /** Drop a leading BOS / trailing EOS when the model adds them (llama.cpp `remove_special`). Default false. */
  removeSpecial?: boolean;
  /** Render control/unknown tokens as their text (llama.cpp `unparse_special`). Default false: they vanish. */
  unparseSpecial?: boolean;
  /**
   * llama.cpp's `clean_up_tokenization_spaces` passes (" ." → ".", " 's" → "'s", …). Default: the model's
   * setting (on for most GPT-2 style BPE vocabularies, off for SentencePiece).
   */
  cleanSpaces?: boolean;
}

export interface PieceOptions {
  /** Render control/unknown tokens as their text instead of nothing. Default false. */
  special?: boolean;
}

export interface Tokenizer {
  readonly kind: "spm" | "bpe";
  readonly vocabSize: number;
  /** Beginning-of-sequence id, or undefined when the vocabulary has none. */
  readonly bos: number | undefined;
  readonly eos: number | undefined;
  /** Whether encode() adds BOS by default (the model's add_bos_token). */
  readonly addBos: boolean;
  encode(text: string, options?: EncodeOptions): number[];
  decode(ids: ArrayLike<number>, options?: DecodeOptions): string;
  /** The bytes a token stands for (llama.cpp `token_to_piece` without lstrip). */
  tokenToPiece(id: number, options?: PieceOptions): Uint8Array;
  /** The raw vocabulary string of a token (e.g. "▁Hello", "<0x0A>", "Ġthe"). */
  tokenText(id: number): string;
  /** End of generation: EOS, EOT, EOM and the like. */
  isEog(id: number): boolean;
}

/** `tokenizer.ggml.token_type` values. */
export const TokenType = {
  UNDEFINED: 0,
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

/** llama.cpp's token attribute bit flags (llama_token_attr); a token type maps to one of them. */
export const TokenAttr = {
  UNDEFINED: 0,
  UNKNOWN: 1 << 0,
  UNUSED: 1 << 1,
  NORMAL: 1 << 2,
  CONTROL: 1 << 3,
  USER_DEFINED: 1 << 4,
  BYTE: 1 << 5,
} as const;

/** Non-fatal problems found while loading (unknown pre-tokenizer, bad special id, …). */
export type TokenizerWarningHandler = (message: string) => void;

export interface TokenizerOptions {
  /** Called for each non-fatal problem. Default: console.warn. */
  onWarning?: TokenizerWarningHandler;
}
