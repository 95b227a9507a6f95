// The Tokenizer implementation: special-token splitting, then SentencePiece or byte-level BPE per text
// fragment, with llama.cpp's rules for BOS/EOS and the SentencePiece leading space.
import { TokenizerError } from "../errors.ts";
import type { BpeModel } from "./bpe.ts";
import { byteEncode } from "./byte-unicode.ts";
import type { Detokenizer } from "./detokenize.ts";
import type { Pretokenizer } from "./pretokenizers.ts";
import { partitionSpecial } from "./special.ts";
import type { SpmModel } from "./spm.ts";
import type { DecodeOptions, EncodeOptions, PieceOptions, Tokenizer } from "./types.ts";
import { NULL_TOKEN, type Vocab } from "./vocab.ts";

export type Engine = { kind: "spm"; spm: SpmModel } | { kind: "bpe"; bpe: BpeModel; pretokenizer: Pretokenizer };

const textDecoderOptions = { fatal: false, ignoreBOM: true } as const;

export class LlamaTokenizer implements Tokenizer {
  readonly kind: "spm" | "bpe";

  constructor(
    readonly vocab: Vocab,
    private readonly engine: Engine,
    private readonly detokenizer: Detokenizer,
  ) {
    this.kind = engine.kind;
  }

  get vocabSize(): number {
    return this.vocab.tokens.length;
  }
  get bos(): number | undefined {
    return this.vocab.bos === NULL_TOKEN ? undefined : this.vocab.bos;
  }
  get eos(): number | undefined {
    return this.vocab.eos === NULL_TOKEN ? undefined : this.vocab.eos;
  }
  get addBos(): boolean {
    return this.vocab.addBos;
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const addBos = options.addBos ?? this.vocab.addBos;
    const addEos = options.addEos ?? this.vocab.addEos;
    const out: number[] = [];
    if (addBos) out.push(this.required(this.vocab.bos, "BOS"));

    const fragments = partitionSpecial(this.vocab, toWellFormed(text), options.parseSpecial ?? false);
    const engine = this.engine;
    if (engine.kind === "spm") {
      // SentencePiece adds a space before the text and before any text that follows a special token.
      let afterSpecial = true;
      for (const f of fragments) {
        if (typeof f === "number") {
          out.push(f);
          afterSpecial = true;
          continue;
        }
        const spaced = this.vocab.addSpacePrefix && afterSpecial ? " " + f : f;
        engine.spm.encode(spaced.replaceAll(" ", "\u2581"), out);
        afterSpecial = false;
      }
    } else {
      for (const f of fragments) {
        if (typeof f === "number") out.push(f);
        else for (const word of engine.pretokenizer.split(f)) engine.bpe.encodeWord(byteEncode(word), out);
      }
    }

    if (addEos) out.push(this.required(this.vocab.eos, "EOS"));
    return out;
  }

  decode(ids: ArrayLike<number>, options: DecodeOptions = {}): string {
    const bytes = this.detokenizer.detokenizeBytes(
      ids,
      options.removeSpecial ?? false,
      options.unparseSpecial ?? false,
      options.cleanSpaces ?? this.detokenizer.cleanSpaces,
    );
    return new TextDecoder("utf-8", textDecoderOptions).decode(bytes);
  }

  tokenToPiece(id: number, options: PieceOptions = {}): Uint8Array {
    return this.detokenizer.piece(id, options.special ?? false);
  }

  tokenText(id: number): string {
    const text = this.vocab.tokens[id];
    if (text === undefined) throw new TokenizerError("BAD_TOKEN_ID", `token id ${id} is outside the vocabulary`);
    return text;
  }

  isEog(id: number): boolean {
    return this.vocab.eog.has(id);
  }

  private required(id: number, what: string): number {
    if (id === NULL_TOKEN) throw new TokenizerError("NO_SPECIAL_TOKEN", `the vocabulary has no ${what} token`);
    return id;
  }
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** A lone surrogate has no UTF-8 form: llama.cpp receives U+FFFD in its place, so the tokenizer sees that too. */
function toWellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, "\ufffd");
}
