// IEEE half (f16) and bfloat16 (bf16) <-> f32 conversion, bit-exact with ggml:
//  - f32 -> f16 rounds to nearest, ties to even, with gradual underflow to subnormals and overflow to inf
//    (what F16C's vcvtps2ph and ggml's portable fallback both do); NaN stays NaN with its sign, quiet bit set.
//  - f32 -> bf16 rounds to nearest even (no flush of subnormals); NaN becomes a quiet NaN (ggml sets bit 6).
//  - f16/bf16 -> f32 are exact.
// Values travel as raw bit patterns (numbers 0..0xffff) so that callers can write them with byte ops.

/** True on little-endian hosts (every platform we target); GGUF data is little-endian. */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// One shared scratch word for number <-> bits; no per-call allocation.
const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** Bits of `x` rounded to f32. */
export function f32ToBits(x: number): number {
  scratchF32[0] = x;
  return scratchU32[0]!;
}

/** The f32 whose bits are `u`. */
export function bitsToF32(u: number): number {
  scratchU32[0] = u;
  return scratchF32[0]!;
}

/** f32 bit pattern -> f16 bit pattern, round to nearest even. */
export function f32BitsToF16Bits(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) {
    // inf, or NaN: keep the top payload bits and force the quiet bit so it can never become inf.
    return mant === 0 ? sign | 0x7c00 : sign | 0x7e00 | (mant >>> 13);
  }
  if (exp >= 113) {
    // Normal range of f16 (unbiased exponent >= -14). Rounding may carry into the exponent, which is
    // exactly right: the largest mantissa rounds up to the next power of two, 65520 and above to inf.
    if (exp > 142) return sign | 0x7c00;
    let h = ((exp - 112) << 10) | (mant >>> 13);
    const rest = mant & 0x1fff;
    if (rest > 0x1000 || (rest === 0x1000 && (h & 1) !== 0)) h++;
    return sign | h;
  }
  // Subnormal f16: the value is m * 2^(exp-150) and the f16 unit is 2^-24, so the result is m >> (126-exp).
  const shift = 126 - exp;
  if (shift > 24) return sign; // below half of the smallest subnormal (f32 subnormals included): ±0
  const m = mant | 0x800000;
  let h = m >>> shift;
  const rest = m & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rest > half || (rest === half && (h & 1) !== 0)) h++; // may carry into the smallest normal: correct
  return sign | h;
}

/** f16 bit pattern -> f32 value (exact). */
export function f16BitsToF32(h: number): number {
  return f16Table()[h & 0xffff]!;
}

/** f32 value -> f16 bit pattern. */
export function f32ToF16Bits(x: number): number {
  return f32BitsToF16Bits(f32ToBits(x));
}

/** f32 bit pattern -> bf16 bit pattern, round to nearest even; NaN -> quiet NaN (as ggml_compute_fp32_to_bf16). */
export function f32BitsToBf16Bits(u: number): number {
  if ((u & 0x7fffffff) >>> 0 > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  // u + 0x7fff + lsb never leaves 2^32 for non-NaN inputs, and numbers hold it exactly anyway.
  return ((u >>> 0) + 0x7fff + ((u >>> 16) & 1)) >>> 16;
}

/** f32 value -> bf16 bit pattern. */
export function f32ToBf16Bits(x: number): number {
  return f32BitsToBf16Bits(f32ToBits(x));
}

/** bf16 bit pattern -> f32 value (exact: bf16 is the top half of an f32). */
export function bf16BitsToF32(h: number): number {
  return bitsToF32((h & 0xffff) << 16);
}

let table: Float32Array | undefined;

/**
 * All 65,536 f16 values as f32 (256 KiB, built on first use). Dequantizing through a table is the
 * fastest way in JS; llama.cpp keeps the same table (ggml_table_f32_f16).
 */
export function f16Table(): Float32Array {
  if (table) return table;
  const t = new Float32Array(65536);
  const bits = new Uint32Array(t.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0x1f && mant !== 0) {
      // NaN: written as bits so the sign and payload survive; widened mantissa, quiet bit set (as F16C).
      bits[h] = (((h & 0x8000) << 16) | 0x7fc00000 | (mant << 13)) >>> 0;
    } else if (exp === 0x1f) t[h] = sign * Infinity;
    else if (exp === 0) t[h] = sign * mant * 2 ** -24;
    else t[h] = sign * (1024 + mant) * 2 ** (exp - 25);
  }
  table = t;
  return t;
}

/** The bits of `src` (a view, no copy; Float32Array and Uint32Array share the host's byte order). */
export function f32Bits(src: Float32Array): Uint32Array {
  return new Uint32Array(src.buffer, src.byteOffset, src.length);
}

let tableBits: Uint32Array | undefined;

/** f16Table() as f32 bit patterns: copying bits keeps NaN payloads and skips float conversions. */
export function f16TableBits(): Uint32Array {
  return (tableBits ??= new Uint32Array(f16Table().buffer));
}

/** `x` rounded to the nearest f16 value (what storing it as f16 and reading it back gives). */
export function roundF16(x: number): number {
  return f16BitsToF32(f32ToF16Bits(x));
}
