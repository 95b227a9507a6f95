// The bitllama checkpoint format (a llama2.c-derived file holding a ternary BitNet-style model; docs/ARCHITECTURE.md section 3):
//   256-byte header: u32 magic 0x616b3432 ("ak42"), i32 version 1, i32 dim, hidden_dim, n_layers, n_heads,
//     n_kv_heads, vocab_size, seq_len, u8 shared_classifier, zero padding;
//   f32 final-norm weight [dim]; f32 token embedding [vocab][dim] (also the output head);
//   then wq for all layers, wk, wv, wo, w1, w2, w3, each matrix one f32 scale followed by
//   ceil(rows·cols/4) bytes of 2-bit codes, row-major [out][in], first weight in bits 7:6,
//   00 = 0, 01 = +1, 11 = −1 (10 unused).
// This file reads the header, computes where everything lies (checked against the file size before any
// tensor is read) and decodes matrices; ./bitllama.ts maps them to GGUF.
import { ModelError } from "../errors.ts";
import type { ByteSource } from "../gguf/source.ts";

export const BITLLAMA_MAGIC = 0x616b3432;
export const BITLLAMA_HEADER_BYTES = 256;

export interface BitllamaHeader {
  version: number;
  dim: number;
  hiddenDim: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocabSize: number;
  seqLen: number;
  sharedClassifier: boolean;
}

export type BitllamaMatrixKind = "wq" | "wk" | "wv" | "wo" | "w1" | "w2" | "w3";
export const BITLLAMA_MATRIX_KINDS: readonly BitllamaMatrixKind[] = ["wq", "wk", "wv", "wo", "w1", "w2", "w3"];

export interface BitllamaMatrix {
  kind: BitllamaMatrixKind;
  layer: number;
  /** Output features. */
  rows: number;
  /** Input features (the row length). */
  cols: number;
  /** Byte offset of the f32 scale; the codes follow it. */
  offset: number;
  /** Bytes of the codes: ceil(rows·cols/4). */
  codeBytes: number;
}

export interface BitllamaLayout {
  header: BitllamaHeader;
  finalNormOffset: number;
  embeddingOffset: number;
  matrices: BitllamaMatrix[];
  /** Bytes the file must have. */
  size: number;
}

export async function readBitllamaHeader(source: ByteSource): Promise<BitllamaHeader> {
  if (source.size < BITLLAMA_HEADER_BYTES) {
    throw new ModelError("TRUNCATED", `bitllama checkpoint has ${source.size} bytes, less than its ${BITLLAMA_HEADER_BYTES}-byte header`);
  }
  const bytes = await readExact(source, 0, BITLLAMA_HEADER_BYTES, "bitllama header");
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = v.getUint32(0, true);
  if (magic !== BITLLAMA_MAGIC) {
    throw new ModelError(
      "BAD_MAGIC",
      `not a bitllama checkpoint: magic 0x${magic.toString(16).padStart(8, "0")}, expected 0x${BITLLAMA_MAGIC.toString(16)} ("ak42")`,
    );
  }
  const version = v.getInt32(4, true);
  if (version !== 1) throw new ModelError("UNSUPPORTED_VERSION", `bitllama checkpoint version ${version} is not supported (only 1)`);
  /** The i-th i32 of the hyper-parameters after magic and version, which must be positive. */
  const positive = (i: number, name: string) => {
    const x = v.getInt32(8 + 4 * i, true);
    if (x <= 0) throw new ModelError("BAD_HEADER", `bitllama header ${name} = ${x} must be positive`);
    return x;
  };
  const dim = positive(0, "dim");
  const hiddenDim = positive(1, "hidden_dim");
  const layers = positive(2, "n_layers");
  const heads = positive(3, "n_heads");
  const kvHeads = positive(4, "n_kv_heads");
  const vocabSize = positive(5, "vocab_size");
  const seqLen = positive(6, "seq_len");
  if (dim % heads !== 0) throw new ModelError("BAD_HEADER", `bitllama header: dim ${dim} is not a multiple of n_heads ${heads}`);
  if (heads % kvHeads !== 0) throw new ModelError("BAD_HEADER", `bitllama header: n_heads ${heads} is not a multiple of n_kv_heads ${kvHeads}`);
  if ((dim / heads) % 2 !== 0) throw new ModelError("BAD_HEADER", `bitllama header: head size ${dim / heads} must be even for RoPE`);
  const shared = bytes[36]!; // readExact gave all 256 header bytes
  if (shared > 1) throw new ModelError("BAD_HEADER", `bitllama header shared_classifier = ${shared} must be 0 or 1`);
  return { version, dim, hiddenDim, layers, heads, kvHeads, vocabSize, seqLen, sharedClassifier: shared === 1 };
}

/** [rows, cols] of a matrix kind: [out, in]. */
export function matrixShape(h: BitllamaHeader, kind: BitllamaMatrixKind): [number, number] {
  const kv = (h.dim / h.heads) * h.kvHeads;
  switch (kind) {
    case "wq":
    case "wo":
      return [h.dim, h.dim];
    case "wk":
    case "wv":
      return [kv, h.dim];
    case "w1":
    case "w3":
      return [h.hiddenDim, h.dim];
    case "w2":
      return [h.dim, h.hiddenDim];
  }
}

/** Where every part of the checkpoint lies; throws if the file size does not match exactly. */
export function bitllamaLayout(header: BitllamaHeader, fileSize: number): BitllamaLayout {
  if (!header.sharedClassifier) {
    throw new ModelError("UNSUPPORTED_MODEL", "bitllama checkpoint without shared_classifier: the format defines no separate output head");
  }
  let at = BITLLAMA_HEADER_BYTES;
  const finalNormOffset = at;
  at += header.dim * 4;
  const embeddingOffset = at;
  at += header.vocabSize * header.dim * 4;
  const matrices: BitllamaMatrix[] = [];
  for (const kind of BITLLAMA_MATRIX_KINDS) {
    const [rows, cols] = matrixShape(header, kind);
    const codeBytes = Math.ceil((rows * cols) / 4);
    for (let layer = 0; layer < header.layers; layer++) {
      matrices.push({ kind, layer, rows, cols, offset: at, codeBytes });
      at += 4 + codeBytes;
    }
  }
  if (!Number.isSafeInteger(at)) throw new ModelError("BAD_HEADER", "bitllama header describes a model too large to address");
  if (at !== fileSize) {
    throw new ModelError(
      "SIZE_MISMATCH",
      `bitllama checkpoint is ${fileSize} bytes but its header (dim ${header.dim}, hidden ${header.hiddenDim}, ${header.layers} layers, vocab ${header.vocabSize}) needs ${at}`,
    );
  }
  return { header, finalNormOffset, embeddingOffset, matrices, size: at };
}

/** Reads `length` bytes at `offset`, failing if the source returns fewer. */
export async function readExact(source: ByteSource, offset: number, length: number, what: string): Promise<Uint8Array> {
  const bytes = await source.read(offset, length);
  if (bytes.length !== length) throw new ModelError("TRUNCATED", `${what}: read ${bytes.length} of ${length} bytes at ${offset}`);
  return bytes;
}

/** Reads f32 values (little-endian) as a Float32Array. */
export interface TernaryMatrix {
  scale: number;
  /** −1/0/+1 per weight, row-major [rows][cols]. */
  trits: Int8Array;
}

/** Reads one matrix: its scale and its weights decoded to −1/0/+1. */
export async function readBitllamaMatrix(source: ByteSource, m: BitllamaMatrix): Promise<TernaryMatrix> {
  const name = `${m.kind}[${m.layer}]`;
  const bytes = await readExact(source, m.offset, 4 + m.codeBytes, `bitllama matrix ${name}`);
  const scale = new DataView(bytes.buffer, bytes.byteOffset, 4).getFloat32(0, true);
  if (!Number.isFinite(scale)) throw new ModelError("BAD_VALUE", `bitllama matrix ${name} has scale ${scale}`);
  return { scale, trits: decodeBitllamaCodes(bytes.subarray(4), m.rows * m.cols, name) };
}

/** 2-bit codes, first weight in bits 7:6 → −1/0/+1. The unused code 10 is an error naming the weight. */
export function decodeBitllamaCodes(codes: Uint8Array, count: number, name = "matrix"): Int8Array {
  if (codes.length * 4 < count) {
    throw new ModelError("TRUNCATED", `bitllama ${name}: ${codes.length} code bytes hold ${codes.length * 4} weights, ${count} needed`);
  }
  const out = new Int8Array(count);
  for (let i = 0; i < count; i++) {
    const c = (codes[i >> 2]! >> (6 - 2 * (i & 3))) & 3;
    if (c === 2) throw new ModelError("BAD_CODE", `bitllama ${name}: weight ${i} has the unused code 10`);
    out[i] = c === 3 ? -1 : c; // 00 → 0, 01 → +1, 11 → −1
  }
  return out;
}
