// Causal self-attention over the KV cache, and the store of new keys/values into it.
//
// Cache layout (per layer): K and V are [ctx][kvHeads·headDim], f32 or f16 (f16: IEEE half, round to nearest
// even on store). Query token t of a batch sits at position pos0 + t and sees cache positions 0 ..= pos0 + t.
// Grouped-query attention: query head h reads kv head h / (heads / kvHeads).
//
// The work unit is one (token, head) pair: u = t·heads + h, so the thread pool splits [0, n·heads). Each unit
// owns one row of the `scores` scratch (scoreStride floats), so units never share memory they write.
import { expF32x4, f16ToF32, f16x4ToF32, hsumF32 } from "./common";

/** f32 → IEEE half bits, round to nearest even (overflow → inf, NaN kept quiet). */
@inline function f32ToF16(x: f32): u32 {
  const b = reinterpret<u32>(x);
  const sign = (b >> 16) & 0x8000;
  const e = <i32>((b >> 23) & 0xff);
  let m = b & 0x7fffff;
  if (e == 0xff) return sign | 0x7c00 | (m ? 0x200 : 0);
  let he = e - 127 + 15;
  if (he >= 31) return sign | 0x7c00;
  if (he <= 0) {
    if (he < -10) return sign; // below half the smallest subnormal: ±0
    m |= 0x800000;
    const shift = <u32>(14 - he);
    let h = m >> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = <u32>1 << (shift - 1);
    if (rem > halfway || (rem == halfway && (h & 1))) h++;
    return sign | h;
  }
  let h = (<u32>he << 10) | (m >> 13);
  const rem = m & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++; // a carry into the exponent is still correct
  return sign | h;
}

/**
 * Copies n tokens of f32 rows x [n][width] into the cache at positions pos0.. (element range [e0, e1) of
 * n·width), converting to f16 when f16 != 0. The cache row stride is width elements.
 */
export function kvStore(x: usize, cache: usize, width: i32, pos0: i32, f16: i32, e0: i32, e1: i32): void {
  const base = <usize>pos0 * <usize>width;
  if (f16) {
    for (let e = e0; e < e1; e++) store<u16>(cache + ((base + <usize>e) << 1), <u16>f32ToF16(load<f32>(x + (<usize>e << 2))));
  } else {
    memory.copy(cache + ((base + <usize>e0) << 2), x + (<usize>e0 << 2), <usize>(e1 - e0) << 2);
  }
}

@inline function loadK(p: usize, i: usize, f16: i32): v128 {
  return f16 ? f16x4ToF32(v128.load16x4_u(p + (i << 1))) : v128.load(p + (i << 2));
}

@inline function loadKScalar(p: usize, i: usize, f16: i32): f32 {
  return f16 ? f16ToF32(<u32>load<u16>(p + (i << 1))) : load<f32>(p + (i << 2));
}

/**
 * out[t][h·headDim ..] = softmax_j(scale · q_th · k_j) · v_j over cache positions j ≤ pos0 + t, for units
 * [u0, u1) (u = t·heads + h). q: f32 [n][heads·headDim]; out: same shape (must not alias q); kc/vc: the
 * layer's caches; scores: f32 scratch [n·heads][scoreStride] with scoreStride ≥ pos0 + n.
 */
export function attention(
  q: usize,
  kc: usize,
  vc: usize,
  f16: i32,
  out: usize,
  scores: usize,
  scoreStride: i32,
  heads: i32,
  kvHeads: i32,
  headDim: i32,
  pos0: i32,
  scale: f32,
  u0: i32,
  u1: i32,
): void {
  const group = heads / kvHeads;
  const d4 = <usize>(headDim & ~3);
  const hd = <usize>headDim;
  const eb: usize = f16 ? 2 : 4; // bytes per cache element
  const kvRow = <usize>(kvHeads * headDim) * eb;
  for (let u = u0; u < u1; u++) {
    const t = u / heads;
    const h = u - t * heads;
    const len = pos0 + t + 1;
    const qp = q + ((<usize>u * hd) << 2);
    const op = out + ((<usize>u * hd) << 2);
    const sp = scores + ((<usize>u * <usize>scoreStride) << 2);
    const kvOff = <usize>((h / group) * headDim) * eb;

    // scores s_j = scale · q·k_j, and their maximum
    let m: f32 = -Infinity;
    for (let j = 0; j < len; j++) {
      const kp = kc + <usize>j * kvRow + kvOff;
      let acc = f32x4.splat(0);
      for (let i: usize = 0; i < d4; i += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(qp + (i << 2)), loadK(kp, i, f16)));
      let s = hsumF32(acc);
      for (let i = d4; i < hd; i++) s += load<f32>(qp + (i << 2)) * loadKScalar(kp, i, f16);
      s *= scale;
      store<f32>(sp + (<usize>j << 2), s);
      m = max(m, s);
    }

    // p_j = e^(s_j − m) / Σ e^(s − m)
    const l4 = <usize>(len & ~3);
    const mm = f32x4.splat(m);
    let sum4 = f32x4.splat(0);
    for (let j: usize = 0; j < l4; j += 4) {
      const e = expF32x4(f32x4.sub(v128.load(sp + (j << 2)), mm));
      v128.store(sp + (j << 2), e);
      sum4 = f32x4.add(sum4, e);
    }
    let sum = hsumF32(sum4);
    for (let j = l4; j < <usize>len; j++) {
      const e = f32x4.extract_lane(expF32x4(f32x4.splat(load<f32>(sp + (j << 2)) - m)), 0);
      store<f32>(sp + (j << 2), e);
      sum += e;
    }
    const inv: f32 = <f32>1.0 / sum;

    // out = Σ_j p_j · v_j (then scaled by 1/Σ once)
    for (let i: usize = 0; i < hd; i++) store<f32>(op + (i << 2), 0);
    for (let j = 0; j < len; j++) {
      const p = load<f32>(sp + (<usize>j << 2));
      const pv = f32x4.splat(p);
      const vp = vc + <usize>j * kvRow + kvOff;
      for (let i: usize = 0; i < d4; i += 4) {
        v128.store(op + (i << 2), f32x4.add(v128.load(op + (i << 2)), f32x4.mul(pv, loadK(vp, i, f16))));
      }
      for (let i = d4; i < hd; i++) store<f32>(op + (i << 2), load<f32>(op + (i << 2)) + p * loadKScalar(vp, i, f16));
    }
    const iv = f32x4.splat(inv);
    for (let i: usize = 0; i < d4; i += 4) v128.store(op + (i << 2), f32x4.mul(v128.load(op + (i << 2)), iv));
    for (let i = d4; i < hd; i++) store<f32>(op + (i << 2), load<f32>(op + (i << 2)) * inv);
  }
}
