// Float matmul: out[t][r] = Σ_i W[r][i]·x[t][i] for F32, F16 and Q8_0 weights and f32 activations.
// W: rows of rowBytes bytes (F32 k·4, F16 k·2, Q8_0 k/32·34); x: f32 [n][k] (xStride bytes per token);
// out: f32, oStride bytes per token. Every (row, token) is accumulated lane-wise in steps of 4, reduced with
// hsumF32 and finished with the scalar tail, whatever the tile, so threads and tiles agree bit for bit.
import { f16ToF32, f16x4ToF32, hsumF32, hsum4F32 } from "./common";

export const WT_F32: i32 = 0;
export const WT_F16: i32 = 1;
export const WT_Q8_0: i32 = 2;

@inline function wload(ty: i32, p: usize, i: usize): v128 {
  if (ty == WT_F32) return v128.load(p + (i << 2));
  return f16x4ToF32(v128.load16x4_u(p + (i << 1)));
}

@inline function wscalar(ty: i32, p: usize, i: usize): f32 {
  if (ty == WT_F32) return load<f32>(p + (i << 2));
  return f16ToF32(load<u16>(p + (i << 1)));
}

@inline function tail(ty: i32, wr: usize, xt: usize, k: i32, s: f32): f32 {
  for (let i = k & ~3; i < k; i++) s += wscalar(ty, wr, <usize>i) * load<f32>(xt + (<usize>i << 2));
  return s;
}

// 4 rows × 1 token (matvec).
@inline function fR4T1(ty: i32, w: usize, rowBytes: usize, x: usize, k: i32, o: usize): void {
  const w1 = w + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const k4 = <usize>(k & ~3);
  for (let i: usize = 0; i < k4; i += 4) {
    const xv = v128.load(x + (i << 2));
    a0 = f32x4.add(a0, f32x4.mul(wload(ty, w, i), xv));
    a1 = f32x4.add(a1, f32x4.mul(wload(ty, w1, i), xv));
    a2 = f32x4.add(a2, f32x4.mul(wload(ty, w2, i), xv));
    a3 = f32x4.add(a3, f32x4.mul(wload(ty, w3, i), xv));
  }
  let v = hsum4F32(a0, a1, a2, a3);
  if (k & 3) {
    v = f32x4.replace_lane(v, 0, tail(ty, w, x, k, f32x4.extract_lane(v, 0)));
    v = f32x4.replace_lane(v, 1, tail(ty, w1, x, k, f32x4.extract_lane(v, 1)));
    v = f32x4.replace_lane(v, 2, tail(ty, w2, x, k, f32x4.extract_lane(v, 2)));
    v = f32x4.replace_lane(v, 3, tail(ty, w3, x, k, f32x4.extract_lane(v, 3)));
  }
  v128.store(o, v);
}

// 1 row × 4 tokens.
@inline function fR1T4(ty: i32, w: usize, x: usize, xStride: usize, k: i32, o: usize, oStride: usize): void {
  const x1 = x + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const k4 = <usize>(k & ~3);
  for (let i: usize = 0; i < k4; i += 4) {
    const wv = wload(ty, w, i);
    const xo = i << 2;
    a0 = f32x4.add(a0, f32x4.mul(wv, v128.load(x + xo)));
    a1 = f32x4.add(a1, f32x4.mul(wv, v128.load(x1 + xo)));
    a2 = f32x4.add(a2, f32x4.mul(wv, v128.load(x2 + xo)));
    a3 = f32x4.add(a3, f32x4.mul(wv, v128.load(x3 + xo)));
  }
  store<f32>(o, tail(ty, w, x, k, hsumF32(a0)));
  store<f32>(o + oStride, tail(ty, w, x1, k, hsumF32(a1)));
  store<f32>(o + 2 * oStride, tail(ty, w, x2, k, hsumF32(a2)));
  store<f32>(o + 3 * oStride, tail(ty, w, x3, k, hsumF32(a3)));
}

@inline function fR1T1(ty: i32, w: usize, x: usize, k: i32, o: usize): void {
  let a0 = f32x4.splat(0);
  const k4 = <usize>(k & ~3);
  for (let i: usize = 0; i < k4; i += 4) a0 = f32x4.add(a0, f32x4.mul(wload(ty, w, i), v128.load(x + (i << 2))));
  store<f32>(o, tail(ty, w, x, k, hsumF32(a0)));
}

// Q8_0: per block of 32, the 8 converted weight vectors are reused by every token of the tile.
@inline function q8Block(blk: usize, xt: usize, f0: v128, f1: v128, f2: v128, f3: v128, f4: v128, f5: v128, f6: v128, f7: v128): v128 {
  let p = f32x4.mul(f0, v128.load(xt));
  p = f32x4.add(p, f32x4.mul(f1, v128.load(xt, 16)));
  p = f32x4.add(p, f32x4.mul(f2, v128.load(xt, 32)));
  p = f32x4.add(p, f32x4.mul(f3, v128.load(xt, 48)));
  p = f32x4.add(p, f32x4.mul(f4, v128.load(xt, 64)));
  p = f32x4.add(p, f32x4.mul(f5, v128.load(xt, 80)));
  p = f32x4.add(p, f32x4.mul(f6, v128.load(xt, 96)));
  return f32x4.add(p, f32x4.mul(f7, v128.load(xt, 112)));
}

function q8R1(T: i32, w: usize, x: usize, xStride: usize, k: i32, o: usize, oStride: usize): void {
  const x1 = x + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const nb = k >> 5;
  for (let b = 0; b < nb; b++) {
    const blk = w + <usize>b * 34;
    const dv = f32x4.splat(f16ToF32(load<u16>(blk)));
    const v = v128.load(blk, 2);
    const v2 = v128.load(blk, 18);
    const l = i16x8.extend_low_i8x16_s(v), h = i16x8.extend_high_i8x16_s(v);
    const l2 = i16x8.extend_low_i8x16_s(v2), h2 = i16x8.extend_high_i8x16_s(v2);
    const f0 = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(l)), f1 = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(l));
    const f2 = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(h)), f3 = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(h));
    const f4 = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(l2)), f5 = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(l2));
    const f6 = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(h2)), f7 = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(h2));
    const xo = <usize>b << 7;
    a0 = f32x4.add(a0, f32x4.mul(q8Block(blk, x + xo, f0, f1, f2, f3, f4, f5, f6, f7), dv));
    if (T > 1) a1 = f32x4.add(a1, f32x4.mul(q8Block(blk, x1 + xo, f0, f1, f2, f3, f4, f5, f6, f7), dv));
    if (T > 2) a2 = f32x4.add(a2, f32x4.mul(q8Block(blk, x2 + xo, f0, f1, f2, f3, f4, f5, f6, f7), dv));
    if (T > 3) a3 = f32x4.add(a3, f32x4.mul(q8Block(blk, x3 + xo, f0, f1, f2, f3, f4, f5, f6, f7), dv));
  }
  store<f32>(o, hsumF32(a0));
  if (T > 1) store<f32>(o + oStride, hsumF32(a1));
  if (T > 2) store<f32>(o + 2 * oStride, hsumF32(a2));
  if (T > 3) store<f32>(o + 3 * oStride, hsumF32(a3));
}

@inline function floatMatmulT(ty: i32, w: usize, rowBytes: usize, x: usize, xStride: usize, k: i32, n: i32, o: usize, oStride: usize,
  r0: i32, r1: i32): void {
  if (ty == WT_Q8_0) {
    for (let r = r0; r < r1; r++) {
      const wr = w + <usize>r * rowBytes;
      const orow = o + (<usize>r << 2);
      for (let t = 0; t < n; t += 4) {
        q8R1(min(4, n - t), wr, x + <usize>t * xStride, xStride, k, orow + <usize>t * oStride, oStride);
      }
    }
    return;
  }
  if (n == 1) {
    let r = r0;
    for (; r + 4 <= r1; r += 4) fR4T1(ty, w + <usize>r * rowBytes, rowBytes, x, k, o + (<usize>r << 2));
    for (; r < r1; r++) fR1T1(ty, w + <usize>r * rowBytes, x, k, o + (<usize>r << 2));
    return;
  }
  for (let r = r0; r < r1; r++) {
    const wr = w + <usize>r * rowBytes;
    const orow = o + (<usize>r << 2);
    let t = 0;
    for (; t + 4 <= n; t += 4) fR1T4(ty, wr, x + <usize>t * xStride, xStride, k, orow + <usize>t * oStride, oStride);
    for (; t < n; t++) fR1T1(ty, wr, x + <usize>t * xStride, k, orow + <usize>t * oStride);
  }
}

/** ty: WT_F32 | WT_F16 | WT_Q8_0 (k a multiple of 32). Rows [r0, r1), all n tokens. */
export function floatMatmul(ty: i32, w: usize, rowBytes: usize, x: usize, xStride: usize, k: i32, n: i32, o: usize, oStride: usize,
  r0: i32, r1: i32): void {
  if (ty == WT_F32) floatMatmulT(WT_F32, w, rowBytes, x, xStride, k, n, o, oStride, r0, r1);
  else if (ty == WT_F16) floatMatmulT(WT_F16, w, rowBytes, x, xStride, k, n, o, oStride, r0, r1);
  else floatMatmulT(WT_Q8_0, w, rowBytes, x, xStride, k, n, o, oStride, r0, r1);
}
