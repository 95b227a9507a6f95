import { f16Table, f32ToF16Bits } from "./half.ts";
import { blockwise, blockwiseCodes, GgmlType, type TernaryTypeTraits } from "./traits.ts";
import { absmax, ternaryCode } from "./tq2_0.ts";

// Block of 256: u8 qs[48], u8 qh[4], f16 d (1.6875 bits per weight).
// A byte holds 5 trits as ceil(b·256/243), b the base-3 number with the first trit most significant, so
// that trit n is recovered with a multiply and a shift: ((u8)(q·3ⁿ)·3) >> 8.
//   e <  160: qs[e % 32],            trit e / 32
//   e <  240: qs[32 + (e−160) % 16], trit (e−160) / 16
//   e >= 240: qh[(e−240) % 4],       trit (e−240) / 4   (4 trits, shifted up once)
const QK = 256;
const BYTES = 54;

export const TQ1_0: TernaryTypeTraits = {
  id: GgmlType.TQ1_0,
  name: "TQ1_0",
  blockSize: QK,
  bytesPerBlock: BYTES,
  blockScaleByte: BYTES - 2,
  ternary: true,
  byteLength: (elements) => (elements / QK) * BYTES,
  ...blockwise("TQ1_0", QK, BYTES, packTQ1_0, unpackTQ1_0),
  ternaryCodes: blockwiseCodes("TQ1_0", QK, BYTES, codesTQ1_0),
};

// TRIT[n·256 + q] = trit n of byte q, by llama.cpp's formula, so any byte (even one no encoder makes)
// decodes as llama.cpp decodes it.
const TRIT = new Uint8Array(5 * 256);
for (let n = 0, p = 1; n < 5; n++, p *= 3) {
  for (let q = 0; q < 256; q++) TRIT[n * 256 + q] = (((q * p) & 0xff) * 3) >> 8;
}

// ceil(b·256/243) for a base-3 number b < 243.
function packTrits(b: number): number {
  return Math.floor((b * 256 + 242) / 243);
}

// As llama.cpp's quantize_row_tq1_0_ref.
function packTQ1_0(src: Float32Array, dst: Uint8Array, blocks: number): void {
  for (let b = 0; b < blocks; b++) {
    const x = b * QK;
    const o = b * BYTES;
    const d = absmax(src, x, QK);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    for (let m = 0; m < 32; m++) {
      let q = 0;
      for (let n = 0; n < 5; n++) q = q * 3 + ternaryCode(src[x + 32 * n + m]!, id);
      dst[o + m] = packTrits(q);
    }
    for (let m = 0; m < 16; m++) {
      let q = 0;
      for (let n = 0; n < 5; n++) q = q * 3 + ternaryCode(src[x + 160 + 16 * n + m]!, id);
      dst[o + 32 + m] = packTrits(q);
    }
    for (let j = 0; j < 4; j++) {
      let q = 0;
      for (let n = 0; n < 4; n++) q = q * 3 + ternaryCode(src[x + 240 + 4 * n + j]!, id);
      dst[o + 48 + j] = packTrits(q * 3); // first trit to the top position, like a 5-trit byte
    }
    const h = f32ToF16Bits(d);
    dst[o + 52] = h & 0xff;
    dst[o + 53] = h >>> 8;
  }
}

function unpackTQ1_0(src: Uint8Array, srcByte: number, dst: Float32Array, blocks: number): void {
  const table = f16Table();
  for (let b = 0; b < blocks; b++) {
    const p = srcByte + b * BYTES;
    const d = table[src[p + 52]! | (src[p + 53]! << 8)]!;
    const o = b * QK;
    for (let n = 0; n < 5; n++) {
      const t = n * 256;
      for (let m = 0; m < 32; m++) dst[o + 32 * n + m] = (TRIT[t + src[p + m]!]! - 1) * d;
      for (let m = 0; m < 16; m++) dst[o + 160 + 16 * n + m] = (TRIT[t + src[p + 32 + m]!]! - 1) * d;
    }
    for (let n = 0; n < 4; n++) {
      const t = n * 256;
      for (let j = 0; j < 4; j++) dst[o + 240 + 4 * n + j] = (TRIT[t + src[p + 48 + j]!]! - 1) * d;
    }
  }
}

function codesTQ1_0(src: Uint8Array, dst: Int8Array, blocks: number): void {
  for (let b = 0; b < blocks; b++) {
    const p = b * BYTES;
    const o = b * QK;
    for (let n = 0; n < 5; n++) {
      const t = n * 256;
      for (let m = 0; m < 32; m++) dst[o + 32 * n + m] = TRIT[t + src[p + m]!]! - 1;
      for (let m = 0; m < 16; m++) dst[o + 160 + 16 * n + m] = TRIT[t + src[p + 32 + m]!]! - 1;
    }
    for (let n = 0; n < 4; n++) {
      const t = n * 256;
      for (let j = 0; j < 4; j++) dst[o + 240 + 4 * n + j] = TRIT[t + src[p + 48 + j]!]! - 1;
    }
  }
}
