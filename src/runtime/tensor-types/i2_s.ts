import { TensorTypeError } from "../errors.ts";
import { checkBytes, checkMultiple, checkRange, GgmlType, type TernaryTypeTraits } from "./traits.ts";

// bitnet.cpp's I2_S, x86 layout (QK_I2_S = 128). Over the flattened tensor, each 128-weight group takes
// 32 bytes: weight j of a group sits in byte j % 32 at bits 6 − 2·(j / 32) (weights 0–31 in bits 7:6).
// Codes 0/1/2 = −1/0/+1. One f32 scale for the whole tensor follows the weights at byte numel/4; the
// tensor is numel/4 + 32 bytes, the rest being zero padding.
//
// (bitnet.cpp's ARM build uses 64-weight groups of 16 bytes and its newer non-ACT_PARALLEL x86 build
// interleaves 4 rows per byte; files written by those builds differ and are not read here.)
const QK = 128;
const GROUP_BYTES = 32;
const NAME = "I2_S";

export const I2_S: TernaryTypeTraits = {
  id: GgmlType.I2_S,
  name: NAME,
  blockSize: QK,
  bytesPerBlock: GROUP_BYTES,
  ternary: true,
  byteLength: (elements) => elements / 4 + 32,
  quantize(src) {
    checkMultiple(NAME, src.length, QK);
    const dst = new Uint8Array(src.length / 4 + 32);
    quantizeInto(src, dst);
    return dst;
  },
  quantizeInto,
  dequantize(src, dst) {
    dequantizeRange(src, dst.length, 0, dst);
  },
  dequantizeRange,
  ternaryCodes(src, dst) {
    // Without dst the count comes from the size rule: numel = (bytes − 32)·4.
    const numel = dst ? dst.length : Math.max(0, (src.length - 32) * 4);
    const out = dst ?? new Int8Array(numel);
    checkMultiple(NAME, numel, QK);
    checkBytes(NAME, src.length, numel / 4);
    for (let g = 0; g < numel / QK; g++) {
      const p = g * GROUP_BYTES;
      const o = g * QK;
      for (let m = 0; m < 32; m++) {
        const q = src[p + m]!;
        out[o + m] = (q >> 6) - 1;
        out[o + 32 + m] = ((q >> 4) & 3) - 1;
        out[o + 64 + m] = ((q >> 2) & 3) - 1;
        out[o + 96 + m] = (q & 3) - 1;
      }
    }
    return out;
  },
};

/** Byte offset of the tensor scale in an I2_S tensor of `numel` elements. */
export function i2sScaleOffset(numel: number): number {
  return numel / 4;
}

/** The tensor scale of an I2_S tensor of `numel` elements (little-endian f32 at byte numel/4). */
export function i2sScale(src: Uint8Array, numel: number): number {
  const at = i2sScaleOffset(numel);
  checkBytes(NAME, src.length, at + 4);
  return new DataView(src.buffer, src.byteOffset + at, 4).getFloat32(0, true);
}

/**
 * As bitnet.cpp's quantize_i2_s (the x86 ACT_PARALLEL build): scale = max |w| over the whole tensor,
 * code = 0 (zero) where |w| < 1e-6, else the sign of w. This is a packer for weights that are already
 * ternary ({−s, 0, +s}, as BitNet's converter hands them over after absmean ternarization) and then it is
 * lossless; raw float weights lose everything but their signs. We follow bitnet.cpp rather than apply the
 * absmean rule ourselves so that the bytes we write equal bitnet.cpp's for the same input; use
 * `absmeanTernarize` first when starting from float weights.
 */
function quantizeInto(src: Float32Array, dst: Uint8Array): void {
  const n = src.length;
  checkMultiple(NAME, n, QK);
  checkBytes(NAME, dst.length, n / 4 + 32);
  let max = 0;
  for (let i = 0; i < n; i++) {
    const a = Math.abs(src[i]!);
    if (a > max) max = a; // fmax ignores NaN, and so does this
  }
  for (let g = 0; g < n / QK; g++) {
    const x = g * QK;
    const p = g * GROUP_BYTES;
    for (let m = 0; m < 32; m++) {
      dst[p + m] =
        (codeI2S(src[x + m]!, max) << 6) |
        (codeI2S(src[x + 32 + m]!, max) << 4) |
        (codeI2S(src[x + 64 + m]!, max) << 2) |
        codeI2S(src[x + 96 + m]!, max);
    }
  }
  dst.fill(0, n / 4, n / 4 + 32);
  new DataView(dst.buffer, dst.byteOffset + n / 4, 4).setFloat32(0, max, true);
}

function codeI2S(w: number, scale: number): number {
  if (Math.abs(w) < 1e-6) return 1;
  return w * scale > 0 ? 2 : 0; // bitnet.cpp's test, so NaN lands on code 0 there as here
}

function dequantizeRange(src: Uint8Array, numel: number, start: number, dst: Float32Array): void {
  checkRange(NAME, numel, start, dst.length, QK);
  const s = i2sScale(src, numel);
  for (let g = 0, groups = dst.length / QK; g < groups; g++) {
    const p = (start + g * QK) / 4;
    const o = g * QK;
    for (let m = 0; m < 32; m++) {
      const q = src[p + m]!;
      dst[o + m] = ((q >> 6) - 1) * s;
      dst[o + 32 + m] = (((q >> 4) & 3) - 1) * s;
      dst[o + 64 + m] = (((q >> 2) & 3) - 1) * s;
      dst[o + 96 + m] = ((q & 3) - 1) * s;
    }
  }
}

/**
 * BitNet b1.58's weight ternarization (absmean): s = max(mean |w|, 1e-5), w' = s·clamp(round(w/s), −1, 1).
 * Its output packs losslessly with I2_S (and with TQ1_0/TQ2_0 blocks whose absmax is s). Rounds half to
 * even, as torch.round does.
 */
export function absmeanTernarize(src: Float32Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  if (dst.length !== src.length) throw new TensorTypeError("BAD_LENGTH", "absmeanTernarize: dst length differs");
  let sum = 0;
  for (let i = 0; i < src.length; i++) sum += Math.abs(src[i]!);
  const s = Math.fround(Math.max(src.length ? sum / src.length : 0, 1e-5));
  for (let i = 0; i < src.length; i++) {
    const r = src[i]! / s;
    // |r| ≥ 1/2 rounds away from 0 except at exactly 1/2 (half to even gives 0); clamp to ±1.
    const t = r > 0.5 ? 1 : r < -0.5 ? -1 : 0;
    dst[i] = t * s;
  }
  return dst;
}
