// The int8 output head (the engine's opt-in headType "q8_0"): Q8_0 weight rows (blocks of 32: f16 d, 32 × i8, as
// in GGUF) times activations quantized to int8 per group of 32 (quantAbsmax, kind "group", g = 32; layout.ts).
// Per (row, token, block) the 32 products are summed exactly in i32 (i8 widened to i16, i32x4.dot_i16x8_s: one
// pmaddwd per 8), then per row acc += f32(sum)·(d_w·d_x) in block order. Tiles of 4 rows share each widened
// activation vector and keep the 4 rows' sums in the 4 lanes; a tail row runs the same arithmetic alone. A tile's 4
// rows are row t of each quarter of the rows [r0, r4): four long sequential streams, which the hardware prefetcher
// follows past the caches (float.ts says why; 2B-4T's head 48.4 → 35.7 ms, bench/README.md). No relaxed
// instruction: both wasm builds give the same bits (reference: src/runtime/cpu/reference/head-q8.ts).
import { f16ToF32, f16x4ToF32, hsumI32 } from "./common";

/** Σ w·x of a 32-weight block (w: its 32 i8 at p) against activations widened to i16 (xa..xd), in four i32 lanes. */
@inline function blockDot(p: usize, xa: v128, xb: v128, xc: v128, xd: v128): v128 {
  const w0 = v128.load(p), w1 = v128.load(p, 16);
  const a = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w0), xa), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w0), xb));
  const b = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w1), xc), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w1), xd));
  return i32x4.add(a, b);
}

/** Lane j = the sum of the lanes of v_j (exact: integers). */
@inline function hsum4I32(v0: v128, v1: v128, v2: v128, v3: v128): v128 {
  const x01 = i32x4.add(i32x4.shuffle(v0, v1, 0, 1, 4, 5), i32x4.shuffle(v0, v1, 2, 3, 6, 7));
  const x23 = i32x4.add(i32x4.shuffle(v2, v3, 0, 1, 4, 5), i32x4.shuffle(v2, v3, 2, 3, 6, 7));
  return i32x4.add(i32x4.shuffle(x01, x23, 0, 2, 4, 6), i32x4.shuffle(x01, x23, 1, 3, 5, 7));
}

/**
 * out[t][r] for rows [r0, r1) (r0 a multiple of 4) and n tokens. w: Q8_0 rows of rowBytes; k: a multiple of 32.
 * Activations: q (i8, token-major, kp bytes per token, the 16-value vectors of each 128-chunk in (half, field)
 * order: elements 32l + 16h + 0..15 at byte 64h + 16l of the chunk), d (f32 [k/32][capacity]).
 */
export function int8HeadMatmul(
  w: usize, rowBytes: usize, q: usize, kp: i32, d: usize, capacity: i32, k: i32, n: i32, o: usize, oStride: usize,
  r0: i32, r1: i32,
): void {
  const blocks = k >> 5;
  const r4 = r0 + ((r1 - r0) & ~3);
  const q4 = (r4 - r0) >> 2, quarter = <usize>q4 * rowBytes, oQuarter = <usize>q4 << 2;
  for (let t = 0; t < n; t++) {
    const xq = q + <usize>t * <usize>kp;
    const xd = d + (<usize>t << 2);
    const ot = o + <usize>t * oStride;
    for (let r = r0; r < r0 + q4; r++) {
      const p0 = w + <usize>r * rowBytes;
      const p1 = p0 + quarter, p2 = p1 + quarter, p3 = p2 + quarter;
      let acc = f32x4.splat(0);
      for (let b = 0; b < blocks; b++) {
        const xb = xq + (<usize>(b >> 2) << 7) + (<usize>(b & 3) << 4);
        const x0 = v128.load(xb), x1 = v128.load(xb, 64);
        const xa = i16x8.extend_low_i8x16_s(x0), xbb = i16x8.extend_high_i8x16_s(x0);
        const xc = i16x8.extend_low_i8x16_s(x1), xdd = i16x8.extend_high_i8x16_s(x1);
        const bo = <usize>b * 34;
        const s = hsum4I32(
          blockDot(p0 + bo + 2, xa, xbb, xc, xdd),
          blockDot(p1 + bo + 2, xa, xbb, xc, xdd),
          blockDot(p2 + bo + 2, xa, xbb, xc, xdd),
          blockDot(p3 + bo + 2, xa, xbb, xc, xdd),
        );
        let h = i32x4.splat(<i32>load<u16>(p0 + bo));
        h = i32x4.replace_lane(h, 1, <i32>load<u16>(p1 + bo));
        h = i32x4.replace_lane(h, 2, <i32>load<u16>(p2 + bo));
        h = i32x4.replace_lane(h, 3, <i32>load<u16>(p3 + bo));
        const scale = f32x4.mul(f16x4ToF32(h), v128.load32_splat(xd + ((<usize>b * <usize>capacity) << 2)));
        acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(s), scale));
      }
      const or = ot + (<usize>r << 2);
      store<f32>(or, f32x4.extract_lane(acc, 0));
      store<f32>(or + oQuarter, f32x4.extract_lane(acc, 1));
      store<f32>(or + 2 * oQuarter, f32x4.extract_lane(acc, 2));
      store<f32>(or + 3 * oQuarter, f32x4.extract_lane(acc, 3));
    }
    for (let r = r4; r < r1; r++) {
      const p = w + <usize>r * rowBytes;
      let acc: f32 = 0;
      for (let b = 0; b < blocks; b++) {
        const xb = xq + (<usize>(b >> 2) << 7) + (<usize>(b & 3) << 4);
        const x0 = v128.load(xb), x1 = v128.load(xb, 64);
        const bo = <usize>b * 34;
        const s = hsumI32(blockDot(p + bo + 2, i16x8.extend_low_i8x16_s(x0), i16x8.extend_high_i8x16_s(x0),
          i16x8.extend_low_i8x16_s(x1), i16x8.extend_high_i8x16_s(x1)));
        const scale = f16ToF32(<u32>load<u16>(p + bo)) * load<f32>(xd + ((<usize>b * <usize>capacity) << 2));
        acc += <f32>s * scale;
      }
      store<f32>(ot + (<usize>r << 2), acc);
    }
  }
}
