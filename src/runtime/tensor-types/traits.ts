// The traits every tensor type has (ggml's type_traits): block geometry and the conversions to and from f32.
import { TensorTypeError } from "../errors.ts";

export enum GgmlType {
  F32 = 0,
  F16 = 1,
  Q8_0 = 8,
  I8 = 24,
  I16 = 25,
  I32 = 26,
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
  /** Byte offset of the block's f16 scale d inside a block, for types with one f16 scale per block (Q8_0 first,
   *  TQ1_0/TQ2_0 last); undefined for the others. Backends that keep scales apart from the codes read it here. */
  blockScaleByte?: number;
  /** Ternary weights ({-1, 0, +1} times a scale). */
  ternary: boolean;
  /** A plain integer type (I8, I16, I32: ./integer.ts): side arrays of a matrix, never a matrix of its own. */
  integer?: true;
  /** Bytes of a whole tensor with `elements` elements (already checked to fit the block size). */
  byteLength(elements: number): number;
  /** Packs `src.length` f32 values (a multiple of blockSize, or the whole tensor for I2_S). */
  quantize(src: Float32Array): Uint8Array;
  /** Like `quantize`, into `dst` (at least `byteLength(src.length)` bytes; those bytes are all written). */
  quantizeInto(src: Float32Array, dst: Uint8Array): void;
  /**
   * Unpacks `dst.length` values (a multiple of blockSize) from `src` into `dst`. For I2_S `src` is the whole
   * tensor and `dst.length` its element count, because the scale sits after the last weight.
   */
  dequantize(src: Uint8Array, dst: Float32Array): void;
  /**
   * Unpacks elements [start, start + dst.length) of a whole tensor of `numel` elements held in `src` (start
   * and dst.length multiples of blockSize). Works for every type, I2_S included, so a row of a large tensor
   * (a token embedding, a slice of rows) never needs the whole tensor in f32.
   */
  dequantizeRange(src: Uint8Array, numel: number, start: number, dst: Float32Array): void;
  /**
   * Ternary types only: the code of every element as code − 1, i.e. −1/0/+1 (2 for the unused code 3,
   * which llama.cpp would dequantize to 2·d). The count is dst.length when given, else all of `src`.
   * Scale-free, so zeros of a block whose scale is 0 still count as codes.
   */
  ternaryCodes?(src: Uint8Array, dst?: Int8Array): Int8Array;
}

/** Traits of a ternary type (TQ1_0, TQ2_0, I2_S): `ternaryCodes` is always there. */
export interface TernaryTypeTraits extends TensorTypeTraits {
  ternary: true;
  ternaryCodes(src: Uint8Array, dst?: Int8Array): Int8Array;
}

export function isTernaryTraits(t: TensorTypeTraits): t is TernaryTypeTraits {
  return t.ternary && typeof t.ternaryCodes === "function";
}

// ---- Shared argument checks (internal to the tensor-type files). ----

export function checkMultiple(name: string, count: number, blockSize: number): void {
  if (!Number.isInteger(count) || count < 0 || count % blockSize !== 0) {
    throw new TensorTypeError("BAD_TENSOR_SHAPE", `${name} needs a multiple of ${blockSize} elements, got ${count}`);
  }
}

export function checkBytes(name: string, have: number, need: number): void {
  if (have < need) {
    throw new TensorTypeError("BAD_LENGTH", `${name} needs ${need} bytes, got ${have}`);
  }
}

export function checkRange(name: string, numel: number, start: number, count: number, blockSize: number): void {
  checkMultiple(name, numel, blockSize);
  checkMultiple(name, start, blockSize);
  checkMultiple(name, count, blockSize);
  if (start + count > numel) {
    throw new TensorTypeError("BAD_LENGTH", `${name}: elements [${start}, ${start + count}) lie outside a tensor of ${numel}`);
  }
}

/**
 * Builds quantize/dequantize/dequantizeRange for a type whose blocks stand alone (all but I2_S) from two
 * kernels that work on whole blocks: `pack(src, srcStart, dst, dstByte, blocks)` and
 * `unpack(src, srcByte, dst, dstStart, blocks)`.
 */
export function blockwise(
  name: string,
  blockSize: number,
  bytesPerBlock: number,
  pack: (src: Float32Array, dst: Uint8Array, blocks: number) => void,
  unpack: (src: Uint8Array, srcByte: number, dst: Float32Array, blocks: number) => void,
): Pick<TensorTypeTraits, "quantize" | "quantizeInto" | "dequantize" | "dequantizeRange"> {
  const quantizeInto = (src: Float32Array, dst: Uint8Array): void => {
    checkMultiple(name, src.length, blockSize);
    const blocks = src.length / blockSize;
    checkBytes(name, dst.length, blocks * bytesPerBlock);
    pack(src, dst, blocks);
  };
  return {
    quantizeInto,
    quantize(src) {
      checkMultiple(name, src.length, blockSize);
      const dst = new Uint8Array((src.length / blockSize) * bytesPerBlock);
      quantizeInto(src, dst);
      return dst;
    },
    dequantize(src, dst) {
      checkMultiple(name, dst.length, blockSize);
      const blocks = dst.length / blockSize;
      checkBytes(name, src.length, blocks * bytesPerBlock);
      unpack(src, 0, dst, blocks);
    },
    dequantizeRange(src, numel, start, dst) {
      checkRange(name, numel, start, dst.length, blockSize);
      const firstByte = (start / blockSize) * bytesPerBlock;
      const blocks = dst.length / blockSize;
      checkBytes(name, src.length, firstByte + blocks * bytesPerBlock);
      unpack(src, firstByte, dst, blocks);
    },
  };
}

/** ternaryCodes for a block type, from a kernel that writes the codes (0..3) of whole blocks. */
export function blockwiseCodes(
  name: string,
  blockSize: number,
  bytesPerBlock: number,
  codes: (src: Uint8Array, dst: Int8Array, blocks: number) => void,
): (src: Uint8Array, dst?: Int8Array) => Int8Array {
  return (src, dst) => {
    const out = dst ?? new Int8Array(Math.floor(src.length / bytesPerBlock) * blockSize);
    checkMultiple(name, out.length, blockSize);
    const blocks = out.length / blockSize;
    checkBytes(name, src.length, blocks * bytesPerBlock);
    codes(src, out, blocks);
    return out;
  };
}

/** C's lroundf/roundf: round half away from zero (Math.round rounds half up, which differs below zero). */
export function roundHalfAway(x: number): number {
  return x >= 0 ? Math.floor(x + 0.5) : -Math.floor(0.5 - x);
}
