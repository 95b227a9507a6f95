// Constants and small rules of the GGUF container that the reader and the writer must agree on.
import { GgufValueType } from "./types.ts";

/** "GGUF" as it appears in the first four bytes of the file. */
export const GGUF_MAGIC = new Uint8Array([0x47, 0x47, 0x55, 0x46]);

/** v1 used u32 counts and is long gone; v2 and v3 share the same layout (v3 only added big-endian files). */
export const SUPPORTED_VERSIONS: readonly number[] = [2, 3];

export const ALIGNMENT_KEY = "general.alignment";
export const DEFAULT_ALIGNMENT = 32;

/** ggml's GGML_MAX_DIMS. */
export const MAX_DIMS = 4;

/** ggml's GGML_MAX_NAME: llama.cpp rejects tensor names of this many bytes or more. */
export const MAX_TENSOR_NAME_BYTES = 64;

/**
 * Arrays of arrays are legal GGUF but nothing real uses more than one level; a limit keeps a hostile file
 * from driving deep recursion.
 */
export const MAX_ARRAY_DEPTH = 8;

/** Byte size of each fixed-size value type; strings and arrays are variable. */
const FIXED_SIZE: ReadonlyMap<GgufValueType, number> = new Map([
  [GgufValueType.UINT8, 1],
  [GgufValueType.INT8, 1],
  [GgufValueType.UINT16, 2],
  [GgufValueType.INT16, 2],
  [GgufValueType.UINT32, 4],
  [GgufValueType.INT32, 4],
  [GgufValueType.FLOAT32, 4],
  [GgufValueType.BOOL, 1],
  [GgufValueType.UINT64, 8],
  [GgufValueType.INT64, 8],
  [GgufValueType.FLOAT64, 8],
]);

export function fixedValueSize(type: GgufValueType): number | undefined {
  return FIXED_SIZE.get(type);
}

export function isValueType(id: number): id is GgufValueType {
  return Number.isInteger(id) && id >= GgufValueType.UINT8 && id <= GgufValueType.FLOAT64;
}

/**
 * The fewest bytes one element of an array of this type can occupy. Checking `count × minimum` against the
 * bytes left in the file bounds every allocation and every loop by the file size.
 */
export function minValueSize(type: GgufValueType): number {
  if (type === GgufValueType.STRING) return 8; // u64 length
  if (type === GgufValueType.ARRAY) return 12; // u32 element type + u64 count
  return FIXED_SIZE.get(type)!;
}

export function isValidAlignment(a: number): boolean {
  return Number.isInteger(a) && a > 0 && a <= 0x8000_0000 && (a & (a - 1)) === 0;
}

export function alignUp(x: number, alignment: number): number {
  const rem = x % alignment;
  return rem === 0 ? x : x + (alignment - rem);
}

/** JS engines in the wild are little-endian; typed-array copies are only byte-swapped on a big-endian host. */
export const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reverses each `width`-byte element in place (used only on big-endian hosts). */
export function swapBytes(bytes: Uint8Array, width: number): void {
  if (width === 1) return;
  for (let i = 0; i + width <= bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}

export const VALUE_TYPE_NAMES: Record<GgufValueType, string> = {
  [GgufValueType.UINT8]: "u8",
  [GgufValueType.INT8]: "i8",
  [GgufValueType.UINT16]: "u16",
  [GgufValueType.INT16]: "i16",
  [GgufValueType.UINT32]: "u32",
  [GgufValueType.INT32]: "i32",
  [GgufValueType.FLOAT32]: "f32",
  [GgufValueType.BOOL]: "bool",
  [GgufValueType.STRING]: "string",
  [GgufValueType.ARRAY]: "array",
  [GgufValueType.UINT64]: "u64",
  [GgufValueType.INT64]: "i64",
  [GgufValueType.FLOAT64]: "f64",
};

const TYPED_ARRAY = {
  [GgufValueType.UINT8]: Uint8Array,
  [GgufValueType.INT8]: Int8Array,
  [GgufValueType.UINT16]: Uint16Array,
  [GgufValueType.INT16]: Int16Array,
  [GgufValueType.UINT32]: Uint32Array,
  [GgufValueType.INT32]: Int32Array,
  [GgufValueType.FLOAT32]: Float32Array,
  [GgufValueType.FLOAT64]: Float64Array,
  [GgufValueType.UINT64]: BigUint64Array,
  [GgufValueType.INT64]: BigInt64Array,
} as const;

export type NumericValueType = keyof typeof TYPED_ARRAY;

/** The typed-array class that holds an array of `type`, or undefined for bool, string and array. */
export function typedArrayClass(type: GgufValueType) {
  return (TYPED_ARRAY as Partial<Record<GgufValueType, (typeof TYPED_ARRAY)[NumericValueType]>>)[type];
}
