// f16 / bf16 <-> f32, checked exhaustively over all 65,536 bit patterns against a plain conversion written
// here from the IEEE definitions (no bit tricks shared with src/).
import { describe, expect, it } from "vitest";
import { bf16BitsToF32, f16BitsToF32, f32BitsToBf16Bits, f32BitsToF16Bits, f32ToBf16Bits, f32ToF16Bits } from "../src/runtime/tensor-types/half.ts";
import { BF16 } from "../src/runtime/tensor-types/bf16.ts";
import { F16 } from "../src/runtime/tensor-types/f16.ts";

// ---- Independent reference ----

/** Value of an f16 pattern: (-1)^s · 2^(e−15) · 1.m, subnormals 2^−14 · 0.m. NaN for e = 31, m ≠ 0. */
function refF16(h: number): number {
  const s = h >= 0x8000 ? -1 : 1;
  const e = Math.floor(h / 1024) % 32;
  const m = h % 1024;
  if (e === 31) return m === 0 ? s * Infinity : NaN;
  if (e === 0) return s * 2 ** -14 * (m / 1024);
  return s * 2 ** (e - 15) * (1 + m / 1024);
}

/** Value of a bf16 pattern: 8 exponent bits (bias 127), 7 mantissa bits. */
function refBf16(h: number): number {
  const s = h >= 0x8000 ? -1 : 1;
  const e = Math.floor(h / 128) % 256;
  const m = h % 128;
  if (e === 255) return m === 0 ? s * Infinity : NaN;
  if (e === 0) return s * 2 ** -126 * (m / 128);
  return s * 2 ** (e - 127) * (1 + m / 128);
}

/**
 * Nearest pattern to |x| among the positive patterns 0..top (monotonic in value), ties to the even
 * pattern; `top` (inf) counts as the next power of two, so overflow rounds exactly as IEEE says.
 */
function refEncode(x: number, value: (h: number) => number, top: number, topValue: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  const v = (h: number) => (h === top ? topValue : value(h));
  if (a >= topValue) return sign | top;
  let lo = 0;
  let hi = top; // v(lo) <= a < v(hi)
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (v(mid) <= a) lo = mid;
    else hi = mid;
  }
  const dlo = a - v(lo);
  const dhi = v(hi) - a;
  const h = dlo < dhi ? lo : dhi < dlo ? hi : lo % 2 === 0 ? lo : hi;
  return sign | h;
}
const refF32ToF16 = (x: number) => refEncode(x, refF16, 0x7c00, 65536);
const refF32ToBf16 = (x: number) => refEncode(x, refBf16, 0x7f80, 2 ** 128);

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const fromBits = (u: number) => ((u32[0] = u), f32[0]!);

function* mulberry32(seed: number): Generator<number> {
  let a = seed >>> 0;
  for (;;) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    yield ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

function allPatternBytes(): Uint8Array {
  const bytes = new Uint8Array(65536 * 2);
  for (let h = 0; h < 65536; h++) {
    bytes[2 * h] = h & 0xff;
    bytes[2 * h + 1] = h >> 8;
  }
  return bytes;
}

function same(a: number, b: number): boolean {
  return Number.isNaN(a) ? Number.isNaN(b) : Object.is(a, b);
}

describe("f16", () => {
  it("decodes all 65,536 patterns like the IEEE definition (scalar and F16.dequantize)", () => {
    const out = new Float32Array(65536);
    F16.dequantize(allPatternBytes(), out);
    let bad = 0;
    for (let h = 0; h < 65536; h++) {
      const want = refF16(h);
      if (!same(out[h]!, want) || !same(f16BitsToF32(h), want)) bad++;
    }
    expect(bad).toBe(0);
  });

  it("NaN patterns decode to NaN with their sign", () => {
    const out = new Float32Array(65536);
    F16.dequantize(allPatternBytes(), out);
    const bits = new Uint32Array(out.buffer);
    for (const h of [0x7c01, 0x7e00, 0x7fff, 0xfc01, 0xfe00, 0xffff]) {
      expect(Number.isNaN(out[h])).toBe(true);
      expect(bits[h]! >>> 31).toBe(h >> 15);
    }
  });

  it("encodes every f16 value back to its own pattern (scalar and F16.quantize)", () => {
    const values = new Float32Array(65536);
    const vbits = new Uint32Array(values.buffer);
    for (let h = 0; h < 65536; h++) {
      values[h] = refF16(h);
      // JS NaN has no sign: write NaNs as raw f32 bits (sign, exponent all ones, payload m at the top).
      if (Number.isNaN(values[h])) vbits[h] = ((h >> 15) * 0x80000000 + 0x7f800000 + (h % 1024) * 8192) >>> 0;
    }
    const bytes = F16.quantize(values);
    let bad = 0;
    for (let h = 0; h < 65536; h++) {
      const got = bytes[2 * h]! | (bytes[2 * h + 1]! << 8);
      const scalar = f32ToF16Bits(values[h]!);
      if (Number.isNaN(values[h])) {
        // Any NaN must stay a NaN of the same sign (exponent all ones, mantissa non-zero).
        if ((got & 0x7c00) !== 0x7c00 || (got & 0x3ff) === 0 || got >> 15 !== h >> 15) bad++;
        if ((scalar & 0x7c00) !== 0x7c00 || (scalar & 0x3ff) === 0) bad++;
        if ((got & 0x1ff) !== (h & 0x1ff) || (got & 0x200) === 0) bad++; // payload kept, quiet bit set
      } else if (got !== h || scalar !== h) bad++;
    }
    expect(bad).toBe(0);
  });

  it("rounds every midpoint between neighbours, and the f32 values next to it, to nearest even", () => {
    let bad = 0;
    let checked = 0;
    for (let h = 0; h < 0x7c00; h++) {
      const lo = refF16(h);
      const hi = h + 1 === 0x7c00 ? 65536 : refF16(h + 1);
      const mid = (lo + hi) / 2; // 12 significant bits: exact in f32
      const midBits = ((f32[0] = mid), u32[0]!);
      for (const u of [midBits - 1, midBits, midBits + 1]) {
        for (const sign of [0, 0x80000000]) {
          const bits = (u | sign) >>> 0;
          const x = fromBits(bits);
          checked++;
          if (f32BitsToF16Bits(bits) !== refF32ToF16(x)) bad++;
        }
      }
    }
    expect(checked).toBeGreaterThan(6 * 0x7c00 - 1);
    expect(bad).toBe(0);
  });

  it("matches the reference on random f32 patterns, overflow and underflow included", () => {
    const rnd = mulberry32(1);
    let bad = 0;
    for (let i = 0; i < 200_000; i++) {
      // Exponents focused on the f16 range and just around it.
      const e = 95 + Math.floor(rnd.next().value * 55);
      const bits = (((rnd.next().value < 0.5 ? 1 : 0) << 31) | (e << 23) | Math.floor(rnd.next().value * 0x800000)) >>> 0;
      if (f32BitsToF16Bits(bits) !== refF32ToF16(fromBits(bits))) bad++;
    }
    expect(bad).toBe(0);
    expect(f32ToF16Bits(65519.99)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // tie between 65504 and 2^16 goes to the even one: inf
    expect(f32ToF16Bits(1e10)).toBe(0x7c00);
    expect(f32ToF16Bits(-Infinity)).toBe(0xfc00);
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // tie between 0 and 2^-24: even is 0
    expect(f32ToF16Bits(fromBits(0x33000001))).toBe(0x0001); // just above 2^-25
    expect(f32ToF16Bits(-(2 ** -24) * 1.5)).toBe(0x8002); // tie 1.5 units: even is 2
    expect(f32ToF16Bits(1e-45)).toBe(0); // f32 subnormal
    expect(f32ToF16Bits(-0)).toBe(0x8000);
    expect(f32ToF16Bits(NaN) & 0x7e00).toBe(0x7e00); // quiet NaN
    expect(f32BitsToF16Bits(0x7f800001) & 0x7e00).toBe(0x7e00); // signalling f32 NaN does not become inf
  });
});

describe("bf16", () => {
  it("decodes all 65,536 patterns like the definition (scalar and BF16.dequantize)", () => {
    const out = new Float32Array(65536);
    BF16.dequantize(allPatternBytes(), out);
    let bad = 0;
    for (let h = 0; h < 65536; h++) {
      const want = refBf16(h);
      if (!same(out[h]!, want) || !same(bf16BitsToF32(h), want)) bad++;
    }
    expect(bad).toBe(0);
  });

  it("encodes every bf16 value back to its own pattern; NaN becomes quiet NaN as in ggml", () => {
    const values = new Float32Array(65536);
    const vbits = new Uint32Array(values.buffer);
    for (let h = 0; h < 65536; h++) vbits[h] = (h << 16) >>> 0; // raw bits, so NaN payloads are exact
    const bytes = BF16.quantize(values);
    let bad = 0;
    for (let h = 0; h < 65536; h++) {
      const got = bytes[2 * h]! | (bytes[2 * h + 1]! << 8);
      const nan = (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;
      if (got !== (nan ? h | 0x40 : h)) bad++;
      if (f32BitsToBf16Bits((h << 16) >>> 0) !== (nan ? h | 0x40 : h)) bad++;
    }
    expect(bad).toBe(0);
  });

  it("rounds every midpoint, and its f32 neighbours, to nearest even (subnormals kept, overflow to inf)", () => {
    let bad = 0;
    for (let h = 0; h < 0x7f80; h++) {
      const mid = ((h << 16) | 0x8000) >>> 0; // exactly halfway to pattern h + 1
      for (const u of [mid - 1, mid, mid + 1]) {
        for (const sign of [0, 0x80000000]) {
          const bits = (u | sign) >>> 0;
          if (f32BitsToBf16Bits(bits) !== refF32ToBf16(fromBits(bits))) bad++;
        }
      }
    }
    expect(bad).toBe(0);
    expect(f32ToBf16Bits(1e-40)).toBe(refF32ToBf16(Math.fround(1e-40))); // f32 subnormal, not flushed
    expect(f32ToBf16Bits(1e-40)).not.toBe(0);
    expect(f32ToBf16Bits(3.4e38)).toBe(0x7f80);
  });

  it("matches the reference on random f32 patterns", () => {
    const rnd = mulberry32(2);
    let bad = 0;
    for (let i = 0; i < 200_000; i++) {
      const bits = Math.floor(rnd.next().value * 4294967296) >>> 0;
      const x = fromBits(bits);
      if (Number.isNaN(x)) continue;
      if (f32BitsToBf16Bits(bits) !== refF32ToBf16(x)) bad++;
    }
    expect(bad).toBe(0);
  });
});
