// Deterministic synthetic models with real shapes and random ternary weights, written as GGUF so that both
// ternion and llama.cpp (node-llama-cpp) run the very same file: the engine tests (small llama models as
// TQ2_0 / TQ1_0), the real models' shapes (./real-models.ts, also I2_S and header-only at their real sizes)
// and bench/decode.ts (BitNet b1.58 700M and 2B-4T shapes as TQ2_0 and I2_S). Tensor data is produced lazily, one
// tensor at a time, so a multi-gigabyte model is never held in memory.
import { type GgufValue, GgufValueType as T } from "../../src/runtime/gguf/types.ts";
import { type GgufWriteInput, type GgufWriteTensor, planGguf, writeGgufToBytes } from "../../src/runtime/gguf/writer.ts";
import { packI2_S, packTq1_0 } from "../../src/runtime/tensor-types/ternary-codes.ts";
import { BYTE_TO_CHAR } from "../../src/runtime/tokenizer/byte-unicode.ts";
import { f32ToF16Bits } from "../../src/runtime/tensor-types/half.ts";
import { GgmlType } from "../../src/runtime/tensor-types/table.ts";
import { TokenType } from "../../src/runtime/tokenizer/types.ts";
import { rng } from "./random.ts";

export interface SyntheticShape {
  name: string;
  /** general.architecture: llama.cpp's "llama" and "bitnet", bitnet.cpp's "bitnet-b1.58" (BitNet b1.58 2B-4T). */
  architecture: "llama" | "bitnet" | "bitnet-b1.58";
  dim: number;
  layers: number;
  heads: number;
  kvHeads: number;
  ffn: number;
  vocab: number;
  contextLength: number;
  /** Type of the linear layers' weights. */
  ternary: GgmlType.TQ2_0 | GgmlType.TQ1_0 | GgmlType.I2_S;
  /** token_embd type (also the output head when `tiedOutput`). */
  embedding: GgmlType.F32 | GgmlType.F16;
  /** No output.weight (bitnet files tie it to token_embd); otherwise output.weight is `output` (default F32). */
  tiedOutput: boolean;
  output?: GgmlType.F32 | GgmlType.F16;
  /** `<arch>.rope.freq_base` (default 10000). */
  ropeBase?: number;
  /** `<arch>.attention.layer_norm_rms_epsilon` (default 1e-5). */
  rmsEps?: number;
  seed: number;
  /** tokenizer.ggml.* entries to use (e.g. a real vocabulary of the same size); default: a placeholder vocabulary. */
  tokenizer?: Array<[string, GgufValue]>;
}

/** BitNet b1.58 shapes from docs/ARCHITECTURE.md section 5 (architecture "bitnet", which llama.cpp runs). */
export const BITNET_700M: Omit<SyntheticShape, "seed" | "ternary"> = {
  name: "bitnet-b1.58-700M-synthetic",
  architecture: "bitnet",
  dim: 1536,
  layers: 24,
  heads: 16,
  kvHeads: 16,
  ffn: 4096,
  vocab: 32002,
  contextLength: 2048,
  embedding: GgmlType.F16,
  tiedOutput: true,
};

export const BITNET_2B: Omit<SyntheticShape, "seed" | "ternary"> = {
  name: "bitnet-b1.58-2B-4T-synthetic",
  architecture: "bitnet",
  dim: 2560,
  layers: 30,
  heads: 20,
  kvHeads: 5,
  ffn: 6912,
  vocab: 128256,
  contextLength: 4096,
  embedding: GgmlType.F16,
  tiedOutput: true,
};

/** A SentencePiece-style placeholder vocabulary: <unk>, <s>, </s>, the 256 byte tokens, then "▁t<i>". */
export function placeholderTokenizer(vocab: number): Array<[string, GgufValue]> {
  const tokens: string[] = ["<unk>", "<s>", "</s>"];
  const types = new Int32Array(vocab);
  types[0] = TokenType.UNKNOWN;
  types[1] = TokenType.CONTROL;
  types[2] = TokenType.CONTROL;
  for (let b = 0; b < 256; b++) {
    types[tokens.length] = TokenType.BYTE;
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
  }
  while (tokens.length < vocab) {
    types[tokens.length] = TokenType.NORMAL;
    tokens.push(`\u2581t${tokens.length}`);
  }
  const scores = Float32Array.from({ length: vocab }, (_, i) => -i);
  return [
    ["tokenizer.ggml.model", { type: T.STRING, value: "llama" }],
    ["tokenizer.ggml.tokens", { type: T.ARRAY, value: { elementType: T.STRING, values: tokens } }],
    ["tokenizer.ggml.scores", { type: T.ARRAY, value: { elementType: T.FLOAT32, values: scores } }],
    ["tokenizer.ggml.token_type", { type: T.ARRAY, value: { elementType: T.INT32, values: types } }],
    ["tokenizer.ggml.unknown_token_id", { type: T.UINT32, value: 0 }],
    ["tokenizer.ggml.bos_token_id", { type: T.UINT32, value: 1 }],
    ["tokenizer.ggml.eos_token_id", { type: T.UINT32, value: 2 }],
    ["tokenizer.ggml.add_bos_token", { type: T.BOOL, value: true }],
  ];
}

/**
 * A byte-level BPE placeholder vocabulary (`tokenizer.ggml.model` "gpt2", as Llama 3, Falcon3 and BitNet
 * b1.58 2B-4T files have): the 256 byte tokens, then strings of lower-case letters, each with its merge, then
 * `<|begin_of_text|>` and `<|end_of_text|>` as control tokens at the end, where Llama 3 keeps its specials.
 */
export function bpeTokenizer(vocab: number, pre: string): Array<[string, GgufValue]> {
  const letters = "abcdefghijklmnopqrstuvwxyz".split("").map((c) => BYTE_TO_CHAR[c.charCodeAt(0)]!);
  const tokens = [...BYTE_TO_CHAR];
  const merges: string[] = [];
  const specials = 2;
  // breadth first over letter strings, so that each token's prefix is a token before it
  const queue = [...letters];
  for (let i = 0; tokens.length < vocab - specials; i++) {
    const prefix = queue[i]!;
    for (const c of letters) {
      if (tokens.length === vocab - specials) break;
      tokens.push(prefix + c);
      merges.push(`${prefix} ${c}`);
      queue.push(prefix + c);
    }
  }
  tokens.push("<|begin_of_text|>", "<|end_of_text|>");
  const types = Int32Array.from(tokens, (_, i) => (i >= vocab - specials ? TokenType.CONTROL : TokenType.NORMAL));
  return [
    ["tokenizer.ggml.model", { type: T.STRING, value: "gpt2" }],
    ["tokenizer.ggml.pre", { type: T.STRING, value: pre }],
    ["tokenizer.ggml.tokens", { type: T.ARRAY, value: { elementType: T.STRING, values: tokens } }],
    ["tokenizer.ggml.token_type", { type: T.ARRAY, value: { elementType: T.INT32, values: types } }],
    ["tokenizer.ggml.merges", { type: T.ARRAY, value: { elementType: T.STRING, values: merges } }],
    ["tokenizer.ggml.bos_token_id", { type: T.UINT32, value: vocab - 2 }],
    ["tokenizer.ggml.eos_token_id", { type: T.UINT32, value: vocab - 1 }],
  ];
}

/** A fast deterministic u32 stream (xorshift32) for bulk bytes; `rng` for the few values that need a distribution. */
function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

/** Random 2-bit codes in u32 words: field value 3 becomes 1, so P(−1, 0, +1) = ¼, ½, ¼ (BitNet-like sparsity). */
function codeWord(r: () => number): number {
  const w = r();
  const both = (w >>> 1) & w & 0x55555555;
  return (w & ~(both << 1)) >>> 0;
}

/** TQ2_0 bytes of rows × cols with block scales in [dLo, dHi). */
function tq2(rows: number, cols: number, seed: number, dLo: number, dHi: number): Uint8Array {
  const blocks = (rows * cols) / 256;
  const out = new Uint8Array(blocks * 66);
  const r = xorshift(seed);
  const u = rng(seed ^ 0x5bd1e995);
  const dv = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const o = b * 66;
    // 64 code bytes; the block is 66 bytes, so fill bytewise from words
    for (let j = 0; j < 64; j += 4) {
      const w = codeWord(r);
      out[o + j] = w & 255;
      out[o + j + 1] = (w >>> 8) & 255;
      out[o + j + 2] = (w >>> 16) & 255;
      out[o + j + 3] = w >>> 24;
    }
    dv.setUint16(o + 64, f32ToF16Bits(dLo + (dHi - dLo) * u()), true);
  }
  return out;
}

/** TQ1_0 bytes with the same code distribution (small tensors: goes through a codes array). */
function tq1(rows: number, cols: number, seed: number, dLo: number, dHi: number): Uint8Array {
  const codes = new Uint8Array(rows * cols);
  const r = xorshift(seed);
  for (let i = 0; i < codes.length; i += 16) {
    const w = codeWord(r);
    for (let j = 0; j < 16 && i + j < codes.length; j++) codes[i + j] = (w >>> (2 * j)) & 3;
  }
  const u = rng(seed ^ 0x5bd1e995);
  const d = Float32Array.from({ length: (rows * cols) / 256 }, () => dLo + (dHi - dLo) * u());
  return packTq1_0(codes, d, rows, cols);
}

/** I2_S bytes with the same code distribution and one scale in [dLo, dHi) for the whole tensor. */
function i2s(rows: number, cols: number, seed: number, dLo: number, dHi: number): Uint8Array {
  const codes = new Uint8Array(rows * cols);
  const r = xorshift(seed);
  for (let i = 0; i < codes.length; i += 16) {
    const w = codeWord(r);
    // I2_S codes are 0/1/2 = −1/0/+1, TQ codes 0/1/2 = −1/0/+1 too: the same field values serve both
    for (let j = 0; j < 16 && i + j < codes.length; j++) codes[i + j] = (w >>> (2 * j)) & 3;
  }
  return packI2_S(codes, dLo + (dHi - dLo) * rng(seed ^ 0x5bd1e995)(), rows, cols);
}

function normalValues(n: number, seed: number, scale: number): Float32Array {
  const u = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u()) * scale;
  return out;
}

/** F16 bytes of n values of magnitude in [2^-7, 2^-5) with random signs (bulk: one u32 per value). */
function f16Bulk(n: number, seed: number): Uint8Array {
  const out = new Uint16Array(n);
  const r = xorshift(seed);
  for (let i = 0; i < n; i++) {
    const w = r();
    out[i] = (w & 0x83ff) | (0x2000 + ((w >>> 16) & 0x0400)); // exponent 8 or 9: 2^-7 … 2^-5
  }
  return new Uint8Array(out.buffer);
}

const f32Bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** The GGUF write input of a synthetic model (write it with writeGgufFile). */
export function syntheticModel(s: SyntheticShape): GgufWriteInput {
  const a = s.architecture;
  const hd = s.dim / s.heads;
  const u32 = (value: number): GgufValue => ({ type: T.UINT32, value });
  const f32 = (value: number): GgufValue => ({ type: T.FLOAT32, value });
  const metadata = new Map<string, GgufValue>([
    ["general.architecture", { type: T.STRING, value: a }],
    ["general.name", { type: T.STRING, value: s.name }],
    [`${a}.vocab_size`, u32(s.vocab)],
    [`${a}.context_length`, u32(s.contextLength)],
    [`${a}.embedding_length`, u32(s.dim)],
    [`${a}.feed_forward_length`, u32(s.ffn)],
    [`${a}.block_count`, u32(s.layers)],
    [`${a}.attention.head_count`, u32(s.heads)],
    [`${a}.attention.head_count_kv`, u32(s.kvHeads)],
    [`${a}.rope.dimension_count`, u32(hd)],
    [`${a}.rope.freq_base`, f32(s.ropeBase ?? 10000)],
    [`${a}.attention.layer_norm_rms_epsilon`, f32(s.rmsEps ?? 1e-5)],
    ...(s.tokenizer ?? placeholderTokenizer(s.vocab)),
  ]);

  let seed = s.seed >>> 0;
  const next = () => (seed = (seed * 1664525 + 1013904223) >>> 0);
  const tensors: GgufWriteTensor[] = [];
  const ternary = (name: string, cols: number, rows: number) => {
    const sd = next();
    // scales ~ 1/sqrt(cols · 0.5): outputs keep unit size through the layer
    const d = 1 / Math.sqrt(cols * 0.5);
    tensors.push({
      name,
      dims: [cols, rows],
      type: s.ternary,
      data: async () => {
        if (s.ternary === GgmlType.TQ2_0) return tq2(rows, cols, sd, 0.5 * d, 1.5 * d);
        if (s.ternary === GgmlType.TQ1_0) return tq1(rows, cols, sd, 0.5 * d, 1.5 * d);
        return i2s(rows, cols, sd, 0.5 * d, 1.5 * d);
      },
    });
  };
  const norm = (name: string, n: number) => {
    const sd = next();
    tensors.push({ name, dims: [n], type: GgmlType.F32, data: async () => f32Bytes(normalValues(n, sd, 0.1).map((v) => 1 + v)) });
  };
  const embSeed = next();
  tensors.push({
    name: "token_embd.weight",
    dims: [s.dim, s.vocab],
    type: s.embedding,
    data: async () => (s.embedding === GgmlType.F32 ? f32Bytes(normalValues(s.dim * s.vocab, embSeed, 1)) : f16Bulk(s.dim * s.vocab, embSeed)),
  });
  const q = s.heads * hd;
  const kv = s.kvHeads * hd;
  for (let l = 0; l < s.layers; l++) {
    const p = `blk.${l}.`;
    norm(p + "attn_norm.weight", s.dim);
    ternary(p + "attn_q.weight", s.dim, q);
    ternary(p + "attn_k.weight", s.dim, kv);
    ternary(p + "attn_v.weight", s.dim, kv);
    if (a !== "llama") norm(p + "attn_sub_norm.weight", q);
    ternary(p + "attn_output.weight", q, s.dim);
    norm(p + "ffn_norm.weight", s.dim);
    ternary(p + "ffn_gate.weight", s.dim, s.ffn);
    ternary(p + "ffn_up.weight", s.dim, s.ffn);
    if (a !== "llama") norm(p + "ffn_sub_norm.weight", s.ffn);
    ternary(p + "ffn_down.weight", s.ffn, s.dim);
  }
  norm("output_norm.weight", s.dim);
  if (!s.tiedOutput) {
    const sd = next();
    const type = s.output ?? GgmlType.F32;
    tensors.push({
      name: "output.weight",
      dims: [s.dim, s.vocab],
      type,
      data: async () => {
        const values = normalValues(s.dim * s.vocab, sd, 2 / Math.sqrt(s.dim));
        return type === GgmlType.F32 ? f32Bytes(values) : new Uint8Array(Uint16Array.from(values, f32ToF16Bits).buffer);
      },
    });
  }
  return { metadata, tensors };
}

/**
 * The bytes of `input`'s GGUF header alone — metadata, tensor infos with the offsets the writer would give,
 * padding — and the size the whole file would have. A real-size model's header is a few MB while its data is
 * gigabytes: a source that claims the whole size but holds only these bytes checks what a loader does before
 * it reads any tensor.
 */
export async function ggufHeaderOnly(input: GgufWriteInput): Promise<{ header: Uint8Array; fileSize: number }> {
  const layout = planGguf(input);
  const prefix = await writeGgufToBytes({ ...input, tensors: [] }); // magic, version, counts, metadata
  const utf8 = new TextEncoder();
  const parts: Uint8Array[] = [prefix];
  let length = prefix.length;
  const push = (bytes: Uint8Array) => {
    parts.push(bytes);
    length += bytes.length;
  };
  const u32 = (v: number) => {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    return b;
  };
  const u64 = (v: number) => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
    return b;
  };
  for (const t of layout.tensors) {
    const name = utf8.encode(t.name);
    push(u64(name.length));
    push(name);
    push(u32(t.dims.length));
    for (const d of t.dims) push(u64(d));
    push(u32(t.type));
    push(u64(t.offset));
  }
  push(new Uint8Array((layout.alignment - (length % layout.alignment)) % layout.alignment));
  const header = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    header.set(p, at);
    at += p.length;
  }
  new DataView(header.buffer).setBigUint64(8, BigInt(layout.tensors.length), true); // the prefix said 0 tensors
  return { header, fileSize: header.length + layout.dataSize };
}
