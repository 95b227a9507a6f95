// Incremental detokenization for generation: tokens arrive one at a time, text leaves only in whole
// characters. A character split across byte-fallback tokens (an emoji as <0xF0><0x9F><0x98><0x81>) is held
// until its last byte arrives; flush() turns an unfinished tail into U+FFFD.
import type { PieceOptions, Tokenizer } from "./types.ts";

export type StreamingDecoderOptions = PieceOptions;

export class StreamingDecoder {
  // TextDecoder's streaming mode keeps an incomplete trailing sequence back and replaces invalid bytes.
  // ignoreBOM: a U+FEFF in the text is content, not a byte-order mark to swallow.
  private decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
  private readonly special: boolean;

  constructor(
    private readonly tokenizer: Pick<Tokenizer, "tokenToPiece">,
    options: StreamingDecoderOptions = {},
  ) {
    this.special = options.special ?? false;
  }

  /** Adds one token (or several) and returns the text that is now complete, possibly "". */
  push(ids: number | ArrayLike<number>): string {
    if (typeof ids === "number") return this.decoder.decode(this.tokenizer.tokenToPiece(ids, { special: this.special }), { stream: true });
    let text = "";
    for (let i = 0; i < ids.length; i++) text += this.push(ids[i]!);
    return text;
  }

  /** Ends the stream: returns what was held back (incomplete bytes as U+FFFD) and resets for reuse. */
  flush(): string {
    const rest = this.decoder.decode();
    this.decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });
    return rest;
  }
}
