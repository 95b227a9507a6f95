// Decoding of GGUF metadata values (scalars, strings, arrays of any depth) from a ChunkReader.
//
// Every length or count is checked against the bytes left in the file before anything is allocated or
// looped over, so a hostile length costs an error, not memory; nested arrays stop at MAX_ARRAY_DEPTH.
import { GgufError } from "../errors.ts";
import type { ChunkReader } from "./chunk-reader.ts";
import { fixedValueSize, HOST_IS_LITTLE_ENDIAN, isValueType, MAX_ARRAY_DEPTH, minValueSize, swapBytes, typedArrayClass } from "./format.ts";
import { type GgufArray, type GgufArrayValues, type GgufScalar, type GgufValue, GgufValueType } from "./types.ts";

/** Reads a u32 value type id and rejects ids outside 0..12. */
export async function readValueType(r: ChunkReader, field: string): Promise<GgufValueType> {
  await r.ensure(4, field);
  const at = r.pos;
  const id = r.u32();
  if (!isValueType(id)) throw new GgufError("BAD_VALUE_TYPE", `${field} has invalid value type id ${id}`, at);
  return id;
}

/** Reads a u64-length-prefixed string. */
export async function readString(r: ChunkReader, field: string): Promise<string> {
  await r.ensure(8, field);
  const at = r.pos;
  const len = r.u64();
  if (len > r.remaining()) {
    throw new GgufError("BAD_LENGTH", `${field}: string length ${len} runs past the end of the file`, at);
  }
  await r.ensure(len, field);
  return r.string(len);
}

/** Reads the value of a metadata entry whose type id has just been read. */
export async function readValue(r: ChunkReader, type: GgufValueType, field: string): Promise<GgufValue> {
  if (type === GgufValueType.ARRAY) return { type, value: await readArray(r, field, 1) };
  return { type, value: await readScalar(r, type, field) };
}

async function readScalar(r: ChunkReader, type: GgufValueType, field: string): Promise<GgufScalar> {
  if (type === GgufValueType.STRING) return readString(r, field);
  await r.ensure(fixedValueSize(type)!, field);
  switch (type) {
    case GgufValueType.UINT8:
      return r.u8();
    case GgufValueType.INT8:
      return r.i8();
    case GgufValueType.UINT16:
      return r.u16();
    case GgufValueType.INT16:
      return r.i16();
    case GgufValueType.UINT32:
      return r.u32();
    case GgufValueType.INT32:
      return r.i32();
    case GgufValueType.FLOAT32:
      return r.f32();
    case GgufValueType.FLOAT64:
      return r.f64();
    case GgufValueType.UINT64:
      return r.u64Big();
    case GgufValueType.INT64:
      return r.i64Big();
    case GgufValueType.BOOL: {
      const at = r.pos;
      return toBool(r.u8(), field, at);
    }
    default:
      throw new Error(`unreachable value type ${type}`);
  }
}

// A bool byte other than 0 or 1 is rejected rather than read as true, so that what we write back is what
// we read.
function toBool(byte: number, field: string, at: number): boolean {
  if (byte > 1) throw new GgufError("BAD_BOOL", `${field} has bool byte ${byte}, expected 0 or 1`, at);
  return byte === 1;
}

/** Reads an array body: u32 element type, u64 count, elements. `depth` is 1 for a top-level array. */
async function readArray(r: ChunkReader, field: string, depth: number): Promise<GgufArray> {
  if (depth > MAX_ARRAY_DEPTH) {
    throw new GgufError("NESTING_TOO_DEEP", `${field}: arrays nested deeper than ${MAX_ARRAY_DEPTH}`, r.pos);
  }
  const elementType = await readValueType(r, `${field} element type`);
  await r.ensure(8, field);
  const countAt = r.pos;
  const count = r.u64();
  if (count > r.remaining() / minValueSize(elementType)) {
    throw new GgufError("BAD_LENGTH", `${field}: array of ${count} elements runs past the end of the file (${r.remaining()} bytes left)`, countAt);
  }
  return { elementType, values: await readElements(r, elementType, count, field, depth) };
}

async function readElements(r: ChunkReader, type: GgufValueType, count: number, field: string, depth: number): Promise<GgufArrayValues> {
  switch (type) {
    case GgufValueType.STRING: {
      const out: string[] = new Array(count);
      for (let i = 0; i < count; i++) {
        // Inlined buffering checks: this loop runs once per vocabulary entry.
        if (r.buffered() < 8) await r.fill(8, `${field}[${i}]`);
        const at = r.pos;
        const len = r.u64();
        if (len > r.remaining()) {
          throw new GgufError("BAD_LENGTH", `${field}[${i}]: string length ${len} runs past the end of the file`, at);
        }
        if (r.buffered() < len) await r.fill(len, `${field}[${i}]`);
        out[i] = r.string(len);
      }
      return out;
    }
    case GgufValueType.ARRAY: {
      const out: GgufArray[] = new Array(count);
      for (let i = 0; i < count; i++) out[i] = await readArray(r, `${field}[${i}]`, depth + 1);
      return out;
    }
    case GgufValueType.BOOL: {
      const start = r.pos;
      const bytes = new Uint8Array(count);
      await r.copyInto(bytes, field);
      const out: boolean[] = new Array(count);
      for (let i = 0; i < count; i++) out[i] = toBool(bytes[i]!, `${field}[${i}]`, start + i);
      return out;
    }
    default:
      return readNumbers(r, type, count, field);
  }
}

// Numeric arrays are copied bytewise into a fresh typed array: exact bits (NaN payloads included) and no
// per-element work.
async function readNumbers(r: ChunkReader, type: GgufValueType, count: number, field: string): Promise<GgufArrayValues> {
  const Ctor = typedArrayClass(type)!;
  const out = new Ctor(count);
  const bytes = new Uint8Array(out.buffer);
  await r.copyInto(bytes, field);
  if (!HOST_IS_LITTLE_ENDIAN) swapBytes(bytes, Ctor.BYTES_PER_ELEMENT);
  return out;
}
