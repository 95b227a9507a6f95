// The int8 output head (the engine's opt-in headType "q8_0"): Q8_0 weight rows (blocks of 32: f16 d, 32 × i8, as
// in GGUF) times activations quantized to int8 per group of 32 (quantAbsmax, kind "group", g = 32; layout.ts).
// Per (row, token, block) the 32 products are summed exactly in i32 (|w|, |x| ≤ 127: each i16 product fits), in
// four lanes (lane L: elements 2L, 2L+1, 8+2L, 9+2L of each 16), then lane-wise acc += f32(sum)·(d_w·d_x), and the
// lanes are summed as hsumF32 does. No relaxed instruction: both wasm builds give the same bits (reference:
// src/runtime/cpu/reference/head-q8.ts).
import { f16ToF32, hsumF32 } from "./common";

/** Σ w·x of 16 int8 pairs into four i32 lanes. */
@inline function dot16(w: v128, x: v128): v128 {
  return i32x4.add(
    i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_low_i8x16_s(w, x)),
    i32x4.extadd_pairwise_i16x8_s(i16x8.extmul_high_i8x16_s(w, x)),
  );
}

/**
 * out[t][r] for rows [r0, r1) and n tokens. w: Q8_0 rows of rowBytes; k: a multiple of 32. Activations: q (i8,
 * token-major, kp bytes per token, the 16-value vectors of each 128-chunk in (half, field) order: elements
 * 32l + 16h + 0..15 at byte 64h + 16l of the chunk), d (f32 [k/32][capacity]).
 */
export function int8HeadMatmul(
  w: usize, rowBytes: usize, q: usize, kp: i32, d: usize, capacity: i32, k: i32, n: i32, o: usize, oStride: usize,
  r0: i32, r1: i32,
): void {
  const blocks = k >> 5;
  for (let r = r0; r < r1; r++) {
    const row = w + <usize>r * rowBytes;
    for (let t = 0; t < n; t++) {
      const xq = q + <usize>t * <usize>kp;
      const xd = d + (<usize>t << 2);
      let acc = f32x4.splat(0);
      for (let b = 0; b < blocks; b++) {
        const blk = row + <usize>b * 34;
        const xb = xq + (<usize>(b >> 2) << 7) + (<usize>(b & 3) << 4);
        const s = i32x4.add(dot16(v128.load(blk, 2), v128.load(xb)), dot16(v128.load(blk, 18), v128.load(xb, 64)));
        const scale = f16ToF32(<u32>load<u16>(blk)) * load<f32>(xd + ((<usize>b * <usize>capacity) << 2));
        acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.splat(scale)));
      }
      store<f32>(o + <usize>t * oStride + (<usize>r << 2), hsumF32(acc));
    }
  }
}
