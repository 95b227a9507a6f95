// The int8 output head (the engine's opt-in headType "q8_0"): Q8_0 weight rows (blocks of 32: f16 d, 32 × i8, as
// in GGUF) times activations quantized to int8 per group of 32 (quantAbsmax, kind "group", g = 32; layout.ts).
// Per (row, token, block) the 32 products are summed exactly in i32 (i8 widened to i16, i32x4.dot_i16x8_s: one
// pmaddwd per 8), then per row acc += f32(sum)·(d_w·d_x) in block order. Tiles of 4 rows share each widened
// activation vector and keep the 4 rows' sums in the 4 lanes; a tail row runs the same arithmetic alone. A tile's 8
// rows are row t of each eighth of the rows: eight long sequential streams, which the hardware prefetcher follows
// past the caches (float.ts says why; 2B-4T's head 48.4 → ≈ 31 ms, bench/README.md). No relaxed
// instruction: both wasm builds give the same bits (reference: src/runtime/cpu/reference/head-q8.ts).
import { f16ToF32, f16x4ToF32, hsumI32, storeLanes4 } from "./common";

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
 * One block (32 weights) of 4 rows — the rows at p, p + e, p + 2e, p + 3e (p: the block's first byte in the first
 * row) — against the widened activations: f32(Σ w·x)·(d_w·d_x) in the 4 lanes, dx the block's activation scale.
 */
@inline function quadBlock(p: usize, e: usize, xa: v128, xb: v128, xc: v128, xd: v128, dx: v128): v128 {
  const s = hsum4I32(blockDot(p + 2, xa, xb, xc, xd), blockDot(p + e + 2, xa, xb, xc, xd), blockDot(p + 2 * e + 2, xa, xb, xc, xd),
    blockDot(p + 3 * e + 2, xa, xb, xc, xd));
  let h = i32x4.splat(<i32>load<u16>(p));
  h = i32x4.replace_lane(h, 1, <i32>load<u16>(p + e));
  h = i32x4.replace_lane(h, 2, <i32>load<u16>(p + 2 * e));
  h = i32x4.replace_lane(h, 3, <i32>load<u16>(p + 3 * e));
  return f32x4.mul(f32x4.convert_i32x4_s(s), f32x4.mul(f16x4ToF32(h), dx));
}

/**
 * One token's tile of 8 rows (p0, p0 + e, …, p0 + 7e; results to o, o + oe, …, o + 7·oe) when `eight`, else of 4.
 * xq, xd: the token's activations and their scales (int8HeadMatmul).
 */
@inline function rowsTile(eight: bool, p0: usize, e: usize, blocks: i32, xq: usize, xd: usize, capacity: i32, o: usize, oe: usize): void {
  let acc = f32x4.splat(0);
  let acc2 = f32x4.splat(0);
  for (let b = 0; b < blocks; b++) {
    const xb = xq + (<usize>(b >> 2) << 7) + (<usize>(b & 3) << 4);
    const x0 = v128.load(xb), x1 = v128.load(xb, 64);
    const xa = i16x8.extend_low_i8x16_s(x0), xbb = i16x8.extend_high_i8x16_s(x0);
    const xc = i16x8.extend_low_i8x16_s(x1), xdd = i16x8.extend_high_i8x16_s(x1);
    const dx = v128.load32_splat(xd + ((<usize>b * <usize>capacity) << 2));
    const pb = p0 + <usize>b * 34;
    acc = f32x4.add(acc, quadBlock(pb, e, xa, xbb, xc, xdd, dx));
    if (eight) acc2 = f32x4.add(acc2, quadBlock(pb + 4 * e, e, xa, xbb, xc, xdd, dx));
  }
  storeLanes4(o, oe, acc);
  if (eight) storeLanes4(o + 4 * oe, oe, acc2);
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
  // 8 rows a tile, row t of each eighth of [r0, r8); a last 4 rows (r8 < r4) as one tile of neighbours
  const q8 = (r4 - r0) >> 3, r8 = r0 + (q8 << 3);
  for (let t = 0; t < n; t++) {
    const xq = q + <usize>t * <usize>kp;
    const xd = d + (<usize>t << 2);
    const ot = o + <usize>t * oStride;
    for (let r = r0; r < r0 + q8; r++) {
      rowsTile(true, w + <usize>r * rowBytes, <usize>q8 * rowBytes, blocks, xq, xd, capacity, ot + (<usize>r << 2), <usize>q8 << 2);
    }
    if (r8 < r4) rowsTile(false, w + <usize>r8 * rowBytes, rowBytes, blocks, xq, xd, capacity, ot + (<usize>r8 << 2), 4);
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
