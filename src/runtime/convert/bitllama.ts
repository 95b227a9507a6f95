// bitllama checkpoint + llama2.c tokenizer → GGUF of llama.cpp's "bitnet" architecture, exactly:
//
// - Each ternary matrix becomes I2_S: the codes remapped to I2_S's 0/1/2 = −1/0/+1 and the checkpoint's
//   scale as the tensor scale, so every weight dequantizes to exactly s·t.
// - The checkpoint normalises the input of every ternary linear as x / (rms(x)·n), n its length, with no
//   epsilon. That is an RMSNorm with weight 1/n and epsilon 0, which is what "bitnet" has in front of each
//   matmul: attn_norm (q, k, v), attn_sub_norm (wo), ffn_norm (w1, w3), ffn_sub_norm (w2). The block
//   epsilon is therefore 0; the final norm keeps its weight and epsilon 1e-5, recorded under ternion's own
//   key (OUTPUT_NORM_EPS_KEY) because llama.cpp has a single epsilon per model.
// - The gate is SiLU (w2(silu(w1 x) ⊙ w3 x)), which is "bitnet"'s default; FFN_ACTIVATION_KEY says it
//   explicitly. Activations are int8 per token (ACTIVATION_QUANT_KEY), the output is tied to token_embd.
// - The checkpoint's RoPE rotates adjacent pairs (2i, 2i+1); "bitnet" rotates (i, i + d/2) (llama.cpp's NEOX
//   mode). Permuting the rows of wq and wk inside each head (new row i ← old 2i, new row i + d/2 ← old
//   2i+1) makes the two identical: each pair keeps its frequency, and q·k is unchanged because q and k
//   are permuted alike. v is not rotated and keeps its order.
//
// Tensor data is produced lazily, one tensor at a time, as the writer reaches it.
import { ModelError } from "../errors.ts";
import type { ByteSource } from "../gguf/source.ts";
import { type GgufValue, GgufValueType as T } from "../gguf/types.ts";
import type { GgufWriteInput, GgufWriteTensor } from "../gguf/writer.ts";
import { ACTIVATION_QUANT_KEY, FFN_ACTIVATION_KEY, OUTPUT_NORM_EPS_KEY } from "../model/keys.ts";
import { GgmlType, tensorTypeTraits } from "../tensor-types/table.ts";
import {
  type BitllamaHeader,
  type BitllamaLayout,
  type BitllamaMatrix,
  type BitllamaMatrixKind,
  bitllamaLayout,
  readBitllamaHeader,
  readBitllamaMatrix,
  readExact,
} from "./bitllama-checkpoint.ts";
import { readLlama2cTokenizer, spmTokenizerMetadata } from "./llama2c-tokenizer.ts";

export const BITLLAMA_ARCHITECTURE = "bitnet";
/** The final RMSNorm's epsilon in the bitllama forward pass. */
export const BITLLAMA_OUTPUT_NORM_EPS = 1e-5;
const ROPE_BASE = 10000;
/** llama.cpp's LLAMA_FTYPE_MOSTLY_I2_S (bitnet.cpp). */
const FILE_TYPE_I2_S = 40;

const TENSOR_NAME: Record<BitllamaMatrixKind, string> = {
  wq: "attn_q",
  wk: "attn_k",
  wv: "attn_v",
  wo: "attn_output",
  w1: "ffn_gate",
  w2: "ffn_down",
  w3: "ffn_up",
};

export interface BitllamaConvertOptions {
  /** general.name (default "bitllama"). */
  name?: string;
}

export interface BitllamaConversion {
  header: BitllamaHeader;
  input: GgufWriteInput;
}

/**
 * Builds the GGUF write input for a bitllama checkpoint (read through `model`) and its llama2.c tokenizer
 * file. Everything the header promises is checked against the file size first; matrices are read and
 * checked (scale finite, no unused code) when the writer asks for them.
 */
export async function convertBitllama(model: ByteSource, tokenizer: Uint8Array, options: BitllamaConvertOptions = {}): Promise<BitllamaConversion> {
  const header = await readBitllamaHeader(model);
  const layout = bitllamaLayout(header, model.size);
  const vocab = readLlama2cTokenizer(tokenizer, header.vocabSize);

  const metadata = new Map<string, GgufValue>([
    ["general.architecture", { type: T.STRING, value: BITLLAMA_ARCHITECTURE }],
    ["general.name", { type: T.STRING, value: options.name ?? "bitllama" }],
    ["general.file_type", { type: T.UINT32, value: FILE_TYPE_I2_S }],
    ["general.quantization_version", { type: T.UINT32, value: 2 }],
    ...architectureMetadata(header),
    [FFN_ACTIVATION_KEY, { type: T.STRING, value: "silu" }],
    [ACTIVATION_QUANT_KEY, { type: T.STRING, value: "int8-per-token" }],
    [OUTPUT_NORM_EPS_KEY, { type: T.FLOAT32, value: BITLLAMA_OUTPUT_NORM_EPS }],
    ...spmTokenizerMetadata(vocab),
  ]);
  return { header, input: { metadata, tensors: ggufTensors(model, layout) } };
}

function architectureMetadata(h: BitllamaHeader): [string, GgufValue][] {
  const u32 = (value: number): GgufValue => ({ type: T.UINT32, value });
  const f32 = (value: number): GgufValue => ({ type: T.FLOAT32, value });
  const a = BITLLAMA_ARCHITECTURE;
  return [
    [`${a}.vocab_size`, u32(h.vocabSize)],
    [`${a}.context_length`, u32(h.seqLen)],
    [`${a}.embedding_length`, u32(h.dim)],
    [`${a}.feed_forward_length`, u32(h.hiddenDim)],
    [`${a}.block_count`, u32(h.layers)],
    [`${a}.attention.head_count`, u32(h.heads)],
    [`${a}.attention.head_count_kv`, u32(h.kvHeads)],
    [`${a}.rope.dimension_count`, u32(h.dim / h.heads)],
    [`${a}.rope.freq_base`, f32(ROPE_BASE)],
    // The per-input normalisation has no epsilon (see the top of this file).
    [`${a}.attention.layer_norm_rms_epsilon`, f32(0)],
  ];
}

function ggufTensors(source: ByteSource, layout: BitllamaLayout): GgufWriteTensor[] {
  const h = layout.header;
  const matrix = new Map(layout.matrices.map((m) => [`${m.kind}.${m.layer}`, m]));
  const get = (kind: BitllamaMatrixKind, layer: number) => matrix.get(`${kind}.${layer}`)!;
  const tensors: GgufWriteTensor[] = [
    {
      name: "token_embd.weight",
      dims: [h.dim, h.vocabSize],
      type: GgmlType.F32,
      data: () => readExact(source, layout.embeddingOffset, h.vocabSize * h.dim * 4, "bitllama token embedding"),
    },
  ];
  const norm = (name: string, n: number): GgufWriteTensor => ({
    name,
    dims: [n],
    type: GgmlType.F32,
    data: () => Promise.resolve(f32Bytes(new Float32Array(n).fill(1 / n))),
  });
  for (let l = 0; l < h.layers; l++) {
    const p = `blk.${l}.`;
    tensors.push(
      norm(p + "attn_norm.weight", h.dim),
      i2sTensor(source, h, get("wq", l)),
      i2sTensor(source, h, get("wk", l)),
      i2sTensor(source, h, get("wv", l)),
      norm(p + "attn_sub_norm.weight", h.dim),
      i2sTensor(source, h, get("wo", l)),
      norm(p + "ffn_norm.weight", h.dim),
      i2sTensor(source, h, get("w1", l)),
      i2sTensor(source, h, get("w3", l)),
      norm(p + "ffn_sub_norm.weight", h.hiddenDim),
      i2sTensor(source, h, get("w2", l)),
    );
  }
  tensors.push({
    name: "output_norm.weight",
    dims: [h.dim],
    type: GgmlType.F32,
    data: () => readExact(source, layout.finalNormOffset, h.dim * 4, "bitllama final norm"),
  });
  return tensors;
}

/** GGUF tensor name of a checkpoint matrix. */
export function bitllamaTensorName(kind: BitllamaMatrixKind, layer: number): string {
  return `blk.${layer}.${TENSOR_NAME[kind]}.weight`;
}

function i2sTensor(source: ByteSource, h: BitllamaHeader, m: BitllamaMatrix): GgufWriteTensor {
  const name = bitllamaTensorName(m.kind, m.layer);
  const i2s = tensorTypeTraits(GgmlType.I2_S);
  if (m.cols % i2s.blockSize !== 0) {
    throw new ModelError("UNSUPPORTED_MODEL", `${name}: row length ${m.cols} is not a multiple of ${i2s.blockSize}, which I2_S needs`);
  }
  return {
    name,
    dims: [m.cols, m.rows],
    type: GgmlType.I2_S,
    data: async () => {
      const { scale, trits } = await readBitllamaMatrix(source, m);
      const ordered = m.kind === "wq" || m.kind === "wk" ? neoxRowOrder(trits, m.rows, m.cols, h.dim / h.heads) : trits;
      // I2_S's packer maps 0 to code 1 and the sign of anything else to 0/2; on ±1/0 input it is lossless.
      // Its tensor scale (max |t| = 1) is then replaced by the checkpoint's.
      const values = Float32Array.from(ordered);
      const out = new Uint8Array(i2s.byteLength(values.length));
      i2s.quantizeInto(values, out);
      new DataView(out.buffer, out.byteOffset + values.length / 4, 4).setFloat32(0, scale, true);
      return out;
    },
  };
}

/**
 * Reorders the rows of a Q or K matrix inside each head from the adjacent-pair RoPE layout to the NEOX
 * layout: row i of a head takes old row 2i, row i + d/2 takes old row 2i + 1.
 */
export function neoxRowOrder(trits: Int8Array, rows: number, cols: number, headDim: number): Int8Array {
  const out = new Int8Array(trits.length);
  const half = headDim / 2;
  for (let r = 0; r < rows; r++) {
    const head = Math.floor(r / headDim);
    const j = r % headDim;
    const from = head * headDim + (j < half ? 2 * j : 2 * (j - half) + 1);
    out.set(trits.subarray(from * cols, (from + 1) * cols), r * cols);
  }
  return out;
}

function f32Bytes(values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * 4);
  const v = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) v.setFloat32(4 * i, values[i]!, true);
  return out;
}
