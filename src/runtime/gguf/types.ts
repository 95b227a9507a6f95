// The in-memory shape of a GGUF file's header: metadata with its exact value types (so that a file can be
// written back byte for byte) and tensor infos. Tensor data is never part of this: it is read by offset.

export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/**
 * A metadata value with its type. Scalars: number (u8..i32, f32, f64), bigint (u64, i64), boolean, string.
 * Arrays keep their element type; numeric arrays are typed arrays (a 128k-entry score list stays compact),
 * string arrays are string[], arrays of arrays are GgufArray[].
 */
export type GgufScalar = number | bigint | boolean | string;

export type GgufArrayValues =
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | Float32Array
  | Float64Array
  | BigUint64Array
  | BigInt64Array
  | boolean[]
  | string[]
  | GgufArray[];

export interface GgufArray {
  elementType: GgufValueType;
  values: GgufArrayValues;
}

export type GgufValue = { type: Exclude<GgufValueType, GgufValueType.ARRAY>; value: GgufScalar } | { type: GgufValueType.ARRAY; value: GgufArray };

export interface GgufTensorInfo {
  name: string;
  /** dims[0] is the row length (fastest-varying), as in ggml. */
  dims: number[];
  /** ggml type id. */
  type: number;
  /** Offset of the data from the start of the data section. */
  offset: number;
  /** Number of bytes the data occupies (computed from type traits and dims). */
  byteLength: number;
}

export interface GgufHeader {
  version: number;
  /** Insertion-ordered: the order of the file. */
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Absolute byte offset of the data section in the file. */
  dataOffset: number;
  /** Total file size in bytes. */
  fileSize: number;
}
