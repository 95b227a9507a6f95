// Where each field of a (well-formed) GGUF file lies, and small byte-level editors over it, so that the hostile
// corpus (./gguf-cases.ts) can set any one field to any value, the way an attacker edits a file: a count, a string
// or array length, a value type, a tensor's dims, type or offset. Also a synchronous metadata encoder, to rebuild
// a file with its metadata changed and its tensor infos and data kept byte for byte.
import { type GgufArray, type GgufValue, GgufValueType as T } from "../../src/runtime/gguf/types.ts";

export interface KvField {
  key: string;
  /** The u64 length of the key. */
  keyLengthAt: number;
  /** The u32 value type. */
  typeAt: number;
  type: T;
  /** The value: a scalar, a string's u64 length, or an array's u32 element type. */
  valueAt: number;
  /** Arrays: the u64 element count, and the element type. */
  countAt?: number;
  elementType?: T;
  /** Arrays of strings: the u64 length of the first element. */
  firstElementAt?: number;
}

export interface TensorField {
  name: string;
  nameLengthAt: number;
  nDimsAt: number;
  /** Each u64 dim. */
  dimsAt: number[];
  typeAt: number;
  offsetAt: number;
}

export interface GgufLayoutMap {
  versionAt: number;
  tensorCountAt: number;
  kvCountAt: number;
  kvs: KvField[];
  tensors: TensorField[];
  /** End of the tensor infos (start of the padding before the data). */
  infosEnd: number;
  alignment: number;
  dataOffset: number;
}

const FIXED: Partial<Record<T, number>> = {
  [T.UINT8]: 1,
  [T.INT8]: 1,
  [T.BOOL]: 1,
  [T.UINT16]: 2,
  [T.INT16]: 2,
  [T.UINT32]: 4,
  [T.INT32]: 4,
  [T.FLOAT32]: 4,
  [T.UINT64]: 8,
  [T.INT64]: 8,
  [T.FLOAT64]: 8,
};

/** Maps a well-formed GGUF file's fields (throws on a file it cannot walk: only good files are mapped). */
export function ggufLayout(bytes: Uint8Array): GgufLayoutMap {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder();
  let at = 8;
  const u32 = () => {
    const v = view.getUint32(at, true);
    at += 4;
    return v;
  };
  const u64 = () => {
    const v = Number(view.getBigUint64(at, true));
    at += 8;
    return v;
  };
  const str = () => {
    const n = u64();
    const s = decoder.decode(bytes.subarray(at, at + n));
    at += n;
    return s;
  };
  const skipValue = (type: T): void => {
    if (type === T.STRING) {
      const length = u64();
      at += length;
    } else if (type === T.ARRAY) {
      const elementType = u32() as T;
      const count = u64();
      for (let i = 0; i < count; i++) skipValue(elementType);
    } else at += FIXED[type]!;
  };
  const tensorCountAt = at;
  const tensorCount = u64();
  const kvCountAt = at;
  const kvCount = u64();
  const kvs: KvField[] = [];
  let alignment = 32;
  for (let i = 0; i < kvCount; i++) {
    const keyLengthAt = at;
    const key = str();
    const typeAt = at;
    const type = u32() as T;
    const valueAt = at;
    const field: KvField = { key, keyLengthAt, typeAt, type, valueAt };
    if (type === T.ARRAY) {
      field.elementType = view.getUint32(at, true) as T;
      field.countAt = at + 4;
      if (field.elementType === T.STRING) field.firstElementAt = at + 12;
    }
    if (key === "general.alignment") alignment = view.getUint32(at, true);
    skipValue(type);
    kvs.push(field);
  }
  const tensors: TensorField[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const nameLengthAt = at;
    const name = str();
    const nDimsAt = at;
    const nDims = u32();
    const dimsAt: number[] = [];
    for (let d = 0; d < nDims; d++) {
      dimsAt.push(at);
      at += 8;
    }
    const typeAt = at;
    at += 4;
    const offsetAt = at;
    at += 8;
    tensors.push({ name, nameLengthAt, nDimsAt, dimsAt, typeAt, offsetAt });
  }
  const infosEnd = at;
  const dataOffset = Math.ceil(infosEnd / alignment) * alignment;
  return { versionAt: 4, tensorCountAt, kvCountAt, kvs, tensors, infosEnd, alignment, dataOffset };
}

/** A copy of `bytes` with `edit` applied to it. */
export function edited(bytes: Uint8Array, edit: (view: DataView, copy: Uint8Array) => void): Uint8Array {
  const copy = bytes.slice();
  edit(new DataView(copy.buffer), copy);
  return copy;
}

export const setU32 = (bytes: Uint8Array, at: number, value: number) => edited(bytes, (v) => v.setUint32(at, value >>> 0, true));
export const setU64 = (bytes: Uint8Array, at: number, value: bigint) => edited(bytes, (v) => v.setBigUint64(at, BigInt.asUintN(64, value), true));
export const setF32 = (bytes: Uint8Array, at: number, value: number) => edited(bytes, (v) => v.setFloat32(at, value, true));

// ── metadata encoding (the GGUF writer's, synchronous) ─────────────────────────────────────────────────────────

const utf8 = new TextEncoder();

class ByteBuilder {
  private parts: Uint8Array[] = [];
  length = 0;
  push(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.length;
  }
  fixed(n: number, write: (v: DataView) => void): void {
    const b = new Uint8Array(n);
    write(new DataView(b.buffer));
    this.push(b);
  }
  u32(x: number): void {
    this.fixed(4, (v) => v.setUint32(0, x >>> 0, true));
  }
  u64(x: number | bigint): void {
    this.fixed(8, (v) => v.setBigUint64(0, BigInt.asUintN(64, BigInt(x)), true));
  }
  string(s: string): void {
    const b = utf8.encode(s);
    this.u64(b.length);
    this.push(b);
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

function encodeScalar(w: ByteBuilder, type: T, value: unknown): void {
  switch (type) {
    case T.UINT8:
      return w.fixed(1, (v) => v.setUint8(0, value as number));
    case T.INT8:
      return w.fixed(1, (v) => v.setInt8(0, value as number));
    case T.BOOL:
      return w.fixed(1, (v) => v.setUint8(0, value ? 1 : 0));
    case T.UINT16:
      return w.fixed(2, (v) => v.setUint16(0, value as number, true));
    case T.INT16:
      return w.fixed(2, (v) => v.setInt16(0, value as number, true));
    case T.UINT32:
      return w.u32(value as number);
    case T.INT32:
      return w.fixed(4, (v) => v.setInt32(0, value as number, true));
    case T.FLOAT32:
      return w.fixed(4, (v) => v.setFloat32(0, value as number, true));
    case T.UINT64:
      return w.fixed(8, (v) => v.setBigUint64(0, BigInt(value as bigint | number), true));
    case T.INT64:
      return w.fixed(8, (v) => v.setBigInt64(0, BigInt(value as bigint | number), true));
    case T.FLOAT64:
      return w.fixed(8, (v) => v.setFloat64(0, value as number, true));
    case T.STRING:
      return w.string(value as string);
    default:
      throw new Error(`cannot encode value type ${type}`);
  }
}

function encodeArray(w: ByteBuilder, a: GgufArray): void {
  w.u32(a.elementType);
  const values = a.values as ArrayLike<unknown>;
  w.u64(values.length);
  for (let i = 0; i < values.length; i++) {
    if (a.elementType === T.ARRAY) encodeArray(w, values[i] as GgufArray);
    else encodeScalar(w, a.elementType, values[i]);
  }
}

/**
 * `bytes` (a well-formed GGUF) with its metadata replaced by `metadata`: the tensor infos and the data section are
 * kept byte for byte (tensor offsets are relative to the data section, which is re-aligned to `alignment`).
 */
export function withMetadata(bytes: Uint8Array, metadata: ReadonlyMap<string, GgufValue>, alignment = 32): Uint8Array {
  const layout = ggufLayout(bytes);
  const w = new ByteBuilder();
  w.push(bytes.subarray(0, layout.kvCountAt));
  w.u64(metadata.size);
  for (const [key, entry] of metadata) {
    w.string(key);
    w.u32(entry.type);
    if (entry.type === T.ARRAY) encodeArray(w, entry.value as GgufArray);
    else encodeScalar(w, entry.type, entry.value);
  }
  const infosStart = layout.tensors[0]?.nameLengthAt ?? layout.infosEnd;
  w.push(bytes.subarray(infosStart, layout.infosEnd));
  w.push(new Uint8Array((alignment - (w.length % alignment)) % alignment));
  w.push(bytes.subarray(layout.dataOffset));
  return w.bytes();
}
