// The llama2.c tokenizer file (tokenizer.bin / tok512.bin) and its translation to GGUF `tokenizer.ggml.*`
// metadata for a SentencePiece ("llama") vocabulary.
//
// File: u32 max_token_length, then per token: f32 score, i32 byte length, UTF-8 bytes. llama2.c's export
// script rewrote each SentencePiece piece: "▁" (U+2581) became a plain space, and BOS/EOS became
// "\n<s>\n" / "\n</s>\n". We undo both so the vocabulary reads as the original SentencePiece model.
import { ModelError } from "../errors.ts";
import { type GgufValue, GgufValueType as T } from "../gguf/types.ts";
import { TokenType } from "../tokenizer/types.ts";

export interface Llama2cVocab {
  maxTokenLength: number;
  /** Token texts as SentencePiece spells them ("▁the", "<s>", "<0x0A>"). */
  tokens: string[];
  scores: Float32Array;
  types: Int32Array;
  bos: number;
  eos: number;
  unk: number;
}

// llama2.c hard-codes these ids (and so does every vocabulary its export script wrote).
const UNK = 0;
const BOS = 1;
const EOS = 2;
const BYTE_TOKEN = /^<0x[0-9A-F]{2}>$/;

/** Parses a llama2.c tokenizer file holding exactly `vocabSize` tokens. */
export function readLlama2cTokenizer(bytes: Uint8Array, vocabSize: number): Llama2cVocab {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const need = (at: number, n: number, what: string) => {
    if (at + n > bytes.length) {
      throw new ModelError("TRUNCATED", `tokenizer file ends inside ${what} (needs byte ${at + n}, has ${bytes.length})`);
    }
  };
  need(0, 4, "max_token_length");
  const maxTokenLength = view.getUint32(0, true);
  const tokens: string[] = [];
  const scores = new Float32Array(vocabSize);
  let at = 4;
  for (let i = 0; i < vocabSize; i++) {
    need(at, 8, `token ${i}'s score and length`);
    scores[i] = view.getFloat32(at, true);
    const length = view.getInt32(at + 4, true);
    if (length < 0) throw new ModelError("BAD_TOKENIZER", `token ${i} has a negative length ${length}`);
    at += 8;
    need(at, length, `token ${i}'s text`);
    let text: string;
    try {
      text = decoder.decode(bytes.subarray(at, at + length));
    } catch {
      throw new ModelError("BAD_TOKENIZER", `token ${i} is not valid UTF-8`);
    }
    tokens.push(text);
    at += length;
  }
  if (at !== bytes.length) {
    throw new ModelError(
      "SIZE_MISMATCH",
      `tokenizer file has ${bytes.length - at} bytes after its ${vocabSize} tokens: built for another vocabulary size?`,
    );
  }
  return toSentencePiece(maxTokenLength, tokens, scores);
}

function toSentencePiece(maxTokenLength: number, raw: string[], scores: Float32Array): Llama2cVocab {
  const types = new Int32Array(raw.length);
  const tokens = raw.map((t, id) => {
    if (id === BOS || id === EOS) {
      types[id] = TokenType.CONTROL;
      return t.replace(/^\n(.*)\n$/s, "$1");
    }
    if (id === UNK) {
      types[id] = TokenType.UNKNOWN;
      return t;
    }
    types[id] = BYTE_TOKEN.test(t) ? TokenType.BYTE : TokenType.NORMAL;
    return t.replaceAll(" ", "\u2581");
  });
  return { maxTokenLength, tokens, scores, types, bos: BOS, eos: EOS, unk: UNK };
}

/** `tokenizer.ggml.*` entries for the vocabulary, as llama.cpp's converter writes a SentencePiece model. */
export function spmTokenizerMetadata(vocab: Llama2cVocab): [string, GgufValue][] {
  return [
    ["tokenizer.ggml.model", { type: T.STRING, value: "llama" }],
    ["tokenizer.ggml.tokens", { type: T.ARRAY, value: { elementType: T.STRING, values: vocab.tokens } }],
    ["tokenizer.ggml.scores", { type: T.ARRAY, value: { elementType: T.FLOAT32, values: vocab.scores } }],
    ["tokenizer.ggml.token_type", { type: T.ARRAY, value: { elementType: T.INT32, values: vocab.types } }],
    ["tokenizer.ggml.unknown_token_id", { type: T.UINT32, value: vocab.unk }],
    ["tokenizer.ggml.bos_token_id", { type: T.UINT32, value: vocab.bos }],
    ["tokenizer.ggml.eos_token_id", { type: T.UINT32, value: vocab.eos }],
    ["tokenizer.ggml.add_bos_token", { type: T.BOOL, value: true }],
    ["tokenizer.ggml.add_eos_token", { type: T.BOOL, value: false }],
  ];
}
