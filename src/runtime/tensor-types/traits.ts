// The traits every tensor type has (ggml's type_traits): block geometry and the conversions to and from f32.
export enum GgmlType {
  F32 = 0,
  F16 = 1,
  Q8_0 = 8,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
  I2_S = 36,
}

export interface TensorTypeTraits {
  id: GgmlType;
  name: string;
  /** Elements per block along the row (dims[0]); a row length must be a multiple of it. */
  blockSize: number;
  /** Bytes per block. For I2_S (one scale for the whole tensor) this is the bytes of one 128-weight group. */
  bytesPerBlock: number;
  /** Ternary weights ({-1, 0, +1} times a scale). */
  ternary: boolean;
  /** Bytes of a whole tensor with `elements` elements (already checked to fit the block size). */
  byteLength(elements: number): number;
  /** Packs `src.length` f32 values (a multiple of blockSize, or the whole tensor for I2_S). */
  quantize(src: Float32Array): Uint8Array;
  /** Unpacks `count` values from `src` into `dst` (whole tensor for I2_S). */
  dequantize(src: Uint8Array, dst: Float32Array): void;
}
