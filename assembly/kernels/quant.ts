// Activation quantization to int8 (the layouts are described in src/runtime/cpu/layout.ts).
// All kernels work on tokens [t0, t1) of x (f32, n × k, contiguous) so the thread pool can split them.
// Output layout (token-major; within each 128-value chunk the 16-value vectors are ordered half-major, so that the
// 4 two-bit fields of one 16-byte half of a code chunk meet 4 consecutive activation vectors):
//   q:   value e of token t at  q + t·kp + P(e)           (i8, k padded with 0 to kp; kp a multiple of 128)
//   q16: value e of token t at  q16 + (t·kp + P(e))·2     (i16 copy; 0 = none)
//   P(e) = (e & ~127) + 64·h + 16·l + (e & 15), l = (e % 128) / 32, h = (e % 32) / 16
//   d, s, xs: group g of token t at + (g·cap + t)·4;  bsums (Q8_K): token t, 16-group j at + (t·k/16 + j)·2
import { hmaxF32, hsumI32 } from "./common";

@inline function perm(e: usize): usize {
  return (e & ~127) + ((e & 16) << 2) + ((e & 96) >> 1) + (e & 15);
}

@inline function qAddr(q: usize, kp: usize, t: usize, e: usize): usize {
  return q + t * kp + perm(e);
}

@inline function q16Addr(q16: usize, kp: usize, t: usize, e: usize): usize {
  return q16 + ((t * kp + perm(e)) << 1);
}

/** Stores 16 quantized values (four i32x4) for elements [e, e + 16) of token t; returns their lane sums. */
@inline function storeQ(q: usize, q16: usize, kpu: usize, t: usize, e: usize, i0: v128, i1: v128, i2: v128, i3: v128): v128 {
  const h0 = i16x8.narrow_i32x4_s(i0, i1);
  const h1 = i16x8.narrow_i32x4_s(i2, i3);
  v128.store(qAddr(q, kpu, t, e), i8x16.narrow_i16x8_s(h0, h1));
  if (q16) {
    v128.store(q16Addr(q16, kpu, t, e), h0);
    v128.store(q16Addr(q16, kpu, t, e) + 16, h1);
  }
  return i32x4.add(i32x4.extadd_pairwise_i16x8_s(h0), i32x4.extadd_pairwise_i16x8_s(h1));
}

/**
 * nearest(x·iscale) as i32 for 4 values. Every finite x of the group has |x·iscale| ≤ 127·(1 + 2^-23)², so the
 * result is within ±127 with no clamp; a NaN product (a NaN x, or ±inf·0 when the group's amax is inf) gives 0, as
 * trunc_sat does. The relaxed build zeroes NaN lanes itself and converts with the plain truncation (one instruction
 * where V8 spends six on trunc_sat's saturation): the same bits in both builds.
 */
@inline function q4(p: usize, vs: v128): v128 {
  const r = f32x4.nearest(f32x4.mul(v128.load(p), vs));
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.relaxed_trunc_f32x4_s(v128.and(r, f32x4.eq(r, r)));
  return i32x4.trunc_sat_f32x4_s(r);
}

/** Zeroes the vectors of token t from the one holding element `from` to the padded end kp. */
@inline function zeroTail(q: usize, q16: usize, kpu: usize, t: usize, from: i32, kp: i32): void {
  const z = i32x4.splat(0);
  for (let e = <usize>(from & ~15); e < <usize>kp; e += 16) {
    v128.store(qAddr(q, kpu, t, e), z);
    if (q16) {
      v128.store(q16Addr(q16, kpu, t, e), z);
      v128.store(q16Addr(q16, kpu, t, e) + 16, z);
    }
  }
}

/**
 * llama.cpp's Q8_K (quantize_row_q8_K_ref), for TQ1_0/TQ2_0: per block of 256, `max` = the first value of
 * largest magnitude (sign kept), iscale = -127/max, q = min(127, nearest(iscale·x)), d = 1/iscale, and the
 * sums of each 16 q (bsums, i16, 0 = none) and of the whole block (s, i32). k must be a multiple of 256.
 */
export function quantQ8K(x: usize, k: i32, q: usize, q16: usize, kp: i32, cap: i32, d: usize, s: usize, bsums: usize,
  t0: i32, t1: i32): void {
  const nb = k >> 8;
  const capu = <usize>cap;
  const kpu = <usize>kp;
  for (let t = t0; t < t1; t++) {
    const tu = <usize>t;
    const xr = x + (tu * <usize>k << 2);
    const br: usize = bsums ? bsums + (tu * <usize>(k >> 4) << 1) : 0;
    zeroTail(q, q16, kpu, tu, k, kp);
    for (let b = 0; b < nb; b++) {
      const xb = xr + (<usize>b << 10);
      const eb = <usize>b << 8;
      const gso = (<usize>b * capu + tu) << 2;
      let vmax = f32x4.splat(0);
      for (let i: usize = 0; i < 1024; i += 16) vmax = f32x4.pmax(vmax, f32x4.abs(v128.load(xb + i)));
      const amax = hmaxF32(vmax);
      if (amax == 0) {
        zeroTail(q, q16, kpu, tu, <i32>eb, <i32>eb + 256);
        if (br) memory.fill(br + (<usize>b << 5), 0, 32);
        store<f32>(d + gso, 0);
        store<i32>(s + gso, 0);
        continue;
      }
      let j: usize = 0;
      while (Mathf.abs(load<f32>(xb + (j << 2))) != amax) j++;
      const max = load<f32>(xb + (j << 2));
      const iscale: f32 = <f32>-127.0 / max;
      const vs = f32x4.splat(iscale);
      let stot = 0;
      for (let i: usize = 0; i < 16; i++) {
        const p = xb + (i << 6);
        const sum = storeQ(q, q16, kpu, tu, eb + (i << 4),
          q4(p, vs), q4(p + 16, vs), q4(p + 32, vs), q4(p + 48, vs));
        const bs = hsumI32(sum);
        if (br) store<i16>(br + (<usize>b << 5) + (i << 1), <i16>bs);
        stot += bs;
      }
      store<f32>(d + gso, <f32>1.0 / iscale);
      store<i32>(s + gso, stot);
    }
  }
}

/**
 * Symmetric int8 by absmax per group of g values along the row (the last group may be shorter); g >= k gives
 * one scale per token (BitNet b1.58 / I2_S). iscale = 127/amax, q = nearest(iscale·x), d = amax/127
 * (0 and all-zero q when amax = 0). xs (Σx per group in index order, f32; 0 = none). g: a multiple of 16, or >= k.
 */
export function quantAbsmax(x: usize, k: i32, g: i32, q: usize, q16: usize, kp: i32, cap: i32, d: usize, s: usize, xs: usize,
  t0: i32, t1: i32): void {
  const ng = (k + g - 1) / g;
  const capu = <usize>cap;
  const kpu = <usize>kp;
  for (let t = t0; t < t1; t++) {
    const tu = <usize>t;
    const xr = x + (tu * <usize>k << 2);
    zeroTail(q, q16, kpu, tu, k, kp);
    for (let gi = 0; gi < ng; gi++) {
      const start = gi * g;
      const len = min(g, k - start);
      const xg = xr + (<usize>start << 2);
      const gso = (<usize>gi * capu + tu) << 2;
      const len16 = len & ~15;
      let vmax = f32x4.splat(0);
      let i = 0;
      for (; i + 4 <= len; i += 4) vmax = f32x4.pmax(vmax, f32x4.abs(v128.load(xg + (<usize>i << 2))));
      let amax = hmaxF32(vmax);
      for (; i < len; i++) amax = max(amax, Mathf.abs(load<f32>(xg + (<usize>i << 2))));
      if (xs) {
        let sx: f32 = 0;
        for (let j = 0; j < len; j++) sx += load<f32>(xg + (<usize>j << 2));
        store<f32>(xs + gso, sx);
      }
      if (amax == 0) {
        zeroTail(q, q16, kpu, tu, start, start + len);
        for (let j = len16; j < len; j++) {
          const e = <usize>(start + j);
          store<i8>(qAddr(q, kpu, tu, e), 0);
          if (q16) store<i16>(q16Addr(q16, kpu, tu, e), 0);
        }
        store<f32>(d + gso, 0);
        store<i32>(s + gso, 0);
        continue;
      }
      const iscale: f32 = <f32>127.0 / amax;
      const vs = f32x4.splat(iscale);
      let acc = i32x4.splat(0);
      let j = 0;
      for (; j < len16; j += 16) {
        const p = xg + (<usize>j << 2);
        acc = i32x4.add(acc, storeQ(q, q16, kpu, tu, <usize>(start + j),
          q4(p, vs), q4(p + 16, vs), q4(p + 32, vs), q4(p + 48, vs)));
      }
      let stot = hsumI32(acc);
      for (; j < len; j++) {
        let v = <i32>f32.nearest(load<f32>(xg + (<usize>j << 2)) * iscale);
        v = min(127, max(-127, v));
        const e = <usize>(start + j);
        store<i8>(qAddr(q, kpu, tu, e), <i8>v);
        if (q16) store<i16>(q16Addr(q16, kpu, tu, e), <i16>v);
        stot += v;
      }
      store<f32>(d + gso, amax / <f32>127.0);
      store<i32>(s + gso, stot);
    }
  }
}
