// GGUF writer: header (metadata in the given order, with the exact value types), tensor infos with offsets
// it computes itself, then the tensor data, each tensor padded to the alignment as llama.cpp does. It streams
// to an async sink, and tensor data can be supplied lazily, so rewriting a 2 GB model holds one tensor at a
// time. `write(read(file))` reproduces a file written by llama.cpp or gguf-py byte for byte.
import { GgufError } from "../errors.ts";
import { ChunkWriter, type ChunkSink, DEFAULT_WRITE_CHUNK_SIZE } from "./chunk-writer.ts";
import { alignUp, GGUF_MAGIC } from "./format.ts";
import { readTensorData } from "./reader.ts";
import type { ByteSource } from "./source.ts";
import { type GgufArray, type GgufHeader, type GgufTensorInfo, type GgufValue, GgufValueType } from "./types.ts";
import { validateMetadata, validateTensors, validateVersion } from "./write-validate.ts";

export type { ChunkSink } from "./chunk-writer.ts";

/** A tensor's bytes, or a function that produces them when the writer reaches that tensor. */
export type TensorBytes = Uint8Array | (() => Promise<Uint8Array>);

export interface GgufWriteTensor {
  name: string;
  /** dims[0] is the row length, as in GgufTensorInfo. */
  dims: readonly number[];
  /** ggml type id. */
  type: number;
  data: TensorBytes;
}

export interface GgufWriteInput {
  /** 2 or 3 (default 3). */
  version?: number;
  /** Written in iteration order. `general.alignment` (a u32) sets the alignment; default 32. */
  metadata: ReadonlyMap<string, GgufValue>;
  /** Written in this order; offsets are assigned in this order. */
  tensors: readonly GgufWriteTensor[];
}

export interface GgufWriteOptions {
  /** Size of the chunks handed to the sink (default 1 MiB); tensor data of that size or more is passed as is. */
  chunkSize?: number;
}

/** Where everything lands in the file, known before a byte is written. */
export interface GgufLayout {
  alignment: number;
  /** Tensor infos with the offsets the writer assigns (relative to the data section). */
  tensors: GgufTensorInfo[];
  /** Bytes of the data section, including the padding after the last tensor. */
  dataSize: number;
}

/** Validates `input` and computes the tensor offsets: each tensor starts at the next multiple of the alignment. */
export function planGguf(input: GgufWriteInput): GgufLayout {
  validateVersion(input.version ?? 3);
  const alignment = validateMetadata(input.metadata);
  const lengths = validateTensors(input.tensors);
  let offset = 0;
  const tensors = input.tensors.map((t, i): GgufTensorInfo => {
    const byteLength = lengths[i]!; // one length per tensor
    const info = { name: t.name, dims: [...t.dims], type: t.type, offset, byteLength };
    offset = alignUp(offset + byteLength, alignment);
    return info;
  });
  return { alignment, tensors, dataSize: offset };
}

/**
 * Writes `input` as a GGUF file to `sink`. Input errors are found before the first chunk is written, except
 * a lazily produced tensor whose length is wrong, which fails when the writer reaches it (use
 * `writeGgufFile` for a file that is never left half-written). Returns the layout it wrote.
 */
export async function writeGguf(input: GgufWriteInput, sink: ChunkSink, options: GgufWriteOptions = {}): Promise<GgufLayout> {
  const layout = planGguf(input);
  const chunkSize = options.chunkSize ?? DEFAULT_WRITE_CHUNK_SIZE;
  const w = new ChunkWriter(sink, chunkSize);

  w.bytes(GGUF_MAGIC);
  w.u32(input.version ?? 3);
  w.u64(input.tensors.length);
  w.u64(input.metadata.size);
  for (const [key, entry] of input.metadata) {
    w.string(key);
    writeValue(w, entry);
    await w.drain();
  }
  for (const t of layout.tensors) {
    w.string(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(t.type);
    w.u64(t.offset);
  }
  // gguf-py pads the data section's start only when there is a data section; llama.cpp reads both forms.
  if (layout.tensors.length > 0) w.pad(layout.alignment);

  for (let i = 0; i < layout.tensors.length; i++) {
    const info = layout.tensors[i]!;
    const source = input.tensors[i]!.data;
    const data = typeof source === "function" ? await source() : source;
    if (!(data instanceof Uint8Array) || data.length !== info.byteLength) {
      throw new GgufError(
        "WRITE_INVALID",
        `tensor "${info.name}" data has ${data instanceof Uint8Array ? data.length : "no"} bytes, its type and shape need ${info.byteLength}`,
      );
    }
    // Small tensors are batched into chunks; large ones go to the sink without a copy.
    if (data.length >= chunkSize) await w.passThrough(data);
    else w.bytes(data);
    w.pad(layout.alignment);
    await w.drain();
  }
  await w.flush();
  return layout;
}

/** Collects the whole file in memory (for tests and small files). */
export async function writeGgufToBytes(input: GgufWriteInput, options: GgufWriteOptions = {}): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  await writeGguf(input, (c) => void chunks.push(c), options);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/**
 * The write input that reproduces a file that was read: same version, metadata and tensor order, with each
 * tensor's data read from `source` only when the writer reaches it.
 */
export function ggufInputFromSource(source: ByteSource, header: GgufHeader): GgufWriteInput {
  return {
    version: header.version,
    metadata: header.metadata,
    tensors: header.tensors.map((t) => ({
      name: t.name,
      dims: t.dims,
      type: t.type,
      data: () => readTensorData(source, header, t),
    })),
  };
}

function writeValue(w: ChunkWriter, entry: GgufValue): void {
  w.u32(entry.type);
  if (entry.type === GgufValueType.ARRAY) writeArray(w, entry.value);
  else writeScalar(w, entry.type, entry.value);
}

function writeScalar(w: ChunkWriter, type: GgufValueType, v: unknown): void {
  switch (type) {
    case GgufValueType.UINT8:
      return w.u8(v as number);
    case GgufValueType.INT8:
      return w.i8(v as number);
    case GgufValueType.UINT16:
      return w.u16(v as number);
    case GgufValueType.INT16:
      return w.i16(v as number);
    case GgufValueType.UINT32:
      return w.u32(v as number);
    case GgufValueType.INT32:
      return w.i32(v as number);
    case GgufValueType.FLOAT32:
      return w.f32(v as number);
    case GgufValueType.FLOAT64:
      return w.f64(v as number);
    case GgufValueType.UINT64:
      return w.u64Big(v as bigint);
    case GgufValueType.INT64:
      return w.i64Big(v as bigint);
    case GgufValueType.BOOL:
      return w.u8(v ? 1 : 0);
    case GgufValueType.STRING:
      return w.string(v as string);
    default:
      throw new Error(`unreachable value type ${type}`);
  }
}

function writeArray(w: ChunkWriter, arr: GgufArray): void {
  const { elementType, values } = arr;
  w.u32(elementType);
  w.u64(values.length);
  switch (elementType) {
    case GgufValueType.STRING:
      for (const s of values as string[]) w.string(s);
      return;
    case GgufValueType.BOOL:
      w.bytes(Uint8Array.from(values as boolean[], (b) => (b ? 1 : 0)));
      return;
    case GgufValueType.ARRAY:
      for (const a of values as GgufArray[]) writeArray(w, a);
      return;
    default:
      w.typedArray(values as Exclude<typeof values, string[] | boolean[] | GgufArray[]>);
  }
}
