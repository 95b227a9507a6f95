// GGUF v2/v3 reader: parses the header (metadata and tensor infos) through bounded chunk reads, checks
// the tensor data layout against the file, and reads one tensor's bytes by offset on demand. The whole file
// is never held in memory.
//
// Every malformed input ends in a GgufError whose message names the field and whose `offset` is the byte
// offset of the offending field.
import { GgufError, TensorTypeError } from "../errors.ts";
import { quoted } from "../quoted.ts";
import { isKnownTensorType, tensorByteLength, tensorTypeName } from "../tensor-types/table.ts";
import { ChunkReader, DEFAULT_CHUNK_SIZE } from "./chunk-reader.ts";
import { ALIGNMENT_KEY, alignUp, DEFAULT_ALIGNMENT, GGUF_MAGIC, isValidAlignment, MAX_DIMS, SUPPORTED_VERSIONS } from "./format.ts";
import { readString, readValue, readValueType } from "./read-values.ts";
import type { ByteSource } from "./source.ts";
import { type GgufHeader, type GgufTensorInfo, type GgufValue, GgufValueType } from "./types.ts";

export interface ReadGgufOptions {
  /** Bytes pulled from the source per read while parsing the header (default 1 MiB). */
  chunkSize?: number;
}

// The fewest bytes a metadata entry (key length, type, a one-byte value) and a tensor info (name length,
// n_dims, one dim, type, offset) occupy: a declared count that cannot fit in the file is rejected upfront.
const MIN_KV_BYTES = 8 + 4 + 1;
const MIN_TENSOR_INFO_BYTES = 8 + 4 + 8 + 4 + 8;

/** Parses the header of a GGUF file and validates where its tensor data lies. */
export async function readGgufHeader(source: ByteSource, options: ReadGgufOptions = {}): Promise<GgufHeader> {
  const r = new ChunkReader(source, options.chunkSize ?? DEFAULT_CHUNK_SIZE);
  const version = await readPreamble(r);

  await r.ensure(16, "header counts");
  const tensorCountAt = r.pos;
  const tensorCount = r.u64();
  const kvCountAt = r.pos;
  const kvCount = r.u64();
  // Checked against the bytes left before anything loops over them or allocates for them.
  checkCount(kvCount, MIN_KV_BYTES, r.remaining(), "metadata entry count", kvCountAt);
  checkCount(tensorCount, MIN_TENSOR_INFO_BYTES, r.remaining(), "tensor count", tensorCountAt);

  const { metadata, alignmentAt } = await readMetadata(r, kvCount);
  const alignment = alignmentOf(metadata, alignmentAt);
  const { tensors, offsetFieldAt } = await readTensorInfos(r, tensorCount);

  const dataOffset = alignUp(r.pos, alignment);
  const header: GgufHeader = { version, metadata, tensors, alignment, dataOffset, fileSize: source.size };
  checkDataLayout(header, offsetFieldAt);
  return header;
}

/** Reads the bytes of one tensor (a view or a fresh array, per the source; copy before mutating). */
export async function readTensorData(source: ByteSource, header: GgufHeader, tensor: GgufTensorInfo): Promise<Uint8Array> {
  const start = header.dataOffset + tensor.offset;
  if (start + tensor.byteLength > source.size) {
    throw new GgufError(
      "TENSOR_OUT_OF_FILE",
      `tensor ${quoted(tensor.name)} data [${start}, ${start + tensor.byteLength}) lies past the end of the source (${source.size} bytes)`,
      start,
    );
  }
  const bytes = await source.read(start, tensor.byteLength);
  if (bytes.length !== tensor.byteLength) {
    throw new GgufError("TRUNCATED", `tensor ${quoted(tensor.name)}: source returned ${bytes.length} of ${tensor.byteLength} bytes`, start);
  }
  return bytes;
}

async function readPreamble(r: ChunkReader): Promise<number> {
  const n = Math.min(4, r.size);
  await r.ensure(n, "magic");
  const head = r.bytes(n);
  if (head.some((b, i) => b !== GGUF_MAGIC[i])) {
    const shown = Array.from(head, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : "?")).join("");
    throw new GgufError("BAD_MAGIC", `not a GGUF file: magic is "${shown}", expected "GGUF"`, 0);
  }
  if (n < 4) throw new GgufError("TRUNCATED", `file ends inside the magic (${r.size} bytes)`, 0);
  await r.ensure(4, "version");
  const version = r.u32();
  if (!SUPPORTED_VERSIONS.includes(version)) {
    // A big-endian v3 file reads as 0x03000000 here: say so instead of a bare number.
    const hint = version !== 0 && (version & 0xffff) === 0 ? " (a big-endian file? only little-endian is supported)" : "";
    throw new GgufError("UNSUPPORTED_VERSION", `GGUF version ${version} is not supported, only 2 and 3${hint}`, 4);
  }
  return version;
}

function checkCount(count: number, minBytes: number, remaining: number, field: string, at: number): void {
  if (count > remaining / minBytes) {
    throw new GgufError("BAD_LENGTH", `${field} ${count} cannot fit in the ${remaining} bytes left in the file`, at);
  }
}

async function readMetadata(r: ChunkReader, count: number): Promise<{ metadata: Map<string, GgufValue>; alignmentAt: number }> {
  const metadata = new Map<string, GgufValue>();
  let alignmentAt = -1;
  for (let i = 0; i < count; i++) {
    const keyAt = r.pos;
    const key = await readString(r, `metadata key #${i}`);
    if (metadata.has(key)) throw new GgufError("DUPLICATE_KEY", `duplicate metadata key ${quoted(key)}`, keyAt);
    const field = `metadata ${quoted(key)}`;
    const type = await readValueType(r, field);
    if (key === ALIGNMENT_KEY) alignmentAt = r.pos;
    metadata.set(key, await readValue(r, type, field));
  }
  return { metadata, alignmentAt };
}

/** general.alignment must be a u32 power of two, as llama.cpp requires. */
function alignmentOf(metadata: Map<string, GgufValue>, at: number): number {
  const entry = metadata.get(ALIGNMENT_KEY);
  if (entry === undefined) return DEFAULT_ALIGNMENT;
  if (entry.type !== GgufValueType.UINT32) {
    throw new GgufError("BAD_ALIGNMENT", `${ALIGNMENT_KEY} must be a u32, got value type ${entry.type}`, at);
  }
  const a = entry.value as number;
  if (!isValidAlignment(a)) {
    throw new GgufError("BAD_ALIGNMENT", `${ALIGNMENT_KEY} is ${a}, expected a nonzero power of two`, at);
  }
  return a;
}

async function readTensorInfos(r: ChunkReader, count: number): Promise<{ tensors: GgufTensorInfo[]; offsetFieldAt: number[] }> {
  const tensors: GgufTensorInfo[] = [];
  const offsetFieldAt: number[] = [];
  const names = new Set<string>();
  for (let i = 0; i < count; i++) {
    const nameAt = r.pos;
    const name = await readString(r, `tensor info #${i} name`);
    if (names.has(name)) throw new GgufError("DUPLICATE_TENSOR", `duplicate tensor name ${quoted(name)}`, nameAt);
    names.add(name);
    const field = `tensor ${quoted(name)}`;

    await r.ensure(4, `${field} n_dims`);
    const nDimsAt = r.pos;
    const nDims = r.u32();
    // ggml writes at least one dimension; 0 would leave dims[0] (the row length) undefined downstream.
    if (nDims < 1 || nDims > MAX_DIMS) {
      throw new GgufError("BAD_DIMS", `${field} has n_dims ${nDims}, expected 1..${MAX_DIMS}`, nDimsAt);
    }
    const dims = await readDims(r, nDims, field);

    await r.ensure(4 + 8, `${field} type and offset`);
    const typeAt = r.pos;
    const type = r.u32();
    if (!isKnownTensorType(type)) {
      throw new GgufError("UNKNOWN_TENSOR_TYPE", `${field} has unknown or unsupported tensor type id ${type}`, typeAt);
    }
    const byteLength = byteLengthOf(type, dims, field, typeAt);
    offsetFieldAt.push(r.pos);
    const offset = r.u64();
    tensors.push({ name, dims, type, offset, byteLength });
  }
  return { tensors, offsetFieldAt };
}

async function readDims(r: ChunkReader, nDims: number, field: string): Promise<number[]> {
  await r.ensure(8 * nDims, `${field} dims`);
  const dims: number[] = [];
  let elements = 1;
  for (let d = 0; d < nDims; d++) {
    const at = r.pos;
    const n = r.u64();
    if (n === 0) throw new GgufError("BAD_DIMS", `${field} dims[${d}] is 0`, at);
    elements *= n;
    // Element counts are used as JS numbers everywhere: the product must stay exact.
    if (!Number.isSafeInteger(elements)) {
      throw new GgufError("DIM_OVERFLOW", `${field} dims[${d}] = ${n} makes the element count exceed 2^53`, at);
    }
    dims.push(n);
  }
  return dims;
}

function byteLengthOf(type: number, dims: number[], field: string, at: number): number {
  try {
    return tensorByteLength(type, dims);
  } catch (e) {
    if (!(e instanceof TensorTypeError)) throw e;
    throw new GgufError("BAD_TENSOR_SHAPE", `${field} of type ${tensorTypeName(type)} and shape [${dims.join(", ")}]: ${e.message}`, at);
  }
}

/** Every tensor must be aligned, inside the file, and disjoint from every other. */
function checkDataLayout(header: GgufHeader, offsetFieldAt: number[]): void {
  const { tensors, alignment, dataOffset, fileSize } = header;
  const dataSize = fileSize - dataOffset;
  tensors.forEach((t, i) => {
    if (t.offset % alignment !== 0) {
      throw new GgufError(
        "MISALIGNED_TENSOR",
        `tensor ${quoted(t.name)} offset ${t.offset} is not a multiple of the alignment ${alignment}`,
        offsetFieldAt[i],
      );
    }
    if (dataSize < 0 || t.offset > dataSize || t.byteLength > dataSize - t.offset) {
      throw new GgufError(
        "TENSOR_OUT_OF_FILE",
        `tensor ${quoted(t.name)} data [${t.offset}, ${t.offset + t.byteLength}) lies outside the data section (${Math.max(dataSize, 0)} bytes from byte ${dataOffset})`,
        offsetFieldAt[i],
      );
    }
  });
  const order = tensors.map((_, i) => i).sort((a, b) => tensors[a]!.offset - tensors[b]!.offset);
  for (let k = 1; k < order.length; k++) {
    const prev = tensors[order[k - 1]!]!;
    const cur = tensors[order[k]!]!;
    if (cur.offset < prev.offset + prev.byteLength) {
      throw new GgufError(
        "OVERLAPPING_TENSORS",
        `tensor ${quoted(cur.name)} at data offset ${cur.offset} overlaps ${quoted(prev.name)} [${prev.offset}, ${prev.offset + prev.byteLength})`,
        offsetFieldAt[order[k]!],
      );
    }
  }
}
