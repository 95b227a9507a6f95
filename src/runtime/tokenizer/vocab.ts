// The vocabulary as llama.cpp loads it (llama_vocab::impl::load): token strings, scores and attributes, the
// special ids with llama.cpp's defaults and sanity rules, the end-of-generation set, and the list of tokens
// that are matched literally in input text. Everything here is data; the algorithms live in spm.ts / bpe.ts.
import { TokenizerError } from "../errors.ts";
import { GgufValueType } from "../gguf/types.ts";
import { getBool, getInt, getNumberArray, getString, getStringArray, type Metadata } from "./metadata.ts";
import { TokenAttr, TokenType, type TokenizerWarningHandler } from "./types.ts";

/** llama.cpp's LLAMA_TOKEN_NULL. */
export const NULL_TOKEN = -1;

export type VocabKind = "spm" | "bpe";

export interface Vocab {
  readonly kind: VocabKind;
  /** `tokenizer.ggml.pre`, "" when absent. */
  readonly pre: string;
  readonly tokens: readonly string[];
  readonly scores: Float32Array;
  /** TokenAttr bit flags per token. */
  readonly attrs: Uint16Array;
  readonly tokenToId: ReadonlyMap<string, number>;
  readonly bos: number;
  readonly eos: number;
  readonly unk: number;
  readonly eot: number;
  readonly eom: number;
  readonly pad: number;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addSpacePrefix: boolean;
  readonly eog: ReadonlySet<number>;
  /** Control, user-defined and unknown tokens, longest text first: the order llama.cpp splits them out of text. */
  readonly specialTokens: readonly number[];
}

const K = "tokenizer.ggml.";

type SpecialField = "bos" | "eos" | "unk" | "eot" | "eom" | "pad" | "fimPre" | "fimSuf" | "fimMid" | "fimPad" | "fimRep" | "fimSep";
const SPECIAL_KEYS: readonly [string, SpecialField][] = [
  ["bos_token_id", "bos"],
  ["eos_token_id", "eos"],
  ["eot_token_id", "eot"],
  ["eom_token_id", "eom"],
  ["unknown_token_id", "unk"],
  ["padding_token_id", "pad"],
  ["fim_pre_token_id", "fimPre"],
  ["fim_suf_token_id", "fimSuf"],
  ["fim_mid_token_id", "fimMid"],
  ["fim_pad_token_id", "fimPad"],
  ["fim_rep_token_id", "fimRep"],
  ["fim_sep_token_id", "fimSep"],
  // deprecated spellings
  ["prefix_token_id", "fimPre"],
  ["suffix_token_id", "fimSuf"],
  ["middle_token_id", "fimMid"],
];

/**
 * Token texts llama.cpp recognises when the id is not in the metadata (llama-vocab.cpp, auto-detection).
 * The first match fills the id and the token becomes a control token.
 */
const DETECT_BY_TEXT: readonly [SpecialField, ReadonlySet<string>][] = [
  [
    "eot",
    new Set([
      "<|eot_id|>",
      "<|im_end|>",
      "<|end|>",
      "<end_of_turn>",
      "<|endoftext|>",
      "<|end_of_text|>",
      "<EOT>",
      "_<EOT>",
      "[EOT]",
      "<｜end▁of▁sentence｜>",
      "<end_of_utterance>",
    ]),
  ],
  ["eom", new Set(["<|eom_id|>"])],
  ["fimPre", new Set(["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"])],
  ["fimSuf", new Set(["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"])],
  ["fimMid", new Set(["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"])],
  ["fimPad", new Set(["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"])],
  ["fimRep", new Set(["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"])],
  ["fimSep", new Set(["<|file_sep|>"])],
];

/** Every token with one of these texts ends generation (and becomes a control token). */
const EOG_TEXTS = new Set([
  "<|eot_id|>",
  "<|im_end|>",
  "<|end|>",
  "<|return|>",
  "<|call|>",
  "<|flush|>",
  "<|calls|>",
  "<end_of_turn>",
  "<|endoftext|>",
  "</s>",
  "<|eom_id|>",
  "<EOT>",
  "_<EOT>",
  "[EOT]",
  "[EOS]",
  "<|end_of_text|>",
  "<end_of_utterance>",
  "<eos>",
  "<turn|>",
  "<|tool_response>",
  "<｜end▁of▁sentence｜>",
  "[e~[",
]);

export interface VocabFlagDefaults {
  addBos: boolean;
  addEos: boolean;
  addSpacePrefix: boolean;
  /** BOS default id (llama.cpp: 1 for SPM, 11 for BPE). */
  bos: number;
  eos: number;
  unk: number;
}

export function loadVocab(meta: Metadata, kind: VocabKind, defaults: VocabFlagDefaults, warn: TokenizerWarningHandler): Vocab {
  const rawTokens = getStringArray(meta, K + "tokens");
  if (rawTokens === undefined) throw new TokenizerError("MISSING_METADATA", `${K}tokens is missing`);
  const n = rawTokens.length;

  const scoreValues = getNumberArray(meta, K + "scores", [GgufValueType.FLOAT32, GgufValueType.INT32]);
  if (scoreValues !== undefined && scoreValues.length < n) {
    throw new TokenizerError("BAD_METADATA", `${K}scores has ${scoreValues.length} entries for ${n} tokens`);
  }
  const typeValues = getNumberArray(meta, K + "token_type", [GgufValueType.INT32, GgufValueType.UINT32]);
  if (typeValues !== undefined && typeValues.length < n) {
    throw new TokenizerError("BAD_METADATA", `${K}token_type has ${typeValues.length} entries for ${n} tokens`);
  }

  const tokens: string[] = new Array(n);
  const scores = new Float32Array(n);
  const attrs = new Uint16Array(n);
  const tokenToId = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    let text = rawTokens[i]!;
    if (text === "") {
      warn(`empty token at index ${i}`);
      text = `[EMPTY_${i}]`;
    }
    const prev = tokenToId.get(text);
    if (prev !== undefined) {
      throw new TokenizerError("DUPLICATE_TOKEN", `duplicate token ${JSON.stringify(text)} has ids ${prev} and ${i}`);
    }
    tokenToId.set(text, i);
    tokens[i] = text;
    if (scoreValues !== undefined) scores[i] = scoreValues[i]!;
    attrs[i] = typeValues === undefined ? TokenAttr.NORMAL : attrOfType(typeValues[i]!);
  }

  const ids: Record<SpecialField, number> = {
    bos: defaults.bos,
    eos: defaults.eos,
    unk: defaults.unk,
    eot: NULL_TOKEN,
    eom: NULL_TOKEN,
    pad: NULL_TOKEN,
    fimPre: NULL_TOKEN,
    fimSuf: NULL_TOKEN,
    fimMid: NULL_TOKEN,
    fimPad: NULL_TOKEN,
    fimRep: NULL_TOKEN,
    fimSep: NULL_TOKEN,
  };
  for (const [key, field] of SPECIAL_KEYS) {
    if (ids[field] >= n) {
      warn(`default special token ${K}${key} = ${ids[field]} out of vocab range, disabling`);
      ids[field] = NULL_TOKEN;
    }
    const given = getInt(meta, K + key);
    if (given === undefined) continue;
    // llama.cpp reads ids as u32, so an out-of-range id keeps the default. -1 (0xFFFFFFFF) is the usual way
    // of writing "none": it keeps the default too, without a warning.
    if (given >= 0 && given < n) ids[field] = given;
    else if (given !== -1 && given !== 0xffffffff) warn(`bad special token ${K}${key} = ${given}, using default id ${ids[field]}`);
  }

  const addBos = getBool(meta, K + "add_bos_token") ?? defaults.addBos;
  const addEos = getBool(meta, K + "add_eos_token") ?? defaults.addEos;
  const addSpacePrefix = getBool(meta, K + "add_space_prefix") ?? defaults.addSpacePrefix;
  if (addBos && ids.bos === NULL_TOKEN) throw new TokenizerError("MISSING_METADATA", `${K}add_bos_token is true, but ${K}bos_token_id is not set`);
  if (addEos && ids.eos === NULL_TOKEN) throw new TokenizerError("MISSING_METADATA", `${K}add_eos_token is true, but ${K}eos_token_id is not set`);

  // Auto-detection by text, as llama.cpp does; a detected token becomes a control token.
  for (const [field, texts] of DETECT_BY_TEXT) {
    if (ids[field] !== NULL_TOKEN) continue;
    const id = tokens.findIndex((t) => texts.has(t));
    if (id >= 0) {
      ids[field] = id;
      attrs[id]! |= TokenAttr.CONTROL;
    }
  }
  for (let id = 0; id < n; id++) {
    if (attrs[id]! & TokenAttr.CONTROL && tokens[id]!.includes("unused")) attrs[id]! |= TokenAttr.UNUSED;
  }
  const eog = new Set<number>();
  for (let id = 0; id < n; id++) {
    if (EOG_TEXTS.has(tokens[id]!)) {
      eog.add(id);
      attrs[id]! |= TokenAttr.CONTROL;
    }
  }
  for (const field of ["fimPad", "fimRep", "fimSep", "eos", "eot", "eom"] as const) {
    if (ids[field] !== NULL_TOKEN) eog.add(ids[field]);
  }

  const specialMask = TokenAttr.CONTROL | TokenAttr.USER_DEFINED | TokenAttr.UNKNOWN;
  const specialTokens: number[] = [];
  for (let id = 0; id < n; id++) if (attrs[id]! & specialMask) specialTokens.push(id);
  // Longest first by UTF-8 length, as llama.cpp sorts std::string sizes; ties by id for determinism.
  const utf8 = new TextEncoder();
  const byteLength = new Map(specialTokens.map((id) => [id, utf8.encode(tokens[id]!).length]));
  specialTokens.sort((a, b) => byteLength.get(b)! - byteLength.get(a)! || a - b);

  return {
    kind,
    pre: getString(meta, K + "pre") ?? "",
    tokens,
    scores,
    attrs,
    tokenToId,
    bos: ids.bos,
    eos: ids.eos,
    unk: ids.unk,
    eot: ids.eot,
    eom: ids.eom,
    pad: ids.pad,
    addBos,
    addEos,
    addSpacePrefix,
    eog,
    specialTokens,
  };
}

function attrOfType(type: number): number {
  switch (type) {
    case TokenType.NORMAL:
      return TokenAttr.NORMAL;
    case TokenType.UNKNOWN:
      return TokenAttr.UNKNOWN;
    case TokenType.CONTROL:
      return TokenAttr.CONTROL;
    case TokenType.USER_DEFINED:
      return TokenAttr.USER_DEFINED;
    case TokenType.UNUSED:
      return TokenAttr.UNUSED;
    case TokenType.BYTE:
      return TokenAttr.BYTE;
    default:
      return TokenAttr.UNDEFINED;
  }
}
