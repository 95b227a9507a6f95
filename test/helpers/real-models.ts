// The real ternary GGUF models that README.md's "Models" section lists, as synthetic-model shapes: the exact
// architecture string, hyper-parameters, tensor types, tied or untied head and vocabulary type of each file
// (where a value could not be confirmed from the model's own files the README says so). `small` keeps the
// structure (architecture, types, head ratios, sub-norms, RoPE base, activation, head tying, vocabulary type)
// at widths a test runs in seconds.
import { GgmlType } from "../../src/runtime/tensor-types/table.ts";
import { bpeTokenizer, type SyntheticShape } from "./synthetic-model.ts";

export interface RealModel {
  /** The hf: reference of the file (README.md, "Models"). */
  ref: string;
  /** The real file's shape (tensor data is never produced for it: only its header is written). */
  real: SyntheticShape;
  /** The BPE pre-tokenizer name its tokenizer.ggml.pre carries. */
  pre: string;
  /** Fits a wasm32 memory with its whole context (f16 KV cache); README.md says which do not. */
  fitsFullContext: boolean;
}

const common = { seed: 1, embedding: GgmlType.F16 } as const;

export const REAL_MODELS: RealModel[] = [
  {
    ref: "hf:microsoft/bitnet-b1.58-2B-4T-gguf/ggml-model-i2_s.gguf",
    pre: "llama-bpe",
    fitsFullContext: true,
    real: {
      ...common,
      name: "bitnet2b",
      architecture: "bitnet-b1.58",
      dim: 2560,
      layers: 30,
      heads: 20,
      kvHeads: 5,
      ffn: 6912,
      vocab: 128256,
      contextLength: 4096,
      ropeBase: 500000,
      rmsEps: 1e-5,
      ternary: GgmlType.I2_S,
      tiedOutput: true,
    },
  },
  {
    ref: "hf:Green-Sky/TriLM_3.9B-GGUF/TriLM_3.9B_Unpacked-4.0B-TQ2_0.gguf",
    pre: "olmo",
    fitsFullContext: true,
    real: {
      ...common,
      name: "TriLM_3.9B_Unpacked",
      architecture: "llama",
      dim: 3072,
      layers: 30,
      heads: 24,
      kvHeads: 24,
      ffn: 9216,
      vocab: 50688,
      contextLength: 2048,
      ternary: GgmlType.TQ2_0,
      tiedOutput: false,
      output: GgmlType.F16,
    },
  },
  {
    ref: "hf:tiiuae/Falcon3-10B-Instruct-1.58bit-GGUF/ggml-model-i2_s.gguf",
    pre: "falcon3",
    fitsFullContext: false,
    real: {
      ...common,
      name: "Falcon3-10B-Instruct-1.58bit",
      architecture: "llama",
      dim: 3072,
      layers: 40,
      heads: 12,
      kvHeads: 4,
      ffn: 23040,
      vocab: 131072,
      contextLength: 32768,
      ropeBase: 1000042,
      rmsEps: 1e-6,
      ternary: GgmlType.I2_S,
      tiedOutput: false,
      output: GgmlType.F16,
    },
  },
  {
    ref: "hf:tiiuae/Falcon3-7B-Instruct-1.58bit-GGUF/ggml-model-i2_s.gguf",
    pre: "falcon3",
    fitsFullContext: false,
    real: {
      ...common,
      name: "Falcon3-7B-Instruct-1.58bit",
      architecture: "llama",
      dim: 3072,
      layers: 28,
      heads: 12,
      kvHeads: 4,
      ffn: 23040,
      vocab: 131072,
      contextLength: 32768,
      ropeBase: 1000042,
      rmsEps: 1e-6,
      ternary: GgmlType.I2_S,
      tiedOutput: false,
      output: GgmlType.F16,
    },
  },
  {
    ref: "hf:tiiuae/Falcon3-3B-Instruct-1.58bit-GGUF/ggml-model-i2_s.gguf",
    pre: "falcon3",
    fitsFullContext: true,
    real: {
      ...common,
      name: "Falcon3-3B-Instruct-1.58bit",
      architecture: "llama",
      dim: 3072,
      layers: 22,
      heads: 12,
      kvHeads: 4,
      ffn: 9216,
      vocab: 131072,
      contextLength: 8192,
      ropeBase: 1000042,
      rmsEps: 1e-6,
      ternary: GgmlType.I2_S,
      tiedOutput: false,
      output: GgmlType.F16,
    },
  },
  {
    ref: "hf:tiiuae/Falcon3-1B-Instruct-1.58bit-GGUF/ggml-model-i2_s.gguf",
    pre: "falcon3",
    fitsFullContext: true,
    real: {
      ...common,
      name: "Falcon3-1B-Instruct-1.58bit",
      architecture: "llama",
      dim: 2048,
      layers: 18,
      heads: 8,
      kvHeads: 4,
      ffn: 8192,
      vocab: 131072,
      contextLength: 8192,
      ropeBase: 1000042,
      rmsEps: 1e-6,
      ternary: GgmlType.I2_S,
      tiedOutput: false,
      output: GgmlType.F16,
    },
  },
  {
    ref: "(no published GGUF: bitnet.cpp's setup_env.py converts HF1BitLLM/Llama3-8B-1.58-100B-tokens)",
    pre: "llama-bpe",
    fitsFullContext: false,
    real: {
      ...common,
      name: "Llama3-8B-1.58-100B-tokens",
      architecture: "llama",
      dim: 4096,
      layers: 32,
      heads: 32,
      kvHeads: 8,
      ffn: 14336,
      vocab: 128256,
      contextLength: 8192,
      ropeBase: 500000,
      rmsEps: 1e-5,
      ternary: GgmlType.I2_S,
      tiedOutput: false,
      output: GgmlType.F16,
    },
  },
];

/** The model at test widths: the same structure with head size 64, 2 layers, a 512-token vocabulary. */
export function small(m: RealModel, ternary: SyntheticShape["ternary"] = m.real.ternary): SyntheticShape {
  const r = m.real;
  const groups = r.heads / r.kvHeads; // query heads per KV head, kept
  let kvHeads = 1;
  while ((kvHeads * groups) % 4 !== 0) kvHeads++; // head size 64 and dim a multiple of 256 (TQ2_0 rows)
  const dim = kvHeads * groups * 64;
  return {
    ...r,
    name: `${r.name}-small`,
    dim,
    heads: kvHeads * groups,
    kvHeads,
    layers: 2,
    // the FFN's ratio to dim, rounded to the 256-weight blocks of TQ2_0/TQ1_0
    ffn: Math.max(256, Math.round((r.ffn / r.dim) * (dim / 256)) * 256),
    vocab: 512,
    contextLength: 128,
    ternary,
    seed: 20250607,
    tokenizer: bpeTokenizer(512, m.pre),
  };
}
