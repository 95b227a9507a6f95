// The hostile corpus's bad GGUF files: a real small model (stories260K) and two synthetic ternary models, each
// with one thing changed as an attacker would change it. Every header field at its extremes (counts, string and
// array lengths, value types, dims, tensor types, alignment, offsets), truncations at many points, inconsistent
// tensor tables, every structure key of the architecture at 0 / 1 / huge / negative / NaN / the wrong type,
// non-finite norms and weights, an F32 tensor labelled F16, and files that are not GGUF at all. Deterministic: the
// same list, in the same order, with the same bytes, on every run.
import { readFileSync } from "node:fs";
import { readGgufHeader } from "../../src/runtime/gguf/reader.ts";
import { bytesSource } from "../../src/runtime/gguf/sources.ts";
import { type GgufValue, GgufValueType as T } from "../../src/runtime/gguf/types.ts";
import { writeGgufToBytes } from "../../src/runtime/gguf/writer.ts";
import { GgmlType } from "../../src/runtime/tensor-types/table.ts";
import { rng } from "../helpers/random.ts";
import { sharedPath } from "../helpers/shared.ts";
import { withRandomSalient } from "../helpers/salient.ts";
import { type SyntheticShape, syntheticModel } from "../helpers/synthetic-model.ts";
import type { HostileModelCase } from "./case.ts";
import { edited, ggufLayout, setF32, setU32, setU64, withMetadata } from "./gguf-layout.ts";

type Action = HostileModelCase["action"];

const U64_MAX = (1n << 64n) - 1n;
const U32_MAX = 0xffff_ffff;

/** A base model of the corpus: its bytes and parsed metadata. */
interface Base {
  /** Short name in the case names: "stories", "bitnet-tq2", "llama-tq1". */
  id: string;
  bytes: Uint8Array;
  metadata: ReadonlyMap<string, GgufValue>;
  architecture: string;
}

async function base(id: string, bytes: Uint8Array): Promise<Base> {
  const header = await readGgufHeader(bytesSource(bytes));
  const architecture = header.metadata.get("general.architecture")!.value as string;
  return { id, bytes, metadata: header.metadata, architecture };
}

const SYNTHETIC: SyntheticShape[] = [
  {
    name: "hostile-bitnet-tq2",
    architecture: "bitnet",
    dim: 256,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    ffn: 512,
    vocab: 384,
    contextLength: 256,
    ternary: GgmlType.TQ2_0,
    embedding: GgmlType.F16,
    tiedOutput: true,
    seed: 15,
  },
  {
    name: "hostile-llama-tq1",
    architecture: "llama",
    dim: 256,
    layers: 2,
    heads: 4,
    kvHeads: 4,
    ffn: 256,
    vocab: 320,
    contextLength: 128,
    ternary: GgmlType.TQ1_0,
    embedding: GgmlType.F32,
    tiedOutput: false,
    seed: 16,
  },
];

/** Every bad-GGUF case of the corpus, in a stable order. */
export async function ggufCases(): Promise<HostileModelCase[]> {
  const stories = await base("stories", new Uint8Array(readFileSync(sharedPath("models/stories260K.gguf"))));
  const synthetic = await Promise.all(SYNTHETIC.map(async (s) => base(s.name.replace("hostile-", ""), await writeGgufToBytes(syntheticModel(s)))));
  const cases: HostileModelCase[] = [...notGguf(stories)];
  for (const b of [stories, ...synthetic]) {
    const full = b === stories;
    cases.push(
      ...preamble(b),
      ...counts(b),
      ...metadataFields(b, full),
      ...tensorFields(b, full),
      ...truncations(b, full ? 32 : 12),
      ...tensorTables(b),
      ...structureKeys(b, full),
      ...(full ? tokenizerKeys(b) : []),
      ...nonFinite(b),
    );
  }
  // a ternary model with salient side matrices (model/salient-file.ts), and its side tensors broken
  const salient = await base("salient-tq2", await writeGgufToBytes(withRandomSalient(syntheticModel(SYNTHETIC[0]!), 0.01, 18).model));
  cases.push(...salientMatrices(salient));
  const names = new Set<string>();
  for (const c of cases) {
    if (names.has(c.name)) throw new Error(`duplicate hostile case name ${c.name}`);
    names.add(c.name);
  }
  return cases;
}

function make(b: Base, what: string, action: Action, bytes: () => Uint8Array, expect?: HostileModelCase["expect"]): HostileModelCase {
  return { name: `gguf/${b.id}/${what}`, action, model: bytes, ...(expect ? { expect } : {}) };
}

/** NaN or Inf that the forward pass reads: no output could mean anything. */
const NON_FINITE: HostileModelCase["expect"] = { refused: { code: /^NON_FINITE_(LOGITS|WEIGHTS)$/ } };

function notGguf(b: Base): HostileModelCase[] {
  const random = rng(1515);
  const noise = Uint8Array.from({ length: 4096 }, () => Math.floor(random() * 256));
  const layout = ggufLayout(b.bytes);
  return [
    make(b, "empty-file", "load", () => new Uint8Array()),
    make(b, "one-byte", "inspect", () => new Uint8Array([0x47])),
    make(b, "magic-only", "load", () => b.bytes.slice(0, 4)),
    make(b, "random-4k", "load", () => noise),
    make(b, "random-4k", "inspect", () => noise),
    make(b, "header-without-data", "load", () => b.bytes.slice(0, layout.dataOffset)),
  ].map((c, i) => (i === 4 ? { ...c, name: `${c.name}-inspect` } : c));
}

function preamble(b: Base): HostileModelCase[] {
  const out = [make(b, "magic=GGUG", "load", () => edited(b.bytes, (_v, c) => void (c[3] = 0x47)))];
  for (const v of [0, 1, 4, 0x0300_0000, U32_MAX]) out.push(make(b, `version=${v}`, "load", () => setU32(b.bytes, 4, v)));
  return out;
}

function counts(b: Base): HostileModelCase[] {
  const l = ggufLayout(b.bytes);
  const out: HostileModelCase[] = [];
  const extremes = (n: number) => [0n, 1n, BigInt(n - 1), BigInt(n + 1), 1n << 32n, 1n << 53n, U64_MAX];
  for (const v of extremes(l.tensors.length)) {
    out.push(make(b, `tensor_count=${v}`, "load", () => setU64(b.bytes, l.tensorCountAt, v)));
  }
  for (const v of extremes(l.kvs.length)) out.push(make(b, `kv_count=${v}`, "load", () => setU64(b.bytes, l.kvCountAt, v)));
  out.push(make(b, "kv_count=max-inspect", "inspect", () => setU64(b.bytes, l.kvCountAt, U64_MAX)));
  return out;
}

/** Key lengths, value types, string lengths and array lengths of chosen metadata entries. */
function metadataFields(b: Base, full: boolean): HostileModelCase[] {
  const l = ggufLayout(b.bytes);
  // stories260K: an entry of each shape (string array, f32 array, string, u32, f32); the others: two of them.
  const keys = full
    ? ["tokenizer.ggml.tokens", "tokenizer.ggml.scores", "general.architecture", "llama.block_count", "llama.attention.layer_norm_rms_epsilon"]
    : ["tokenizer.ggml.tokens", "general.architecture"];
  const chosen = l.kvs.filter((kv) => keys.includes(kv.key));
  const out: HostileModelCase[] = [];
  for (const kv of chosen) {
    const keyLength = BigInt(new TextEncoder().encode(kv.key).length);
    for (const v of [0n, keyLength + 1n, 1n << 31n, U64_MAX]) {
      out.push(make(b, `kv[${kv.key}]/key_length=${v}`, "load", () => setU64(b.bytes, kv.keyLengthAt, v)));
    }
    const types = full ? [T.UINT8, T.UINT64, T.FLOAT64, T.STRING, T.ARRAY, 13, U32_MAX] : [T.ARRAY, 13];
    for (const t of types.filter((t) => t !== kv.type)) {
      out.push(make(b, `kv[${kv.key}]/type=${t}`, "load", () => setU32(b.bytes, kv.typeAt, t)));
    }
    if (kv.type === T.STRING) {
      for (const v of [0n, 1000n, 1n << 40n, U64_MAX]) {
        out.push(make(b, `kv[${kv.key}]/string_length=${v}`, "load", () => setU64(b.bytes, kv.valueAt, v)));
      }
    }
    if (kv.countAt !== undefined) {
      const countAt = kv.countAt;
      for (const v of [0n, 1n, 511n, 513n, 1n << 32n, U64_MAX]) {
        out.push(make(b, `kv[${kv.key}]/array_count=${v}`, "load", () => setU64(b.bytes, countAt, v)));
      }
      for (const t of [T.UINT8, T.STRING, T.ARRAY, T.BOOL, 13].filter((t) => t !== kv.elementType)) {
        out.push(make(b, `kv[${kv.key}]/element_type=${t}`, "load", () => setU32(b.bytes, kv.valueAt, t)));
      }
    }
    if (kv.firstElementAt !== undefined) {
      const at = kv.firstElementAt;
      for (const v of [0n, 1n << 40n, U64_MAX]) out.push(make(b, `kv[${kv.key}]/element0_length=${v}`, "load", () => setU64(b.bytes, at, v)));
    }
  }
  return out;
}

/** Name lengths, n_dims, dims, types and offsets of chosen tensors. */
function tensorFields(b: Base, full: boolean): HostileModelCase[] {
  const l = ggufLayout(b.bytes);
  const n = l.tensors.length;
  const picks = full ? [0, Math.floor(n / 2), n - 1] : [0, n - 1];
  const out: HostileModelCase[] = [];
  for (const i of picks) {
    const t = l.tensors[i]!;
    const p = `tensor[${t.name}]`;
    for (const v of [0n, 1n << 40n, U64_MAX]) out.push(make(b, `${p}/name_length=${v}`, "load", () => setU64(b.bytes, t.nameLengthAt, v)));
    for (const v of [0, 3, 5, U32_MAX]) out.push(make(b, `${p}/n_dims=${v}`, "load", () => setU32(b.bytes, t.nDimsAt, v)));
    t.dimsAt.forEach((at, d) => {
      for (const v of [0n, 1n, 1n << 32n, 1n << 53n, U64_MAX]) out.push(make(b, `${p}/dims[${d}]=${v}`, "load", () => setU64(b.bytes, at, v)));
    });
    const types = full ? [GgmlType.F16, GgmlType.Q8_0, GgmlType.TQ1_0, GgmlType.TQ2_0, 2, 999, U32_MAX] : [GgmlType.F16, GgmlType.TQ1_0, 999];
    for (const v of types) out.push(make(b, `${p}/type=${v}`, "load", () => setU32(b.bytes, t.typeAt, v)));
    const offsets = [1n, BigInt(l.alignment), 1n << 40n, U64_MAX];
    for (const v of offsets) out.push(make(b, `${p}/offset=${v}`, "load", () => setU64(b.bytes, t.offsetAt, v)));
  }
  out.push(make(b, "tensor[last]/dims[0]=2^32-inspect", "inspect", () => setU64(b.bytes, l.tensors[n - 1]!.dimsAt[0]!, 1n << 32n)));
  return out;
}

/** The file cut at `points` places: through the preamble byte by byte, then spread over the header and the data. */
function truncations(b: Base, points: number): HostileModelCase[] {
  const l = ggufLayout(b.bytes);
  const at = new Set<number>([0, 3, 4, 7, 8, 15, 16, 23, 24]);
  for (let i = 1; i <= points / 2; i++) at.add(Math.floor((l.dataOffset * i) / (points / 2 + 1)));
  for (let i = 0; i < points / 2; i++) at.add(l.dataOffset + Math.floor(((b.bytes.length - l.dataOffset) * i) / (points / 2)));
  at.add(b.bytes.length - 1);
  return [...at].sort((x, y) => x - y).map((n, i) => make(b, `truncated-at-${n}`, i % 3 === 0 ? "inspect" : "load", () => b.bytes.slice(0, n)));
}

/** Overlapping, duplicate, missing and misshapen tensors (each a byte edit of the tensor infos). */
function tensorTables(b: Base): HostileModelCase[] {
  const l = ggufLayout(b.bytes);
  const byName = new Map(l.tensors.map((t) => [t.name, t]));
  const out: HostileModelCase[] = [];
  const rename = (from: string, to: string) => () =>
    edited(b.bytes, (_v, c) => {
      const t = byName.get(from)!;
      c.set(new TextEncoder().encode(to), t.nameLengthAt + 8);
    });
  const q = byName.get("blk.0.attn_q.weight")!;
  out.push(make(b, "duplicate-tensor-name", "load", rename("blk.0.attn_k.weight", "blk.0.attn_q.weight")));
  out.push(make(b, "missing-tensor", "load", rename("blk.0.attn_q.weight", "blk.0.attn_x.weight")));
  out.push(make(b, "missing-block-1", "load", rename("blk.1.attn_q.weight", "blk.9.attn_q.weight")));
  const [k0, k1] = l.tensors.slice(0, 2);
  out.push(
    make(b, "overlapping-tensors", "load", () => edited(b.bytes, (v) => v.setBigUint64(k1!.offsetAt, v.getBigUint64(k0!.offsetAt, true), true))),
  );
  out.push(
    make(b, "every-tensor-at-offset-0", "load", () =>
      edited(b.bytes, (v) => {
        for (const t of l.tensors) v.setBigUint64(t.offsetAt, 0n, true);
      }),
    ),
  );
  // [a, b] → [b, a]: the same byte size, the wrong shape for the architecture.
  const k = byName.get("blk.0.attn_k.weight")!;
  out.push(
    make(b, "attn_k-dims-swapped", "load", () =>
      edited(b.bytes, (v) => {
        const d0 = v.getBigUint64(k.dimsAt[0]!, true);
        v.setBigUint64(k.dimsAt[0]!, v.getBigUint64(k.dimsAt[1]!, true), true);
        v.setBigUint64(k.dimsAt[1]!, d0, true);
      }),
    ),
  );
  out.push(make(b, "attn_q-one-dim", "load", () => setU32(b.bytes, q.nDimsAt, 1)));
  const norm = byName.get("output_norm.weight")!;
  out.push(make(b, "output_norm-typed-Q8_0", "load", () => setU32(b.bytes, norm.typeAt, GgmlType.Q8_0)));
  return out;
}

/** Values every structure key is tried at: 0, 1, 2, huge, negative, non-finite, fractional, and wrong types. */
const STRUCTURE_VALUES: Array<[string, GgufValue | undefined]> = [
  ["u32-0", { type: T.UINT32, value: 0 }],
  ["u32-1", { type: T.UINT32, value: 1 }],
  ["u32-2", { type: T.UINT32, value: 2 }],
  ["u32-max", { type: T.UINT32, value: U32_MAX }],
  ["u64-2^63", { type: T.UINT64, value: 1n << 63n }],
  ["i32--1", { type: T.INT32, value: -1 }],
  ["f32--1", { type: T.FLOAT32, value: -1 }],
  ["f32-NaN", { type: T.FLOAT32, value: Number.NaN }],
  ["f32-Inf", { type: T.FLOAT32, value: Number.POSITIVE_INFINITY }],
  ["f32-1.5", { type: T.FLOAT32, value: 1.5 }],
  ["f64-1e300", { type: T.FLOAT64, value: 1e300 }],
  ["string", { type: T.STRING, value: "5" }],
  ["array", { type: T.ARRAY, value: { elementType: T.UINT32, values: new Uint32Array([5]) } }],
  ["missing", undefined],
];

const STRUCTURE_KEYS = [
  "block_count",
  "context_length",
  "embedding_length",
  "feed_forward_length",
  "attention.head_count",
  "attention.head_count_kv",
  "attention.key_length",
  "attention.value_length",
  "rope.dimension_count",
  "attention.layer_norm_rms_epsilon",
  "rope.freq_base",
  "rope.scaling.factor",
  "vocab_size",
];

function withKeys(b: Base, changes: Record<string, GgufValue | undefined>): () => Uint8Array {
  return () => {
    const meta = new Map(b.metadata);
    for (const [k, v] of Object.entries(changes)) {
      if (v === undefined) meta.delete(k);
      else meta.set(k, v);
    }
    return withMetadata(b.bytes, meta, alignmentOf(meta));
  };
}

function alignmentOf(meta: ReadonlyMap<string, GgufValue>): number {
  const a = meta.get("general.alignment");
  const n = a?.type === T.UINT32 ? (a.value as number) : 32;
  return n > 0 && (n & (n - 1)) === 0 && n <= 4096 ? n : 32;
}

function structureKeys(b: Base, full: boolean): HostileModelCase[] {
  const out: HostileModelCase[] = [];
  const keys = full ? STRUCTURE_KEYS : ["block_count", "context_length", "embedding_length", "attention.head_count"];
  const values = full ? STRUCTURE_VALUES : STRUCTURE_VALUES.filter(([n]) => ["u32-0", "u32-max", "f32-NaN", "string"].includes(n));
  for (const key of keys) {
    for (const [label, value] of values) {
      // A value that may still describe a runnable model is generated from, to reach the forward pass.
      const action: Action = label === "u32-1" || label === "u32-2" || label === "f32-1.5" || label === "missing" ? "generate" : "load";
      out.push(make(b, `${key}=${label}`, action, withKeys(b, { [`${b.architecture}.${key}`]: value })));
    }
  }
  // Contexts a plan can still hold (a KV cache of 100 MB to 2 GB for stories260K): the memory is reserved, and only
  // what the prompt touches may become resident.
  for (const log2 of [20, 22, 24]) {
    const value: GgufValue = { type: T.UINT32, value: 2 ** log2 };
    out.push(make(b, `context_length=2^${log2}`, "generate", withKeys(b, { [`${b.architecture}.context_length`]: value })));
  }
  const arch = (value: GgufValue | undefined) => withKeys(b, { "general.architecture": value });
  out.push(make(b, "architecture=gpt", "load", arch({ type: T.STRING, value: "gpt" })));
  out.push(make(b, "architecture=empty", "load", arch({ type: T.STRING, value: "" })));
  out.push(make(b, "architecture=missing", "inspect", arch(undefined)));
  out.push(make(b, "architecture=u32", "load", arch({ type: T.UINT32, value: 1 })));
  for (const [label, value] of [
    ["0", { type: T.UINT32, value: 0 }],
    ["3", { type: T.UINT32, value: 3 }],
    ["64", { type: T.UINT32, value: 64 }],
    ["2^31", { type: T.UINT32, value: 0x8000_0000 }],
    ["u64", { type: T.UINT64, value: 32n }],
  ] as Array<[string, GgufValue]>) {
    out.push(make(b, `alignment=${label}`, label === "64" ? "generate" : "load", withKeys(b, { "general.alignment": value })));
  }
  return out;
}

function tokenizerKeys(b: Base): HostileModelCase[] {
  const out: HostileModelCase[] = [];
  const key = (k: string, label: string, value: GgufValue | undefined, action: Action = "generate") =>
    out.push(make(b, `${k}=${label}`, action, withKeys(b, { [k]: value })));
  for (const k of ["tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"]) {
    key(k, "vocab", { type: T.UINT32, value: 512 });
    key(k, "i32--2", { type: T.INT32, value: -2 });
    key(k, "string", { type: T.STRING, value: "1" });
  }
  key("tokenizer.ggml.model", "bert", { type: T.STRING, value: "bert" }, "load");
  key("tokenizer.ggml.model", "gpt2-without-merges", { type: T.STRING, value: "gpt2" }, "load");
  key("tokenizer.ggml.model", "missing", undefined, "load");
  key("tokenizer.ggml.tokens", "empty", { type: T.ARRAY, value: { elementType: T.STRING, values: [] } }, "load");
  key("tokenizer.ggml.tokens", "u32", { type: T.ARRAY, value: { elementType: T.UINT32, values: new Uint32Array(4) } }, "load");
  key("tokenizer.ggml.tokens", "missing", undefined, "load");
  key("tokenizer.ggml.scores", "one", { type: T.ARRAY, value: { elementType: T.FLOAT32, values: new Float32Array([Number.NaN]) } }, "load");
  key("tokenizer.ggml.token_type", "one", { type: T.ARRAY, value: { elementType: T.INT32, values: new Int32Array([99]) } }, "load");
  key("tokenizer.ggml.merges", "garbage", { type: T.ARRAY, value: { elementType: T.STRING, values: ["a", "b c d", ""] } });
  key("general.name", "escape-sequences", { type: T.STRING, value: "\u001b[2J\u001b]0;owned\u0007name" }, "inspect");
  return out;
}

/** NaN or Inf written into a norm or a weight, and an F32 tensor labelled F16 (the bytes are read as halves). */
function nonFinite(b: Base): HostileModelCase[] {
  const l = ggufLayout(b.bytes);
  const h = l.tensors;
  const dataAt = (name: string) => {
    const t = h.find((x) => x.name === name)!;
    return l.dataOffset + Number(new DataView(b.bytes.buffer, b.bytes.byteOffset).getBigUint64(t.offsetAt, true));
  };
  const out: HostileModelCase[] = [];
  const norms = ["output_norm.weight", "blk.0.attn_norm.weight"];
  for (const name of norms) {
    const f32 = readType(b, name) === GgmlType.F32;
    if (!f32) continue;
    out.push(make(b, `${name}[0]=NaN`, "generate", () => setF32(b.bytes, dataAt(name), Number.NaN), NON_FINITE));
    out.push(make(b, `${name}[0]=Inf`, "ppl", () => setF32(b.bytes, dataAt(name), Number.POSITIVE_INFINITY), NON_FINITE));
  }
  if (readType(b, "token_embd.weight") === GgmlType.F32) {
    out.push(
      make(b, "token_embd=NaN", "generate", () =>
        edited(b.bytes, (v) => {
          const at = dataAt("token_embd.weight");
          for (let i = 0; i < 64 * 16; i++) v.setFloat32(at + 4 * i, Number.NaN, true);
        }),
      ),
    );
  }
  const f32Matrix = h.find((t) => t.name.endsWith("attn_q.weight") && readType(b, t.name) === GgmlType.F32);
  if (f32Matrix) out.push(make(b, `${f32Matrix.name}-F32-labelled-F16`, "generate", () => setU32(b.bytes, f32Matrix.typeAt, GgmlType.F16)));
  out.push(make(b, "chat-without-template", "chat", () => b.bytes));
  return out;
}

function readType(b: Base, name: string): number {
  const t = ggufLayout(b.bytes).tensors.find((x) => x.name === name);
  return t === undefined ? -1 : new DataView(b.bytes.buffer, b.bytes.byteOffset).getUint32(t.typeAt, true);
}

/** A side matrix refused for its structure (model/salient-file.ts). */
const BAD_SALIENT: HostileModelCase["expect"] = { refused: { code: /^BAD_SALIENT_MATRIX$/ } };

/**
 * Salient side matrices broken as an attacker would: row starts that go backwards, start elsewhere than 0, claim
 * more entries than there are (2^31 − 1) or are negative; columns past the row or repeated; a value of −128; a NaN
 * scale; an entry count (the index tensor's dims) near 2^40; one of the four tensors renamed away; an index tensor
 * relabelled I32. Each is refused with a typed error before anything the size of its claims is allocated.
 */
function salientMatrices(b: Base): HostileModelCase[] {
  const l = ggufLayout(b.bytes);
  const field = (name: string) => l.tensors.find((t) => t.name === name)!;
  const dataAt = (name: string) => l.dataOffset + Number(new DataView(b.bytes.buffer, b.bytes.byteOffset).getBigUint64(field(name).offsetAt, true));
  const w = "blk.0.attn_q";
  const rows = dataAt(`${w}.salient_rows`);
  const idx = dataAt(`${w}.salient_idx`);
  const val = dataAt(`${w}.salient_val`);
  const scale = dataAt(`${w}.salient_scale`);
  const i32 = (at: number) => new DataView(b.bytes.buffer, b.bytes.byteOffset).getInt32(at, true);
  const u16 = (at: number) => new DataView(b.bytes.buffer, b.bytes.byteOffset).getUint16(at, true);
  const setI32 = (at: number, v: number) => edited(b.bytes, (d) => d.setInt32(at, v, true));
  const m = Number(new DataView(b.bytes.buffer, b.bytes.byteOffset).getBigUint64(field(`${w}.salient_rows`).dimsAt[0]!, true)) - 1;
  return [
    make(b, "salient/rows[0]=1", "load", () => setI32(rows, 1), BAD_SALIENT),
    make(b, "salient/rows[m]=2^31-1", "load", () => setI32(rows + 4 * m, 0x7fff_ffff), BAD_SALIENT),
    make(b, "salient/rows[1]=-5", "load", () => setI32(rows + 4, -5), BAD_SALIENT),
    make(b, "salient/rows-backwards", "load", () => setI32(rows + 4 * 3, i32(rows + 4 * 2) - 1), BAD_SALIENT),
    make(b, "salient/idx[0]=65535", "generate", () => edited(b.bytes, (d) => d.setUint16(idx, 0xffff, true)), BAD_SALIENT),
    make(b, "salient/idx-repeated", "load", () => edited(b.bytes, (d) => d.setUint16(idx + 2, u16(idx), true)), BAD_SALIENT),
    make(b, "salient/val=-128", "load", () => edited(b.bytes, (d) => d.setInt8(val, -128)), BAD_SALIENT),
    make(b, "salient/scale=NaN", "generate", () => setF32(b.bytes, scale, Number.NaN), NON_FINITE),
    make(b, "salient/scale=Inf", "ppl", () => setF32(b.bytes, scale + 4, Number.POSITIVE_INFINITY), NON_FINITE),
    make(b, "salient/nnz=2^40", "load", () => setU64(b.bytes, field(`${w}.salient_idx`).dimsAt[0]!, 1n << 40n)),
    make(
      b,
      "salient/val-renamed",
      "load",
      () => edited(b.bytes, (_d, c) => void (c[field(`${w}.salient_val`).nameLengthAt + 8 + `${w}.salient_va`.length] = 0x78)),
      {
        refused: { code: /^MISSING_TENSOR$/, message: /salient_val missing/ },
      },
    ),
    make(b, "salient/idx-labelled-I32", "load", () => setU32(b.bytes, field(`${w}.salient_idx`).typeAt, GgmlType.I32)),
    make(b, "salient/rows-labelled-F32", "inspect", () => setU32(b.bytes, field(`${w}.salient_rows`).typeAt, GgmlType.F32)),
  ];
}
