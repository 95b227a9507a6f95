import { f16Table, f32ToF16Bits } from "./half.ts";
import { blockwise, GgmlType, roundHalfAway, type TensorTypeTraits } from "./traits.ts";

// Block of 32: f16 d, then 32 × i8 q; value = q·d.
const QK = 32;
const BYTES = 34;

export const Q8_0: TensorTypeTraits = {
  id: GgmlType.Q8_0,
  name: "Q8_0",
  blockSize: QK,
  bytesPerBlock: BYTES,
  blockScaleByte: 0,
  ternary: false,
  byteLength: (elements) => (elements / QK) * BYTES,
  ...blockwise("Q8_0", QK, BYTES, packQ8_0, unpackQ8_0),
};

// As llama.cpp's quantize_row_q8_0_ref: d = amax/127 and id = 1/d in f32, q = roundf(x·id). The quants use
// the f32 d, not the f16 one that is stored, exactly as llama.cpp does.
function packQ8_0(src: Float32Array, dst: Uint8Array, blocks: number): void {
  for (let b = 0; b < blocks; b++) {
    const x = b * QK;
    const o = b * BYTES;
    let amax = 0;
    for (let j = 0; j < QK; j++) {
      const a = Math.abs(src[x + j]!);
      amax = amax > a ? amax : a; // C's MAX(amax, a), NaN included
    }
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    const h = f32ToF16Bits(d);
    dst[o] = h & 0xff;
    dst[o + 1] = h >>> 8;
    for (let j = 0; j < QK; j++) {
      // Clamp only guards inputs llama.cpp leaves undefined (NaN, id = inf); for finite data it is a no-op.
      const q = roundHalfAway(Math.fround(src[x + j]! * id));
      dst[o + 2 + j] = (q > 127 ? 127 : q < -127 ? -127 : Number.isNaN(q) ? 0 : q) & 0xff;
    }
  }
}

function unpackQ8_0(src: Uint8Array, srcByte: number, dst: Float32Array, blocks: number): void {
  const table = f16Table();
  for (let b = 0; b < blocks; b++) {
    const p = srcByte + b * BYTES;
    const d = table[src[p]! | (src[p + 1]! << 8)]!;
    const o = b * QK;
    // (byte << 24) >> 24 sign-extends the i8; q·d is exact in f32 (8 × 11 significant bits).
    for (let j = 0; j < QK; j++) dst[o + j] = ((src[p + 2 + j]! << 24) >> 24) * d;
  }
}
