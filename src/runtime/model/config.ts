// The hyper-parameters of a model, read from GGUF metadata once and checked, so that the forward pass never
// looks at a metadata key itself. Keys and defaults follow llama.cpp (llama-model.cpp, llm_load_hparams) for
// the architectures we run; ternion's own keys are in ./keys.ts.
//
// Architectures:
// - llama: attn_norm → q/k/v → RoPE → attention → attn_output; ffn_norm → silu(gate) ⊙ up → ffn_down.
//   Float or ternary tensors (TinyStories, TriLM/Spectra and many ternary conversions).
// - bitnet (llama.cpp's, 1bitLLM/bitnet_b1_58): as llama plus attn_sub_norm before attn_output and
//   ffn_sub_norm before ffn_down, SiLU gate, output tied to token_embd.
// - bitnet-b1.58 / bitnet-25 (bitnet.cpp's, BitNet b1.58 2B-4T): same tensors, ReLU² gate.
// All bitnet variants quantize each ternary matmul's input to int8 per token.
import { ModelError } from "../errors.ts";
import { type GgufMetadata, metaArray, metaNumber, metaString } from "../gguf/metadata.ts";
import type { GgufTensorInfo } from "../gguf/types.ts";
import { quoted } from "../quoted.ts";
import { ACTIVATION_QUANT_KEY, FFN_ACTIVATION_KEY, OUTPUT_NORM_EPS_KEY } from "./keys.ts";
import { checkModelTensors } from "./tensors.ts";

export const ARCHITECTURES = ["llama", "bitnet", "bitnet-b1.58", "bitnet-25"] as const;
export type Architecture = (typeof ARCHITECTURES)[number];

/**
 * Which dimensions of a head RoPE rotates together. "adjacent": (2i, 2i+1), llama.cpp's "normal" mode, which
 * llama files expect because their converter permutes the Q/K rows for it. "neox": (i, i + d/2).
 */
export type RopeLayout = "adjacent" | "neox";
export type FfnActivation = "silu" | "relu2";
export type ActivationQuant = "none" | "int8-per-token";

export interface RopeConfig {
  /** θ base (`rope.freq_base`, default 10000). */
  base: number;
  /** Position scale: 1 / `rope.scaling.factor` (linear scaling), 1 without scaling. */
  freqScale: number;
  /** Dimensions of each head that are rotated (`rope.dimension_count`, default the head size). */
  dims: number;
  layout: RopeLayout;
}

export interface ModelConfig {
  architecture: Architecture;
  name?: string;
  vocabSize: number;
  /** Embedding (residual stream) width. */
  dim: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  ffnDim: number;
  contextLength: number;
  /** RMSNorm epsilon of the norms inside the blocks. */
  rmsEps: number;
  /** RMSNorm epsilon of the final norm (usually equal to rmsEps). */
  outputNormEps: number;
  rope: RopeConfig;
  ffnActivation: FfnActivation;
  /** attn_sub_norm and ffn_sub_norm exist (the bitnet architectures). */
  subNorms: boolean;
  /** No `output.weight`: the logits use token_embd. */
  tiedOutput: boolean;
  activationQuant: ActivationQuant;
  bos?: number;
  eos?: number;
}

/** What the config needs of a tensor: GgufTensorInfo fits. */
export type TensorShape = Pick<GgufTensorInfo, "name" | "dims" | "type">;

interface ArchDefaults {
  ffnActivation: FfnActivation;
  ropeLayout: RopeLayout;
  subNorms: boolean;
  activationQuant: ActivationQuant;
}

// RoPE layouts as llama.cpp's llama_rope_type: llama is NORM; "bitnet", "bitnet-25" and "bitnet-b1.58" are
// NEOX (bitnet.cpp's llama.cpp fork, src/llama.cpp llama_rope_type, lists LLM_ARCH_BITNET, _25 and _158 under
// LLAMA_ROPE_TYPE_NEOX; its converters leave Q/K unpermuted, i.e. in the HF rotate_half order).
const ARCH_DEFAULTS: Record<Architecture, ArchDefaults> = {
  llama: { ffnActivation: "silu", ropeLayout: "adjacent", subNorms: false, activationQuant: "none" },
  bitnet: { ffnActivation: "silu", ropeLayout: "neox", subNorms: true, activationQuant: "int8-per-token" },
  "bitnet-b1.58": { ffnActivation: "relu2", ropeLayout: "neox", subNorms: true, activationQuant: "int8-per-token" },
  "bitnet-25": { ffnActivation: "relu2", ropeLayout: "neox", subNorms: true, activationQuant: "int8-per-token" },
};

const FFN_ACTIVATIONS: readonly FfnActivation[] = ["silu", "relu2"];
const ACTIVATION_QUANTS: readonly ActivationQuant[] = ["none", "int8-per-token"];

export function isArchitecture(name: string): name is Architecture {
  return (ARCHITECTURES as readonly string[]).includes(name);
}

/**
 * Reads and checks a model's configuration. `tensors` (the file's tensor infos) decide whether the output
 * is tied and are checked against the shapes the configuration implies (see `expectedTensors`), so a file
 * that cannot be run is rejected before anything is allocated. Errors are ModelError (or GgufError for a
 * value of the wrong type) naming the key or tensor.
 */
export function modelConfigFromGguf(metadata: GgufMetadata, tensors: readonly TensorShape[]): ModelConfig {
  const config = readConfig(metadata, tensors);
  checkModelTensors(config, tensors);
  return config;
}

function readConfig(meta: GgufMetadata, tensors: readonly TensorShape[]): ModelConfig {
  const arch = metaString(meta, "general.architecture");
  if (arch === undefined) throw new ModelError("MISSING_KEY", "metadata general.architecture is missing");
  if (!isArchitecture(arch)) {
    throw new ModelError(
      "UNSUPPORTED_ARCHITECTURE",
      `general.architecture ${quoted(arch)} is not supported (supported: ${ARCHITECTURES.join(", ")})`,
    );
  }
  const defaults = ARCH_DEFAULTS[arch];
  const key = (k: string) => `${arch}.${k}`;

  const dim = positiveInt(meta, key("embedding_length"));
  const layers = positiveInt(meta, key("block_count"));
  const heads = positiveInt(meta, key("attention.head_count"));
  const kvHeads = positiveInt(meta, key("attention.head_count_kv"), heads);
  const ffnDim = positiveInt(meta, key("feed_forward_length"));
  const contextLength = positiveInt(meta, key("context_length"));
  if (heads % kvHeads !== 0) {
    throw new ModelError(
      "INCONSISTENT_METADATA",
      `${key("attention.head_count")} ${heads} is not a multiple of ${key("attention.head_count_kv")} ${kvHeads}`,
    );
  }

  if (meta.get(key("attention.key_length")) === undefined && dim % heads !== 0) {
    throw new ModelError(
      "INCONSISTENT_METADATA",
      `${key("embedding_length")} ${dim} is not a multiple of ${key("attention.head_count")} ${heads} and ${key("attention.key_length")} is missing`,
    );
  }
  const headDim = positiveInt(meta, key("attention.key_length"), dim / heads);
  const valueLength = positiveInt(meta, key("attention.value_length"), headDim);
  if (valueLength !== headDim) {
    throw new ModelError(
      "UNSUPPORTED_MODEL",
      `${key("attention.value_length")} ${valueLength} differs from ${key("attention.key_length")} ${headDim}`,
    );
  }

  const rmsEps = nonNegative(meta, key("attention.layer_norm_rms_epsilon"));
  const outputNormEps = nonNegative(meta, OUTPUT_NORM_EPS_KEY, rmsEps);
  const rope = readRope(meta, arch, headDim, defaults.ropeLayout);

  const ffnActivation = oneOf(meta, FFN_ACTIVATION_KEY, FFN_ACTIVATIONS, defaults.ffnActivation);
  const activationQuant = oneOf(meta, ACTIVATION_QUANT_KEY, ACTIVATION_QUANTS, defaults.activationQuant);

  const vocabSize = readVocabSize(meta, key("vocab_size"), tensors);
  const bos = tokenId(meta, "tokenizer.ggml.bos_token_id", vocabSize);
  const eos = tokenId(meta, "tokenizer.ggml.eos_token_id", vocabSize);

  const config: ModelConfig = {
    architecture: arch,
    vocabSize,
    dim,
    layers,
    heads,
    kvHeads,
    headDim,
    ffnDim,
    contextLength,
    rmsEps,
    outputNormEps,
    rope,
    ffnActivation,
    subNorms: defaults.subNorms,
    tiedOutput: !tensors.some((t) => t.name === "output.weight"),
    activationQuant,
  };
  const name = metaString(meta, "general.name");
  if (name !== undefined) config.name = name;
  if (bos !== undefined) config.bos = bos;
  if (eos !== undefined) config.eos = eos;
  return config;
}

function readRope(meta: GgufMetadata, arch: Architecture, headDim: number, layout: RopeLayout): RopeConfig {
  const key = (k: string) => `${arch}.${k}`;
  const dims = positiveInt(meta, key("rope.dimension_count"), headDim);
  if (dims > headDim || dims % 2 !== 0) {
    throw new ModelError("INCONSISTENT_METADATA", `${key("rope.dimension_count")} ${dims} must be even and at most the head size ${headDim}`);
  }
  const base = metaNumber(meta, key("rope.freq_base")) ?? 10000;
  if (!(base > 0) || !Number.isFinite(base)) {
    throw new ModelError("BAD_VALUE", `${key("rope.freq_base")} ${base} must be a positive number`);
  }
  const scalingType = metaString(meta, key("rope.scaling.type")) ?? "linear";
  if (scalingType !== "linear" && scalingType !== "none") {
    throw new ModelError("UNSUPPORTED_MODEL", `${key("rope.scaling.type")} ${quoted(scalingType)} is not supported (only linear)`);
  }
  // As llama.cpp: the factor (or the older scale_linear key) divides positions; 0 or absent means none.
  const factorKey = meta.has(key("rope.scaling.factor")) ? key("rope.scaling.factor") : key("rope.scale_linear");
  const factor = metaNumber(meta, factorKey) ?? 0;
  if (!Number.isFinite(factor) || factor < 0) {
    throw new ModelError("BAD_VALUE", `${factorKey} ${factor} must be a non-negative number`);
  }
  return { base, freqScale: factor === 0 || scalingType === "none" ? 1 : 1 / factor, dims, layout };
}

/** `<arch>.vocab_size`, else the tokenizer's token count, else token_embd's row count; all present must agree. */
function readVocabSize(meta: GgufMetadata, vocabKey: string, tensors: readonly TensorShape[]): number {
  const fromKey = meta.has(vocabKey) ? positiveInt(meta, vocabKey) : undefined;
  const tokens = metaArray(meta, "tokenizer.ggml.tokens");
  const fromTokens = tokens ? (tokens.values as ArrayLike<unknown>).length : undefined;
  const embd = tensors.find((t) => t.name === "token_embd.weight");
  const fromTensor = embd && embd.dims.length === 2 ? embd.dims[1] : undefined;
  const vocab = fromKey ?? fromTokens ?? fromTensor;
  if (vocab === undefined) {
    throw new ModelError("MISSING_KEY", `cannot tell the vocabulary size: no ${vocabKey}, tokenizer.ggml.tokens or token_embd.weight`);
  }
  if (fromTokens !== undefined && fromTokens !== vocab) {
    throw new ModelError("INCONSISTENT_METADATA", `tokenizer.ggml.tokens has ${fromTokens} tokens, ${vocabKey} says ${vocab}`);
  }
  return vocab;
}

function positiveInt(meta: GgufMetadata, key: string, fallback?: number): number {
  const v = metaNumber(meta, key) ?? fallback;
  if (v === undefined) throw new ModelError("MISSING_KEY", `metadata ${key} is missing`);
  if (!Number.isSafeInteger(v) || v <= 0) throw new ModelError("BAD_VALUE", `metadata ${key} = ${v} must be a positive integer`);
  return v;
}

function nonNegative(meta: GgufMetadata, key: string, fallback?: number): number {
  const v = metaNumber(meta, key) ?? fallback;
  if (v === undefined) throw new ModelError("MISSING_KEY", `metadata ${key} is missing`);
  if (!Number.isFinite(v) || v < 0) throw new ModelError("BAD_VALUE", `metadata ${key} = ${v} must be a finite number ≥ 0`);
  return v;
}

function oneOf<T extends string>(meta: GgufMetadata, key: string, allowed: readonly T[], fallback: T): T {
  const v = metaString(meta, key);
  if (v === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ModelError("BAD_VALUE", `metadata ${key} = ${quoted(v)} must be one of ${allowed.map((a) => `"${a}"`).join(", ")}`);
  }
  return v as T;
}

function tokenId(meta: GgufMetadata, key: string, vocabSize: number): number | undefined {
  const v = metaNumber(meta, key);
  // llama.cpp writes "no such token" as -1, which a u32 holds as 2^32 − 1.
  if (v === undefined || v === -1 || v === 0xffff_ffff) return undefined;
  if (!Number.isSafeInteger(v) || v < 0 || v >= vocabSize) {
    throw new ModelError("BAD_VALUE", `metadata ${key} = ${v} is not a token id of a ${vocabSize}-token vocabulary`);
  }
  return v;
}
