// Blocks written the way llama.cpp / bitnet.cpp write them decode to the values they would give. Every block
// and every expected value here is built straight from the layout spec (docs/ARCHITECTURE.md section 3) with bit-twiddling
// written in this file; nothing from src/ is used to make them.
import { describe, expect, it } from "vitest";
import { I2_S } from "../src/runtime/tensor-types/i2_s.ts";
import { Q8_0 } from "../src/runtime/tensor-types/q8_0.ts";
import { TQ1_0 } from "../src/runtime/tensor-types/tq1_0.ts";
import { TQ2_0 } from "../src/runtime/tensor-types/tq2_0.ts";
import type { TensorTypeTraits } from "../src/runtime/tensor-types/traits.ts";
import { rng } from "./helpers/random.ts";

const EDGES = [0, 31, 32, 127, 128, 159, 160, 239, 240, 255];

// A few f16 scales given as bits, with their values worked out by hand.
const SCALES: [bits: number, value: number][] = [
  [0x3c00, 1],
  [0x3800, 0.5],
  [0x2e66, 0.0999755859375], // 0.1 as f16: 2^-4 · (1 + 614/1024)
  [0xc000, -2], // negative d: llama.cpp just multiplies
  [0x0001, 2 ** -24], // smallest subnormal
  [0x7bff, 65504],
];

/** Code patterns: random, and for each edge a block that is all zeros (code 1) but −1 and +1 at the edge. */
function codePatterns(): Uint8Array[] {
  const r = rng(7);
  const out: Uint8Array[] = [];
  for (let k = 0; k < 4; k++) out.push(Uint8Array.from({ length: 256 }, () => Math.floor(r() * 3)));
  for (const e of EDGES) {
    for (const c of [0, 2]) {
      const codes = new Uint8Array(256).fill(1);
      codes[e] = c;
      out.push(codes);
    }
  }
  out.push(new Uint8Array(256).fill(0), new Uint8Array(256).fill(2));
  return out;
}

function expectValues(got: Float32Array, codes: Uint8Array, d: number): void {
  for (let e = 0; e < codes.length; e++) {
    const want = Math.fround((codes[e]! - 1) * d);
    if (!Object.is(got[e], want)) throw new Error(`element ${e}: got ${got[e]}, want ${want} (code ${codes[e]}, d ${d})`);
  }
}

function dequant(t: TensorTypeTraits, bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  t.dequantize(bytes, out);
  return out;
}

describe("TQ2_0 blocks as llama.cpp writes them", () => {
  // u8 qs[64], f16 d. e: j = e/128, l = (e%128)/32, m = e%32; code = (qs[32j+m] >> 2l) & 3.
  function block(codes: Uint8Array, dBits: number): Uint8Array {
    const b = new Uint8Array(66);
    for (let e = 0; e < 256; e++) {
      const j = Math.floor(e / 128);
      const l = Math.floor((e % 128) / 32);
      const m = e % 32;
      b[32 * j + m]! |= codes[e]! << (2 * l);
    }
    b[64] = dBits & 0xff;
    b[65] = dBits >> 8;
    return b;
  }

  it("dequantizes to (code − 1)·d at every position, edges included", () => {
    for (const [bits, d] of SCALES) {
      for (const codes of codePatterns()) expectValues(dequant(TQ2_0, block(codes, bits), 256), codes, d);
    }
  });

  it("edge positions land where the layout says (a lone +1 at e shows up only at e)", () => {
    for (const e of EDGES) {
      const codes = new Uint8Array(256).fill(1);
      codes[e] = 2;
      const v = dequant(TQ2_0, block(codes, 0x3c00), 256);
      expect([...v.keys()].filter((i) => v[i] !== 0)).toEqual([e]);
      expect(v[e]).toBe(1);
    }
  });

  it("decodes several blocks in a row, and code 3 as 2·d (as llama.cpp)", () => {
    const pats = codePatterns().slice(0, 3);
    const c3 = new Uint8Array(256).fill(3);
    const bytes = new Uint8Array([...block(pats[0]!, 0x3c00), ...block(c3, 0x3800), ...block(pats[2]!, 0x2e66)]);
    const v = dequant(TQ2_0, bytes, 768);
    expectValues(v.subarray(0, 256), pats[0]!, 1);
    expectValues(v.subarray(256, 512), c3, 0.5);
    expectValues(v.subarray(512), pats[2]!, 0.0999755859375);
    expect(Array.from(TQ2_0.ternaryCodes(bytes).subarray(256, 260))).toEqual([2, 2, 2, 2]);
  });

  it("quantizing the decoded values writes the same bytes (llama.cpp: d = absmax, q = lround(x/d) + 1)", () => {
    for (const [bits, d] of SCALES.filter(([, d]) => d > 0)) {
      for (const codes of codePatterns()) {
        const values = Float32Array.from(codes, (c) => (c - 1) * d);
        expect(TQ2_0.quantize(values)).toEqual(block(codes, bits));
      }
    }
  });

  it("ternaryCodes gives code − 1 per element", () => {
    for (const codes of codePatterns()) {
      expect(Array.from(TQ2_0.ternaryCodes(block(codes, 0x3c00)))).toEqual(Array.from(codes, (c) => c - 1));
    }
  });
});

describe("TQ1_0 blocks as llama.cpp writes them", () => {
  // u8 qs[48], u8 qh[4], f16 d. Five trits per byte as ceil(b·256/243), first trit most significant.
  function pack(trits: number[]): number {
    let b = 0;
    for (const t of trits) b = b * 3 + t;
    return Math.ceil((b * 256) / 243);
  }
  function block(codes: Uint8Array, dBits: number): Uint8Array {
    const b = new Uint8Array(54);
    for (let m = 0; m < 32; m++) b[m] = pack([0, 1, 2, 3, 4].map((n) => codes[32 * n + m]!)); // e < 160
    for (let m = 0; m < 16; m++) b[32 + m] = pack([0, 1, 2, 3, 4].map((n) => codes[160 + 16 * n + m]!));
    for (let j = 0; j < 4; j++) b[48 + j] = pack([0, 1, 2, 3].map((n) => codes[240 + 4 * n + j]!).concat([0])); // shifted up once
    b[52] = dBits & 0xff;
    b[53] = dBits >> 8;
    return b;
  }

  it("the byte encoding gives back each trit with ((u8)(q·3ⁿ)·3) >> 8, for all 243 numbers", () => {
    // Sanity of the spec itself, so that the block builder above is trustworthy.
    for (let b = 0; b < 243; b++) {
      const q = Math.ceil((b * 256) / 243);
      const digits = [4, 3, 2, 1, 0].map((k) => Math.floor(b / 3 ** k) % 3);
      for (let n = 0; n < 5; n++) expect((((q * 3 ** n) % 256) * 3) >> 8).toBe(digits[n]);
    }
  });

  it("dequantizes to (trit − 1)·d at every position, edges included", () => {
    for (const [bits, d] of SCALES) {
      for (const codes of codePatterns()) expectValues(dequant(TQ1_0, block(codes, bits), 256), codes, d);
    }
  });

  it("edge positions land where the layout says", () => {
    for (const e of EDGES) {
      const codes = new Uint8Array(256).fill(1);
      codes[e] = 0;
      const v = dequant(TQ1_0, block(codes, 0x3800), 256);
      expect([...v.keys()].filter((i) => v[i] !== 0)).toEqual([e]);
      expect(v[e]).toBe(-0.5);
    }
  });

  it("quantizing the decoded values writes the same bytes, and blocks follow each other", () => {
    for (const [bits, d] of SCALES.filter(([, d]) => d > 0)) {
      const pats = codePatterns();
      const values = new Float32Array(256 * pats.length);
      const want = new Uint8Array(54 * pats.length);
      pats.forEach((codes, k) => {
        values.set(
          Array.from(codes, (c) => (c - 1) * d),
          256 * k,
        );
        want.set(block(codes, bits), 54 * k);
      });
      expect(TQ1_0.quantize(values)).toEqual(want);
      expect(dequant(TQ1_0, want, values.length)).toEqual(values);
    }
  });

  it("ternaryCodes gives trit − 1 per element", () => {
    for (const codes of codePatterns()) {
      expect(Array.from(TQ1_0.ternaryCodes(block(codes, 0x3c00)))).toEqual(Array.from(codes, (c) => c - 1));
    }
  });
});

describe("Q8_0 blocks as llama.cpp writes them", () => {
  it("dequantizes f16 d then 32 × i8 to q·d", () => {
    const qs = [-128, -127, -1, 0, 1, 2, 63, 64, 126, 127, ...Array.from({ length: 22 }, (_, i) => i * 11 - 120)];
    for (const [bits, d] of SCALES) {
      const b = new Uint8Array(68);
      b[0] = bits & 0xff;
      b[1] = bits >> 8;
      qs.forEach((q, j) => (b[2 + j] = q & 0xff));
      b[34] = 0x00; // second block: d = 1.0, q = −j
      b[35] = 0x3c;
      for (let j = 0; j < 32; j++) b[36 + j] = -j & 0xff;
      const v = dequant(Q8_0, b, 64);
      for (let j = 0; j < 32; j++) expect(v[j]).toBe(Math.fround(qs[j]! * d));
      for (let j = 0; j < 32; j++) expect(v[32 + j]).toBe(-j || 0);
    }
  });

  it("quantizes as quantize_row_q8_0_ref: d = amax/127, roundf (half away from zero)", () => {
    // amax = 127 gives d = 1 exactly, so the rounding of ties is visible.
    const x = new Float32Array(32);
    x.set([127, -2.5, 2.5, -0.5, 0.5, 0.49, -126.5, 3.7, -3.2]);
    const b = Q8_0.quantize(x);
    expect([b[0], b[1]]).toEqual([0x00, 0x3c]); // f16 1.0
    const q = Array.from(b.subarray(2, 11), (v) => (v > 127 ? v - 256 : v));
    expect(q).toEqual([127, -3, 3, -1, 1, 0, -127, 4, -3]);
    expect(Array.from(b.subarray(11, 34))).toEqual(new Array(23).fill(0));
  });
});

describe("I2_S tensors as bitnet.cpp writes them", () => {
  // 128-weight groups of 32 bytes: weight j of a group in byte j%32 at bits 6 − 2·(j/32). Scale: f32 at numel/4.
  function tensor(codes: Uint8Array, scale: number): Uint8Array {
    const n = codes.length;
    const b = new Uint8Array(n / 4 + 32);
    for (let i = 0; i < n; i++) {
      const g = Math.floor(i / 128);
      const j = i % 128;
      b[32 * g + (j % 32)]! |= codes[i]! << (6 - 2 * Math.floor(j / 32));
    }
    new DataView(b.buffer).setFloat32(n / 4, scale, true);
    return b;
  }

  it("dequantizes to (code − 1)·scale with the scale read at byte numel/4", () => {
    const r = rng(3);
    for (const scale of [1, 0.0213, -3]) {
      const codes = Uint8Array.from({ length: 384 }, () => Math.floor(r() * 3));
      expectValues(dequant(I2_S, tensor(codes, scale), 384), codes, Math.fround(scale));
    }
  });

  it("edge positions land where the layout says", () => {
    for (const e of [0, 31, 32, 63, 64, 95, 96, 127, 128, 159, 255]) {
      const codes = new Uint8Array(256).fill(1);
      codes[e] = 2;
      const bytes = tensor(codes, 0.25);
      const v = dequant(I2_S, bytes, 256);
      expect([...v.keys()].filter((i) => v[i] !== 0)).toEqual([e]);
      expect(v[e]).toBe(0.25);
      expect(Array.from(I2_S.ternaryCodes(bytes)).findIndex((c) => c !== 0)).toBe(e);
    }
  });

  it("quantizes ternary weights to the same bytes (scale = max|w|, zero padding after the scale)", () => {
    const r = rng(4);
    const codes = Uint8Array.from({ length: 512 }, () => Math.floor(r() * 3));
    codes[5] = 2; // make sure max |w| is the scale
    const s = Math.fround(0.0371);
    const got = I2_S.quantize(Float32Array.from(codes, (c) => (c - 1) * s));
    expect(got.length).toBe(512 / 4 + 32);
    expect(got).toEqual(tensor(codes, s));
    expect(Array.from(got.subarray(512 / 4 + 4))).toEqual(new Array(28).fill(0));
  });
});
