// The tensor-type table: size rules, argument checks, and quantize → dequantize round trips of every type.
import { describe, expect, it } from "vitest";
import { TensorTypeError } from "../src/runtime/errors.ts";
import { f16BitsToF32, f32ToF16Bits } from "../src/runtime/tensor-types/half.ts";
import { absmeanTernarize, i2sScale } from "../src/runtime/tensor-types/i2_s.ts";
import { GgmlType, isKnownTensorType, tensorByteLength, tensorTypeTraits, type TensorTypeTraits } from "../src/runtime/tensor-types/table.ts";
import { isTernaryTraits } from "../src/runtime/tensor-types/traits.ts";
import { rng } from "./helpers/random.ts";

const ALL = [GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.I2_S];
const TERNARY = [GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.I2_S];

/** Ragged data in blocks of 32: all-zero blocks, tiny and huge magnitudes, single spikes, exact ±max. */
function raggedData(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const x = new Float32Array(n);
  for (let b = 0; b < n / 32; b++) {
    const kind = b % 5;
    const scale = 10 ** (Math.floor(r() * 8) - 4);
    for (let j = 0; j < 32; j++) {
      const i = 32 * b + j;
      if (kind === 0) x[i] = 0;
      else if (kind === 1) x[i] = j === 7 ? -scale * 50 : (r() - 0.5) * scale;
      else if (kind === 2) x[i] = j % 3 === 0 ? 0 : (r() - 0.5) * 2 * scale;
      else if (kind === 3) x[i] = j === 0 ? scale : j === 1 ? -scale : (r() - 0.5) * scale;
      else x[i] = Math.tan((r() - 0.5) * 3) * scale;
    }
  }
  return x;
}

function roundTrip(t: TensorTypeTraits, x: Float32Array): Float32Array {
  const bytes = t.quantize(x);
  expect(bytes.length).toBe(t.byteLength(x.length));
  const y = new Float32Array(x.length);
  t.dequantize(bytes, y);
  return y;
}

describe("size rules", () => {
  it("byteLength of each type", () => {
    expect(tensorByteLength(GgmlType.F32, [3, 5])).toBe(60);
    expect(tensorByteLength(GgmlType.F16, [3, 5])).toBe(30);
    expect(tensorByteLength(GgmlType.BF16, [7])).toBe(14);
    expect(tensorByteLength(GgmlType.Q8_0, [64, 2])).toBe(4 * 34);
    expect(tensorByteLength(GgmlType.TQ2_0, [256, 2])).toBe(2 * 66);
    expect(tensorByteLength(GgmlType.TQ1_0, [512, 3])).toBe(6 * 54);
    // I2_S: one scale for the whole tensor, numel/4 + 32 bytes.
    expect(tensorByteLength(GgmlType.I2_S, [256, 3])).toBe(768 / 4 + 32);
    expect(tensorByteLength(GgmlType.I2_S, [2560, 6912])).toBe((2560 * 6912) / 4 + 32);
  });

  it("refuses a row length that is not a multiple of the block size", () => {
    const cases: [GgmlType, number[]][] = [
      [GgmlType.Q8_0, [48, 2]],
      [GgmlType.TQ2_0, [128, 4]], // 512 elements would fit whole blocks, but rows must
      [GgmlType.TQ1_0, [300]],
      [GgmlType.I2_S, [64, 4]],
    ];
    for (const [id, dims] of cases) {
      let err: unknown;
      try {
        tensorByteLength(id, dims);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TensorTypeError);
      expect((err as TensorTypeError).code).toBe("BAD_TENSOR_SHAPE");
    }
  });

  it("knows its types and refuses others", () => {
    for (const id of ALL) expect(isKnownTensorType(id)).toBe(true);
    expect(isKnownTensorType(2)).toBe(false);
    expect(() => tensorTypeTraits(39)).toThrow(TensorTypeError);
    for (const id of ALL) expect(isTernaryTraits(tensorTypeTraits(id))).toBe(TERNARY.includes(id));
  });

  it("I2_S puts the scale at byte numel/4 and zero padding up to numel/4 + 32", () => {
    const t = tensorTypeTraits(GgmlType.I2_S);
    const x = new Float32Array(384).map((_, i) => (i % 3) - 1);
    x[100] = 0; // keep it ternary
    const s = Math.fround(0.75);
    const bytes = t.quantize(x.map((v) => v * s));
    expect(bytes.length).toBe(96 + 32);
    expect(new DataView(bytes.buffer).getFloat32(96, true)).toBe(s);
    expect(i2sScale(bytes, 384)).toBe(s);
    expect(bytes.subarray(100).every((b) => b === 0)).toBe(true);
    // quantizeInto overwrites garbage in the padding too.
    const dst = new Uint8Array(128).fill(0xaa);
    t.quantizeInto(
      x.map((v) => v * s),
      dst,
    );
    expect(dst).toEqual(bytes);
  });
});

describe("argument checks", () => {
  it("quantize refuses a length that is not a multiple of the block size", () => {
    for (const id of [GgmlType.Q8_0, GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.I2_S]) {
      const t = tensorTypeTraits(id);
      expect(() => t.quantize(new Float32Array(t.blockSize + 1))).toThrow(TensorTypeError);
    }
  });

  it("dequantize refuses a source that is too short", () => {
    for (const id of ALL) {
      const t = tensorTypeTraits(id);
      const n = t.blockSize * 2;
      const bytes = t.quantize(new Float32Array(n).fill(1));
      const short = bytes.subarray(0, id === GgmlType.I2_S ? n / 4 + 3 : bytes.length - 1);
      expect(() => t.dequantize(short, new Float32Array(n))).toThrow(TensorTypeError);
    }
  });

  it("dequantizeRange refuses ranges outside the tensor or off block boundaries", () => {
    const t = tensorTypeTraits(GgmlType.TQ2_0);
    const bytes = t.quantize(new Float32Array(512));
    expect(() => t.dequantizeRange(bytes, 512, 256, new Float32Array(512))).toThrow(TensorTypeError);
    expect(() => t.dequantizeRange(bytes, 512, 128, new Float32Array(256))).toThrow(TensorTypeError);
  });
});

describe("round trips", () => {
  it("F32 is exact, bit for bit (−0, inf, subnormals)", () => {
    const x = raggedData(256, 1);
    x.set([-0, Infinity, -Infinity, 1e-45, 3.4028234663852886e38]);
    const y = roundTrip(tensorTypeTraits(GgmlType.F32), x);
    expect(new Uint32Array(y.buffer)).toEqual(new Uint32Array(x.buffer));
  });

  it("F16 and BF16 are within half an ulp of the input", () => {
    const x = raggedData(4096, 2).map((v) => Math.max(-60000, Math.min(60000, v)));
    const y16 = roundTrip(tensorTypeTraits(GgmlType.F16), x);
    const yb = roundTrip(tensorTypeTraits(GgmlType.BF16), x);
    for (let i = 0; i < x.length; i++) {
      const a = Math.abs(x[i]!);
      // f16: 11 significant bits above 2^-14, a fixed 2^-24 step below; bf16: 8 significant bits.
      expect(Math.abs(y16[i]! - x[i]!)).toBeLessThanOrEqual(Math.max(a * 2 ** -11, 2 ** -25));
      expect(Math.abs(yb[i]! - x[i]!)).toBeLessThanOrEqual(a * 2 ** -8);
    }
  });

  it("Q8_0 errs by at most d/2 per element (plus what rounding d to f16 adds)", () => {
    const t = tensorTypeTraits(GgmlType.Q8_0);
    const x = raggedData(32 * 400, 3);
    const bytes = t.quantize(x);
    const y = new Float32Array(x.length);
    t.dequantize(bytes, y);
    for (let b = 0; b < x.length / 32; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[32 * b + j]!));
      const d = Math.fround(amax / 127);
      const d16 = f16BitsToF32(bytes[34 * b]! | (bytes[34 * b + 1]! << 8));
      expect(d16).toBe(f16BitsToF32(f32ToF16Bits(d)));
      for (let j = 0; j < 32; j++) {
        const i = 32 * b + j;
        const q = Math.round(y[i]! / (d16 || 1));
        expect(Math.abs(q)).toBeLessThanOrEqual(127);
        expect(Math.abs(x[i]! - q * d)).toBeLessThanOrEqual(d / 2 + 1e-6 * d); // the quant itself
        expect(Math.abs(x[i]! - y[i]!)).toBeLessThanOrEqual(d / 2 + 127 * Math.abs(d - d16) + 1e-6 * d);
      }
      if (amax === 0) expect(y.subarray(32 * b, 32 * b + 32).every((v) => v === 0)).toBe(true);
    }
  });

  for (const id of TERNARY) {
    const t = tensorTypeTraits(id);
    it(`${t.name} is exact on inputs already in {−d, 0, +d}`, () => {
      const r = rng(id);
      const n = 256 * 12;
      const x = new Float32Array(n);
      // One d for I2_S (whole tensor), one per block otherwise; d representable in f16.
      let d = f16BitsToF32(0x2e66);
      for (let i = 0; i < n; i++) {
        if (id !== GgmlType.I2_S && i % 256 === 0) d = f16BitsToF32(0x0400 + Math.floor(r() * 0x7000));
        // The first element of each block is ±d, so that d is the block's (or tensor's) max |x|.
        x[i] = i % 256 === 0 ? (r() < 0.5 ? d : -d) : (Math.floor(r() * 3) - 1) * d;
      }
      x.fill(0, 256, 512); // an all-zero block: d = 0
      expect(roundTrip(t, x)).toEqual(x);
    });

    it(`${t.name} maps ragged data to {−d, 0, +d} with d = max |x|`, () => {
      const x = raggedData(256 * 8, id + 10);
      const bytes = t.quantize(x);
      const y = new Float32Array(x.length);
      t.dequantize(bytes, y);
      const codes = isTernaryTraits(t) ? t.ternaryCodes(bytes, new Int8Array(x.length)) : undefined;
      const group = id === GgmlType.I2_S ? x.length : 256;
      for (let g = 0; g < x.length; g += group) {
        let amax = 0;
        for (let i = g; i < g + group; i++) amax = Math.max(amax, Math.abs(x[i]!));
        const d = id === GgmlType.I2_S ? amax : f16BitsToF32(f32ToF16Bits(amax));
        for (let i = g; i < g + group; i++) {
          expect(y[i]!).toBe(codes![i]! * d);
          if (id === GgmlType.I2_S) {
            // bitnet.cpp: sign of w, 0 only for |w| < 1e-6.
            expect(codes![i]).toBe(Math.abs(x[i]!) < 1e-6 ? 0 : Math.sign(x[i]!));
          } else if (Math.abs(Math.abs(x[i]!) / amax - 0.5) > 1e-6) {
            expect(codes![i]).toBe(Math.abs(x[i]!) / amax > 0.5 ? Math.sign(x[i]!) : 0);
          }
        }
      }
    });

    it(`${t.name} dequantizeRange equals the matching slice of dequantize`, () => {
      const n = 256 * 6;
      const x = raggedData(n, 20 + id);
      const bytes = t.quantize(id === GgmlType.I2_S ? absmeanTernarize(x) : x);
      const whole = new Float32Array(n);
      t.dequantize(bytes, whole);
      const part = new Float32Array(512);
      t.dequantizeRange(bytes, n, 768, part);
      expect(part).toEqual(whole.subarray(768, 1280));
    });
  }

  it("dequantizeRange works for every type (row gather)", () => {
    for (const id of ALL) {
      const t = tensorTypeTraits(id);
      const x = raggedData(1024, 30);
      const bytes = t.quantize(x);
      const whole = new Float32Array(1024);
      t.dequantize(bytes, whole);
      const row = new Float32Array(256);
      t.dequantizeRange(bytes, 1024, 512, row);
      expect(row).toEqual(whole.subarray(512, 768));
    }
  });

  it("dequantize reads source bytes at any offset (unaligned views)", () => {
    for (const id of ALL) {
      const t = tensorTypeTraits(id);
      const x = raggedData(256, 40);
      const bytes = t.quantize(x);
      const shifted = new Uint8Array(bytes.length + 3);
      shifted.set(bytes, 3);
      const a = new Float32Array(256);
      const b = new Float32Array(256);
      t.dequantize(bytes, a);
      t.dequantize(shifted.subarray(3), b);
      expect(b).toEqual(a);
    }
  });

  it("absmeanTernarize output packs losslessly into I2_S", () => {
    const t = tensorTypeTraits(GgmlType.I2_S);
    const w = absmeanTernarize(raggedData(1024, 50));
    const s = Math.max(...w.map(Math.abs));
    expect(new Set(w.map((v) => (v === 0 ? 0 : Math.abs(v)))).size).toBeLessThanOrEqual(2);
    expect(s).toBeGreaterThan(0);
    expect(roundTrip(t, w)).toEqual(w);
  });
});
