import { f16Table, f32ToF16Bits } from "./half.ts";
import { blockwise, blockwiseCodes, GgmlType, roundHalfAway, type TernaryTypeTraits } from "./traits.ts";

// Block of 256: u8 qs[64], then f16 d. Element e = 128j + 32l + m has code (qs[32j + m] >> 2l) & 3, and
// value (code − 1)·d. Four 32-byte lanes per half-block let SIMD kernels shift one vector four ways.
const QK = 256;
const BYTES = 66;

export const TQ2_0: TernaryTypeTraits = {
  id: GgmlType.TQ2_0,
  name: "TQ2_0",
  blockSize: QK,
  bytesPerBlock: BYTES,
  blockScaleByte: BYTES - 2,
  ternary: true,
  byteLength: (elements) => (elements / QK) * BYTES,
  ...blockwise("TQ2_0", QK, BYTES, packTQ2_0, unpackTQ2_0),
  ternaryCodes: blockwiseCodes("TQ2_0", QK, BYTES, codesTQ2_0),
};

/** Ternary code 0/1/2 of `x` scaled by `id`, as llama.cpp: lroundf(x·id) + 1 (clamped against NaN/inf). */
export function ternaryCode(x: number, id: number): number {
  const t = roundHalfAway(Math.fround(x * id));
  return t > 0 ? 2 : t < 0 ? 0 : 1;
}

/** The per-block scale of llama.cpp's ternary quantizers: d = absmax, id = 1/d (0 when d = 0). */
export function absmax(src: Float32Array, from: number, count: number): number {
  let amax = 0;
  for (let j = from, end = from + count; j < end; j++) {
    const a = Math.abs(src[j]!);
    amax = amax > a ? amax : a; // C's MAX(amax, a)
  }
  return amax;
}

// As llama.cpp's quantize_row_tq2_0_ref.
function packTQ2_0(src: Float32Array, dst: Uint8Array, blocks: number): void {
  for (let b = 0; b < blocks; b++) {
    const x = b * QK;
    const o = b * BYTES;
    const d = absmax(src, x, QK);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    for (let j = 0; j < 2; j++) {
      for (let m = 0; m < 32; m++) {
        let q = 0;
        for (let l = 0; l < 4; l++) q |= ternaryCode(src[x + 128 * j + 32 * l + m]!, id) << (2 * l);
        dst[o + 32 * j + m] = q;
      }
    }
    const h = f32ToF16Bits(d);
    dst[o + 64] = h & 0xff;
    dst[o + 65] = h >>> 8;
  }
}

function unpackTQ2_0(src: Uint8Array, srcByte: number, dst: Float32Array, blocks: number): void {
  const table = f16Table();
  for (let b = 0; b < blocks; b++) {
    const p = srcByte + b * BYTES;
    const d = table[src[p + 64]! | (src[p + 65]! << 8)]!;
    const o = b * QK;
    for (let j = 0; j < 2; j++) {
      for (let m = 0; m < 32; m++) {
        const q = src[p + 32 * j + m]!;
        const e = o + 128 * j + m;
        // (code − 1)·d in this order, as llama.cpp: code 1 with d < 0 gives −0 there too.
        dst[e] = ((q & 3) - 1) * d;
        dst[e + 32] = (((q >> 2) & 3) - 1) * d;
        dst[e + 64] = (((q >> 4) & 3) - 1) * d;
        dst[e + 96] = ((q >> 6) - 1) * d;
      }
    }
  }
}

function codesTQ2_0(src: Uint8Array, dst: Int8Array, blocks: number): void {
  for (let b = 0; b < blocks; b++) {
    const p = b * BYTES;
    const o = b * QK;
    for (let j = 0; j < 2; j++) {
      for (let m = 0; m < 32; m++) {
        const q = src[p + 32 * j + m]!;
        const e = o + 128 * j + m;
        dst[e] = (q & 3) - 1;
        dst[e + 32] = ((q >> 2) & 3) - 1;
        dst[e + 64] = ((q >> 4) & 3) - 1;
        dst[e + 96] = (q >> 6) - 1;
      }
    }
  }
}
