// Causal self-attention over the KV cache, and the store of new keys/values into it.
//
// Cache layout (per layer): K and V are [kvHeads][capacity] rows of headDim elements, f32, f16 (IEEE half, round to
// nearest even on store) or q8_0 (q8RowBytes: headDim int8 codes, padded to 4 bytes, then one f32 scale per 32 codes,
// the last block ragged; an element is worth f32(code) · scale, rounded, and the kernels use exactly that value):
// head-major, so that each query head reads its keys and values as one sequential stream (with rows
// of all heads interleaved, a head read 192 bytes of every 3 KiB on the 700M shape, and decode attention cost twice
// its time alone once the cache came from memory: bench/README.md). Query token t of a batch sits at position pos0 + t and sees cache positions 0 ..= pos0 + t.
// Grouped-query attention: query head h reads kv head h / (heads / kvHeads).
//
// The work unit is a block of ATTENTION_TOKEN_BLOCK query tokens × one kv head (see attention below); each query
// (t, h) owns row t·heads + h of the `scores` scratch (scoreStride floats), so units never share memory they write.
import { ATTENTION_TOKEN_BLOCK, KV_F16, KV_F32, KV_Q8_0 } from "./abi";
import { expF32x4, f16ToF32, f16x4ToF32, hmaxF32, hsum4F32, hsumF32, storeLanes4 } from "./common";

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
 * Four f32 to half bits (in i32 lanes), round to nearest even, for values that are zero or normal halves
 * (2^-14 ≤ |x| < 65520: the exponent rebiased, the mantissa rounded with the carry running into the exponent);
 * `ok` is false in a lane outside that range (subnormal, overflow, inf, NaN), which f32ToF16 must convert.
 */
@inline function f16x4Normal(x: v128): v128 {
  const abs = v128.and(x, i32x4.splat(0x7fffffff));
  const t = i32x4.sub(abs, i32x4.splat(0x38000000));
  const h = i32x4.shr_u(i32x4.add(i32x4.add(t, i32x4.splat(0xfff)), v128.and(i32x4.shr_u(t, 13), i32x4.splat(1))), 13);
  const sign = v128.and(i32x4.shr_u(x, 16), i32x4.splat(0x8000));
  return v128.or(sign, v128.andnot(h, i32x4.eq(abs, i32x4.splat(0))));
}

@inline function f16x4Ok(x: v128): v128 {
  const abs = v128.and(x, i32x4.splat(0x7fffffff));
  const normal = v128.and(i32x4.ge_u(abs, i32x4.splat(0x38800000)), i32x4.le_u(abs, i32x4.splat(0x477fefff)));
  return v128.or(normal, i32x4.eq(abs, i32x4.splat(0)));
}

/** Bytes of one q8_0 cache row of headDim elements: the codes padded to 4 bytes, then ⌈headDim / 32⌉ f32 scales. */
@inline function q8RowBytes(headDim: i32): usize {
  return (<usize>(headDim + 3) & ~3) + (<usize>((headDim + 31) >> 5) << 2);
}

/** Copies `count` f32 at x to the cache at `dst` (f32, or f16 when f16 != 0: eight at a time where all eight are
 *  zero or normal halves, exactly as f32ToF16 rounds). */
@inline function storeRun(x: usize, dst: usize, count: i32, f16: i32): void {
  if (!f16) {
    memory.copy(dst, x, <usize>count << 2);
    return;
  }
  let e = 0;
  for (; e + 8 <= count; e += 8) {
    const a = v128.load(x + (<usize>e << 2));
    const b = v128.load(x + (<usize>e << 2), 16);
    const d = dst + (<usize>e << 1);
    if (i32x4.all_true(v128.and(f16x4Ok(a), f16x4Ok(b)))) {
      v128.store(d, i16x8.narrow_i32x4_u(f16x4Normal(a), f16x4Normal(b)));
    } else {
      for (let i = 0; i < 8; i++) store<u16>(d + (<usize>i << 1), <u16>f32ToF16(load<f32>(x + (<usize>(e + i) << 2))));
    }
  }
  for (; e < count; e++) store<u16>(dst + (<usize>e << 1), <u16>f32ToF16(load<f32>(x + (<usize>e << 2))));
}

/**
 * Quantizes one row of headDim f32 at x into a q8_0 cache row at dst: per block of 32 (the last one ragged) the
 * scale d = max|x| / 127 and the codes round-to-nearest-even(x · (1/d)), 0 for an all-zero block. A block holding
 * ±inf or NaN gets a non-finite scale, so all of its elements read back as NaN (as the reference in
 * src/runtime/cpu/reference/attention.ts does).
 */
function storeRowQ8(x: usize, dst: usize, headDim: i32): void {
  const scales = dst + (<usize>(headDim + 3) & ~3);
  for (let b0 = 0; b0 < headDim; b0 += 32) {
    const b1 = min(b0 + 32, headDim);
    if (b1 - b0 == 32) {
      store<f32>(scales + (<usize>(b0 >> 5) << 2), storeBlockQ8(x + (<usize>b0 << 2), dst + <usize>b0));
      continue;
    }
    let amax: f32 = 0;
    for (let i = b0; i < b1; i++) {
      const a = abs(load<f32>(x + (<usize>i << 2)));
      // NaN wins, so that the block's scale is NaN
      amax = a > amax || a != a ? a : amax;
    }
    const d: f32 = amax / 127;
    const id: f32 = d > 0 ? <f32>1 / d : 0;
    for (let i = b0; i < b1; i++) {
      let c = nearest(load<f32>(x + (<usize>i << 2)) * id);
      c = c == c ? min(max(c, -127), 127) : 0;
      store<i8>(dst + <usize>i, <i8>(<i32>c));
    }
    store<f32>(scales + (<usize>(b0 >> 5) << 2), d);
  }
}

/**
 * storeRowQ8's whole block of 32 at x, vectorized with the same results: f32x4.max keeps a NaN, f32x4.nearest
 * rounds half to even, the saturating conversion turns NaN into 0, and |x · (1/d)| rounds to at most 127, so the
 * saturating narrowings never clip. Returns the scale.
 */
function storeBlockQ8(x: usize, dst: usize): f32 {
  let m = f32x4.splat(0);
  for (let i: usize = 0; i < 32; i += 4) m = f32x4.max(m, f32x4.abs(v128.load(x + (i << 2))));
  const amax = hmaxF32(m);
  const d: f32 = amax / 127;
  const id = f32x4.splat(d > 0 ? <f32>1 / d : 0);
  for (let i: usize = 0; i < 32; i += 16) {
    const p = x + (i << 2);
    const c0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p), id)));
    const c1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 16), id)));
    const c2 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 32), id)));
    const c3 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 48), id)));
    v128.store(dst + i, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(c0, c1), i16x8.narrow_i32x4_s(c2, c3)));
  }
  return d;
}

/**
 * Copies n tokens of f32 rows x [n][width] (width = kvHeads·headDim) into the cache of element type `type` (KV_*) at
 * positions pos0.., element range [e0, e1) of n·width: token t's head g goes to row pos0 + t of head g's
 * [capacity] rows. A q8_0 cache quantizes whole rows: its range must start and end on multiples of headDim.
 */
export function kvStore(x: usize, cache: usize, width: i32, headDim: i32, capacity: i32, pos0: i32, type: i32, e0: i32, e1: i32): void {
  const rowBytes: usize = type == KV_Q8_0 ? q8RowBytes(headDim) : <usize>headDim * (type == KV_F16 ? 2 : 4);
  const eb: usize = type == KV_F16 ? 2 : 4;
  let e = e0;
  while (e < e1) {
    const t = e / width;
    const c = e - t * width;
    const g = c / headDim;
    const d = c - g * headDim;
    const run = min(e1 - e, headDim - d);
    const row = cache + (<usize>g * <usize>capacity + <usize>(pos0 + t)) * rowBytes;
    if (type == KV_Q8_0) storeRowQ8(x + (<usize>e << 2), row, headDim);
    else storeRun(x + (<usize>e << 2), row + <usize>d * eb, run, type == KV_F16 ? 1 : 0);
    e += run;
  }
}

// Elements i .. i + 3 (loadK: i a multiple of 4) or i (loadKScalar) of the cache row at p as f32. sOff: where a q8_0
// row's scales start (q8RowBytes); a q8_0 element is f32(code) · its block's scale, rounded once.
@inline function loadK(p: usize, i: usize, type: i32, sOff: usize): v128 {
  if (type == KV_F16) return f16x4ToF32(v128.load16x4_u(p + (i << 1)));
  if (type == KV_F32) return v128.load(p + (i << 2));
  const c = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v128.load32_zero(p + i))));
  return f32x4.mul(c, v128.load32_splat(p + sOff + ((i >> 5) << 2)));
}

@inline function loadKScalar(p: usize, i: usize, type: i32, sOff: usize): f32 {
  if (type == KV_F16) return f16ToF32(<u32>load<u16>(p + (i << 1)));
  if (type == KV_F32) return load<f32>(p + (i << 2));
  return <f32>load<i8>(p + i) * load<f32>(p + sOff + ((i >> 5) << 2));
}

/**
 * out[t][h·headDim ..] = softmax_j(scale · q_th · k_j) · v_j over cache positions j ≤ pos0 + t, for units
 * [u0, u1). A unit is a block of ATTENTION_TOKEN_BLOCK query tokens × one kv head (u = block·kvHeads + kv head):
 * its queries (every token of the block × every query head of the group) all read the same cache rows, so they
 * are taken four at a time and each key/value chunk is loaded and converted once for four dot products.
 * q: f32 [n][heads·headDim]; out: same shape (must not alias q); kc/vc: the layer's caches of `capacity` positions
 * per head; scores: f32 scratch
 * [n·heads][scoreStride] (row t·heads + h) with scoreStride ≥ pos0 + n.
 */
export function attention(
  q: usize,
  kc: usize,
  vc: usize,
  type: i32,
  out: usize,
  scores: usize,
  scoreStride: i32,
  heads: i32,
  kvHeads: i32,
  headDim: i32,
  capacity: i32,
  pos0: i32,
  scale: f32,
  n: i32,
  u0: i32,
  u1: i32,
): void {
  const group = heads / kvHeads;
  const kvRow = type == KV_Q8_0 ? q8RowBytes(headDim) : <usize>headDim * (type == KV_F16 ? 2 : 4);
  // where a q8_0 row's scales start
  const sOff = <usize>(headDim + 3) & ~3;
  // the rescaled f16 path (attendOneHalves) and the q8_0 one (attendOneQ8) take whole chunks of 8 elements
  const halves = type == KV_F16 && (headDim & 7) == 0;
  const q8 = type == KV_Q8_0 && (headDim & 7) == 0;
  // V8 re-materializes a v128.const at each use in a loop; a value Binaryen cannot fold (headDim >> 31 is 0) stays
  // in a register (as in float.ts)
  const z = i32x4.splat(headDim >> 31);
  const c8fff = v128.or(z, i16x8.splat(<i16>0x8fff)), rescale = v128.or(z, f32x4.splat(F16_RESCALE));
  for (let u = u0; u < u1; u++) {
    const block = u / kvHeads;
    const g = u - block * kvHeads;
    const t0 = block * ATTENTION_TOKEN_BLOCK;
    const nt = min(ATTENTION_TOKEN_BLOCK, n - t0);
    const count = nt * group; // queries of this unit, numbered c = (t − t0)·group + (h − g·group)
    const kvOff = <usize>g * <usize>capacity * kvRow;
    for (let c = 0; c < count; c += 4) {
      const qc = min(4, count - c);
      // rows (t·heads + h) of the up to four queries; missing ones repeat the first and are never stored
      const r0 = queryRow(c, t0, g, group, heads);
      const r1 = qc > 1 ? queryRow(c + 1, t0, g, group, heads) : r0;
      const r2 = qc > 2 ? queryRow(c + 2, t0, g, group, heads) : r0;
      const r3 = qc > 3 ? queryRow(c + 3, t0, g, group, heads) : r0;
      // the queries are in token order, so the last one sees the most positions
      const lenMax = pos0 + (qc > 3 ? r3 : qc > 2 ? r2 : qc > 1 ? r1 : r0) / heads + 1;
      if (qc == 1) {
        if (halves && attendOneHalves(q, kc + kvOff, vc + kvOff, kvRow, out, scores, scoreStride, headDim, r0, lenMax, scale, c8fff, rescale)) continue;
        if (q8) attendOneQ8(q, kc + kvOff, vc + kvOff, kvRow, sOff, out, scores, scoreStride, headDim, r0, lenMax, scale);
        else attendOne(q, kc + kvOff, vc + kvOff, kvRow, type, sOff, out, scores, scoreStride, headDim, r0, lenMax, scale);
        continue;
      }
      if (halves && attendFourHalves(q, kc + kvOff, vc + kvOff, kvRow, out, scores, scoreStride, headDim, r0, r1, r2, r3, qc, heads, pos0, lenMax, scale, c8fff, rescale)) continue;
      attendFour(q, kc + kvOff, vc + kvOff, kvRow, type, sOff, out, scores, scoreStride, headDim, r0, r1, r2, r3, qc, heads, pos0, lenMax, scale);
    }
  }
}

@inline function queryRow(c: i32, t0: i32, g: i32, group: i32, heads: i32): i32 {
  const t = t0 + c / group;
  return t * heads + g * group + (c % group);
}

/** 2^112 */
const F16_RESCALE: f32 = 5.192296858534828e33;

/** Max of the halves' magnitude bits << 1: ≥ 0xf800 in a lane once any half was ±inf/NaN (finite: ≤ 0xf7fe). */
@inline function f16Watch(m: v128, raw: v128): v128 {
  return i16x8.max_u(m, i16x8.shl(raw, 1));
}

// Eight halves (an i16x8 as loaded) to the f32 bit patterns sign | exponent-and-mantissa << 13, worth the
// halves' values × 2^-112, exactly (subnormals included; see f16HiToF32 in common.ts), in 2.5 instructions per 4
// halves instead of 8: A = raw << 13 and B = (raw >>s 3) & 0x8fff interleaved, halves 0–3 (lo) and 4–7 (hi).
@inline function halvesA(raw: v128): v128 {
  return i16x8.shl(raw, 13);
}
@inline function halvesB(raw: v128, c8fff: v128): v128 {
  return v128.and(i16x8.shr_s(raw, 3), c8fff);
}
@inline function lo(a: v128, b: v128): v128 {
  return i16x8.shuffle(a, b, 0, 8, 1, 9, 2, 10, 3, 11);
}
@inline function hi(a: v128, b: v128): v128 {
  return i16x8.shuffle(a, b, 4, 12, 5, 13, 6, 14, 7, 15);
}

/**
 * attendOne over an f16 cache with headDim a multiple of 8, computing the very same numbers cheaper: the halves
 * are moved into f32 patterns worth h·2^-112 (halvesA/B, lo/hi) and the other factor of each product is taken × 2^112
 * (the query, when every |q| < 2^16, and the probabilities, ≤ 1), so every product, and so every rounded sum in
 * attendOne's order, is the same. The scaled query is kept in the output row until the values overwrite it.
 * Returns false, with nothing meaningful written, when the query is out of range or a key or value half is
 * ±inf/NaN (which the patterns get wrong): the caller then runs attendOne.
 */
function attendOneHalves(
  q: usize, kp: usize, vp: usize, kvRow: usize, out: usize, scores: usize, scoreStride: i32,
  headDim: i32, r: i32, len: i32, scale: f32, c8fff: v128, rescale: v128,
): bool {
  const hd = <usize>headDim;
  const qp = q + ((<usize>r * hd) << 2);
  const op = out + ((<usize>r * hd) << 2);
  const sp = scores + ((<usize>r * <usize>scoreStride) << 2);
  let mx = f32x4.splat(0);
  for (let i: usize = 0; i < hd; i += 4) {
    const v = v128.load(qp + (i << 2));
    mx = f32x4.max(mx, f32x4.abs(v));
    v128.store(op + (i << 2), f32x4.mul(v, rescale));
  }
  // NaN fails the comparison as well
  if (!(hmaxF32(mx) < 65536)) return false;
  let watch = i16x8.splat(0);
  const len4 = len & ~3;
  // the scores of 4 positions at a time, position j of each quarter of [0, len4): four streams of keys, which the
  // hardware prefetcher follows better than one; each score is the same sum whichever positions share its tile
  // (2048 positions: 50 → 45 ms a token, bench/README.md)
  const quarter = len4 >> 2, kq = <usize>quarter * kvRow, sq = <usize>quarter << 2;
  for (let j = 0; j < quarter; j++) {
    const k0 = kp + <usize>j * kvRow;
    const k1 = k0 + kq, k2 = k1 + kq, k3 = k2 + kq;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let i: usize = 0; i < hd; i += 8) {
      const qa = v128.load(op + (i << 2)), qb = v128.load(op + (i << 2), 16);
      const r0 = v128.load(k0 + (i << 1)), r1 = v128.load(k1 + (i << 1)), r2 = v128.load(k2 + (i << 1)), r3 = v128.load(k3 + (i << 1));
      watch = f16Watch(f16Watch(f16Watch(f16Watch(watch, r0), r1), r2), r3);
      const A0 = halvesA(r0), B0 = halvesB(r0, c8fff), A1 = halvesA(r1), B1 = halvesB(r1, c8fff);
      const A2 = halvesA(r2), B2 = halvesB(r2, c8fff), A3 = halvesA(r3), B3 = halvesB(r3, c8fff);
      a0 = f32x4.add(f32x4.add(a0, f32x4.mul(qa, lo(A0, B0))), f32x4.mul(qb, hi(A0, B0)));
      a1 = f32x4.add(f32x4.add(a1, f32x4.mul(qa, lo(A1, B1))), f32x4.mul(qb, hi(A1, B1)));
      a2 = f32x4.add(f32x4.add(a2, f32x4.mul(qa, lo(A2, B2))), f32x4.mul(qb, hi(A2, B2)));
      a3 = f32x4.add(f32x4.add(a3, f32x4.mul(qa, lo(A3, B3))), f32x4.mul(qb, hi(A3, B3)));
    }
    storeLanes4(sp + (<usize>j << 2), sq, f32x4.mul(hsum4F32(a0, a1, a2, a3), f32x4.splat(scale)));
  }
  for (let j = len4; j < len; j++) {
    const k = kp + <usize>j * kvRow;
    let acc = f32x4.splat(0);
    for (let i: usize = 0; i < hd; i += 8) {
      const raw = v128.load(k + (i << 1));
      watch = f16Watch(watch, raw);
      const A = halvesA(raw), B = halvesB(raw, c8fff);
      acc = f32x4.add(acc, f32x4.mul(v128.load(op + (i << 2)), lo(A, B)));
      acc = f32x4.add(acc, f32x4.mul(v128.load(op + (i << 2), 16), hi(A, B)));
    }
    store<f32>(sp + (<usize>j << 2), hsumF32(acc) * scale);
  }
  const inv = softmaxRow(sp, len);
  for (let i: usize = 0; i < hd; i += 4) v128.store(op + (i << 2), f32x4.splat(0));
  for (let j = 0; j < len4; j += 4) {
    const v0 = vp + <usize>j * kvRow;
    const v1 = v0 + kvRow, v2 = v1 + kvRow, v3 = v2 + kvRow;
    const pj = sp + (<usize>j << 2);
    const p0 = f32x4.mul(v128.load32_splat(pj), rescale), p1 = f32x4.mul(v128.load32_splat(pj + 4), rescale);
    const p2 = f32x4.mul(v128.load32_splat(pj + 8), rescale), p3 = f32x4.mul(v128.load32_splat(pj + 12), rescale);
    for (let i: usize = 0; i < hd; i += 8) {
      const r0 = v128.load(v0 + (i << 1)), r1 = v128.load(v1 + (i << 1)), r2 = v128.load(v2 + (i << 1)), r3 = v128.load(v3 + (i << 1));
      watch = f16Watch(f16Watch(f16Watch(f16Watch(watch, r0), r1), r2), r3);
      const A0 = halvesA(r0), B0 = halvesB(r0, c8fff), A1 = halvesA(r1), B1 = halvesB(r1, c8fff);
      const A2 = halvesA(r2), B2 = halvesB(r2, c8fff), A3 = halvesA(r3), B3 = halvesB(r3, c8fff);
      const xa = f32x4.add(f32x4.mul(p0, lo(A0, B0)), f32x4.mul(p1, lo(A1, B1)));
      const ya = f32x4.add(f32x4.mul(p2, lo(A2, B2)), f32x4.mul(p3, lo(A3, B3)));
      const xb = f32x4.add(f32x4.mul(p0, hi(A0, B0)), f32x4.mul(p1, hi(A1, B1)));
      const yb = f32x4.add(f32x4.mul(p2, hi(A2, B2)), f32x4.mul(p3, hi(A3, B3)));
      v128.store(op + (i << 2), f32x4.add(v128.load(op + (i << 2)), f32x4.add(xa, ya)));
      v128.store(op + (i << 2), f32x4.add(v128.load(op + (i << 2), 16), f32x4.add(xb, yb)), 16);
    }
  }
  for (let j = len4; j < len; j++) {
    const pv = f32x4.mul(v128.load32_splat(sp + (<usize>j << 2)), rescale);
    const v = vp + <usize>j * kvRow;
    for (let i: usize = 0; i < hd; i += 8) {
      const raw = v128.load(v + (i << 1));
      watch = f16Watch(watch, raw);
      const A = halvesA(raw), B = halvesB(raw, c8fff);
      v128.store(op + (i << 2), f32x4.add(v128.load(op + (i << 2)), f32x4.mul(pv, lo(A, B))));
      v128.store(op + (i << 2), f32x4.add(v128.load(op + (i << 2), 16), f32x4.mul(pv, hi(A, B))), 16);
    }
  }
  if (v128.any_true(i16x8.ge_u(watch, i16x8.splat(<i16>0xf800)))) return false;
  const iv = f32x4.splat(inv);
  for (let i: usize = 0; i < hd; i += 4) v128.store(op + (i << 2), f32x4.mul(v128.load(op + (i << 2)), iv));
  return true;
}

// Codes 0–3 (lo) and 4–7 (hi) of eight int8 codes (an i16x8 from load8x8_s) times their block's scale d: exactly
// loadK's values.
@inline function q8Lo(raw: v128, d: v128): v128 {
  return f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(raw)), d);
}
@inline function q8Hi(raw: v128, d: v128): v128 {
  return f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(raw)), d);
}

/**
 * attendOne over a q8_0 cache with headDim a multiple of 8: the same products and sums in the same order (so the
 * same bits as an f32 cache of the dequantized values), with the codes widened eight at a time and each block's
 * scale loaded once per row instead of once per four elements.
 */
function attendOneQ8(
  q: usize, kp: usize, vp: usize, kvRow: usize, sOff: usize, out: usize, scores: usize, scoreStride: i32,
  headDim: i32, r: i32, len: i32, scale: f32,
): void {
  const hd = <usize>headDim;
  const qp = q + ((<usize>r * hd) << 2);
  const op = out + ((<usize>r * hd) << 2);
  const sp = scores + ((<usize>r * <usize>scoreStride) << 2);
  const len4 = len & ~3;
  // the scores of 4 positions at a time, position j of each quarter of [0, len4), as attendOneHalves
  const quarter = len4 >> 2, kq = <usize>quarter * kvRow, sq = <usize>quarter << 2;
  for (let j = 0; j < quarter; j++) {
    const k0 = kp + <usize>j * kvRow;
    const k1 = k0 + kq, k2 = k1 + kq, k3 = k2 + kq;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let b0: usize = 0; b0 < hd; b0 += 32) {
      const b1 = min(b0 + 32, hd);
      // (b0 / 32) · 4: the block's scale
      const so = sOff + (b0 >> 3);
      const d0 = v128.load32_splat(k0 + so), d1 = v128.load32_splat(k1 + so), d2 = v128.load32_splat(k2 + so), d3 = v128.load32_splat(k3 + so);
      for (let i = b0; i < b1; i += 8) {
        const qa = v128.load(qp + (i << 2)), qb = v128.load(qp + (i << 2), 16);
        const c0 = v128.load8x8_s(k0 + i), c1 = v128.load8x8_s(k1 + i), c2 = v128.load8x8_s(k2 + i), c3 = v128.load8x8_s(k3 + i);
        a0 = f32x4.add(f32x4.add(a0, f32x4.mul(qa, q8Lo(c0, d0))), f32x4.mul(qb, q8Hi(c0, d0)));
        a1 = f32x4.add(f32x4.add(a1, f32x4.mul(qa, q8Lo(c1, d1))), f32x4.mul(qb, q8Hi(c1, d1)));
        a2 = f32x4.add(f32x4.add(a2, f32x4.mul(qa, q8Lo(c2, d2))), f32x4.mul(qb, q8Hi(c2, d2)));
        a3 = f32x4.add(f32x4.add(a3, f32x4.mul(qa, q8Lo(c3, d3))), f32x4.mul(qb, q8Hi(c3, d3)));
      }
    }
    storeLanes4(sp + (<usize>j << 2), sq, f32x4.mul(hsum4F32(a0, a1, a2, a3), f32x4.splat(scale)));
  }
  for (let j = len4; j < len; j++) {
    const k = kp + <usize>j * kvRow;
    let acc = f32x4.splat(0);
    for (let b0: usize = 0; b0 < hd; b0 += 32) {
      const b1 = min(b0 + 32, hd);
      const d = v128.load32_splat(k + sOff + (b0 >> 3));
      for (let i = b0; i < b1; i += 8) {
        const c = v128.load8x8_s(k + i);
        acc = f32x4.add(acc, f32x4.mul(v128.load(qp + (i << 2)), q8Lo(c, d)));
        acc = f32x4.add(acc, f32x4.mul(v128.load(qp + (i << 2), 16), q8Hi(c, d)));
      }
    }
    store<f32>(sp + (<usize>j << 2), hsumF32(acc) * scale);
  }
  const inv = softmaxRow(sp, len);
  for (let i: usize = 0; i < hd; i += 4) v128.store(op + (i << 2), f32x4.splat(0));
  for (let j = 0; j < len4; j += 4) {
    const v0 = vp + <usize>j * kvRow;
    const v1 = v0 + kvRow, v2 = v1 + kvRow, v3 = v2 + kvRow;
    const pj = sp + (<usize>j << 2);
    const p0 = v128.load32_splat(pj), p1 = v128.load32_splat(pj + 4), p2 = v128.load32_splat(pj + 8), p3 = v128.load32_splat(pj + 12);
    for (let b0: usize = 0; b0 < hd; b0 += 32) {
      const b1 = min(b0 + 32, hd);
      const so = sOff + (b0 >> 3);
      const d0 = v128.load32_splat(v0 + so), d1 = v128.load32_splat(v1 + so), d2 = v128.load32_splat(v2 + so), d3 = v128.load32_splat(v3 + so);
      for (let i = b0; i < b1; i += 8) {
        const c0 = v128.load8x8_s(v0 + i), c1 = v128.load8x8_s(v1 + i), c2 = v128.load8x8_s(v2 + i), c3 = v128.load8x8_s(v3 + i);
        const xa = f32x4.add(f32x4.mul(p0, q8Lo(c0, d0)), f32x4.mul(p1, q8Lo(c1, d1)));
        const ya = f32x4.add(f32x4.mul(p2, q8Lo(c2, d2)), f32x4.mul(p3, q8Lo(c3, d3)));
        const xb = f32x4.add(f32x4.mul(p0, q8Hi(c0, d0)), f32x4.mul(p1, q8Hi(c1, d1)));
        const yb = f32x4.add(f32x4.mul(p2, q8Hi(c2, d2)), f32x4.mul(p3, q8Hi(c3, d3)));
        v128.store(op + (i << 2), f32x4.add(v128.load(op + (i << 2)), f32x4.add(xa, ya)));
        v128.store(op + (i << 2), f32x4.add(v128.load(op + (i << 2), 16), f32x4.add(xb, yb)), 16);
      }
    }
  }
  for (let j = len4; j < len; j++) {
    const pv = v128.load32_splat(sp + (<usize>j << 2));
    const v = vp + <usize>j * kvRow;
    for (let b0: usize = 0; b0 < hd; b0 += 32) {
      const b1 = min(b0 + 32, hd);
      const d = v128.load32_splat(v + sOff + (b0 >> 3));
      for (let i = b0; i < b1; i += 8) {
        const c = v128.load8x8_s(v + i);
        v128.store(op + (i << 2), f32x4.add(v128.load(op + (i << 2)), f32x4.mul(pv, q8Lo(c, d))));
        v128.store(op + (i << 2), f32x4.add(v128.load(op + (i << 2), 16), f32x4.mul(pv, q8Hi(c, d))), 16);
      }
    }
  }
  const iv = f32x4.splat(inv);
  for (let i: usize = 0; i < hd; i += 4) v128.store(op + (i << 2), f32x4.mul(v128.load(op + (i << 2)), iv));
}

/** One query row r over `len` positions (kp/vp: the kv head's first cache row). */
function attendOne(
  q: usize, kp: usize, vp: usize, kvRow: usize, type: i32, sOff: usize, out: usize, scores: usize, scoreStride: i32,
  headDim: i32, r: i32, len: i32, scale: f32,
): void {
  const d4 = <usize>(headDim & ~3);
  const hd = <usize>headDim;
  const qp = q + ((<usize>r * hd) << 2);
  const op = out + ((<usize>r * hd) << 2);
  const sp = scores + ((<usize>r * <usize>scoreStride) << 2);
  // scores, four keys at a time: four independent sums instead of one dependent chain per key
  const len4 = len & ~3;
  for (let j = 0; j < len4; j += 4) {
    const k0 = kp + <usize>j * kvRow;
    const k1 = k0 + kvRow, k2 = k1 + kvRow, k3 = k2 + kvRow;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let i: usize = 0; i < d4; i += 4) {
      const qv = v128.load(qp + (i << 2));
      a0 = f32x4.add(a0, f32x4.mul(qv, loadK(k0, i, type, sOff)));
      a1 = f32x4.add(a1, f32x4.mul(qv, loadK(k1, i, type, sOff)));
      a2 = f32x4.add(a2, f32x4.mul(qv, loadK(k2, i, type, sOff)));
      a3 = f32x4.add(a3, f32x4.mul(qv, loadK(k3, i, type, sOff)));
    }
    let s4 = hsum4F32(a0, a1, a2, a3);
    for (let i = d4; i < hd; i++) {
      const x = load<f32>(qp + (i << 2));
      const kx = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(loadKScalar(k0, i, type, sOff)), 1, loadKScalar(k1, i, type, sOff)), 2, loadKScalar(k2, i, type, sOff)), 3, loadKScalar(k3, i, type, sOff));
      s4 = f32x4.add(s4, f32x4.mul(f32x4.splat(x), kx));
    }
    v128.store(sp + (<usize>j << 2), f32x4.mul(s4, f32x4.splat(scale)));
  }
  for (let j = len4; j < len; j++) {
    const k = kp + <usize>j * kvRow;
    let acc = f32x4.splat(0);
    for (let i: usize = 0; i < d4; i += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(qp + (i << 2)), loadK(k, i, type, sOff)));
    let s = hsumF32(acc);
    for (let i = d4; i < hd; i++) s += load<f32>(qp + (i << 2)) * loadKScalar(k, i, type, sOff);
    store<f32>(sp + (<usize>j << 2), s * scale);
  }
  const inv = softmaxRow(sp, len);
  // out = Σ_j p_j · v_j accumulated in place, four value rows per pass over out; then scaled by 1/Σ once
  for (let i: usize = 0; i < hd; i++) store<f32>(op + (i << 2), 0);
  for (let j = 0; j < len4; j += 4) {
    const v0 = vp + <usize>j * kvRow;
    const v1 = v0 + kvRow, v2 = v1 + kvRow, v3 = v2 + kvRow;
    const pj = sp + (<usize>j << 2);
    const p0 = v128.load32_splat(pj), p1 = v128.load32_splat(pj + 4), p2 = v128.load32_splat(pj + 8), p3 = v128.load32_splat(pj + 12);
    for (let i: usize = 0; i < d4; i += 4) {
      const x = f32x4.add(f32x4.mul(p0, loadK(v0, i, type, sOff)), f32x4.mul(p1, loadK(v1, i, type, sOff)));
      const y = f32x4.add(f32x4.mul(p2, loadK(v2, i, type, sOff)), f32x4.mul(p3, loadK(v3, i, type, sOff)));
      v128.store(op + (i << 2), f32x4.add(v128.load(op + (i << 2)), f32x4.add(x, y)));
    }
    for (let i = d4; i < hd; i++) {
      const x = load<f32>(pj) * loadKScalar(v0, i, type, sOff) + load<f32>(pj + 4) * loadKScalar(v1, i, type, sOff);
      const y = load<f32>(pj + 8) * loadKScalar(v2, i, type, sOff) + load<f32>(pj + 12) * loadKScalar(v3, i, type, sOff);
      store<f32>(op + (i << 2), load<f32>(op + (i << 2)) + (x + y));
    }
  }
  for (let j = len4; j < len; j++) {
    const p = load<f32>(sp + (<usize>j << 2));
    const pv = f32x4.splat(p);
    const v = vp + <usize>j * kvRow;
    for (let i: usize = 0; i < d4; i += 4) v128.store(op + (i << 2), f32x4.add(v128.load(op + (i << 2)), f32x4.mul(pv, loadK(v, i, type, sOff))));
    for (let i = d4; i < hd; i++) store<f32>(op + (i << 2), load<f32>(op + (i << 2)) + p * loadKScalar(v, i, type, sOff));
  }
  const iv = f32x4.splat(inv);
  for (let i: usize = 0; i < d4; i += 4) v128.store(op + (i << 2), f32x4.mul(v128.load(op + (i << 2)), iv));
  for (let i = d4; i < hd; i++) store<f32>(op + (i << 2), load<f32>(op + (i << 2)) * inv);
}

/**
 * Two to four query rows of one kv head. Each query c only sees positions < pos0 + (its token) + 1; its
 * probabilities past that are zero, so the shared loops can run all four to lenMax.
 */
function attendFour(
  q: usize, kp: usize, vp: usize, kvRow: usize, type: i32, sOff: usize, out: usize, scores: usize, scoreStride: i32,
  headDim: i32, r0: i32, r1: i32, r2: i32, r3: i32, qc: i32, heads: i32, pos0: i32, lenMax: i32, scale: f32,
): void {
  const d4 = <usize>(headDim & ~3);
  const hd = <usize>headDim;
  const stride = <usize>scoreStride << 2;
  const q0 = q + ((<usize>r0 * hd) << 2), q1 = q + ((<usize>r1 * hd) << 2);
  const q2 = q + ((<usize>r2 * hd) << 2), q3 = q + ((<usize>r3 * hd) << 2);
  const s0 = scores + <usize>r0 * stride, s1 = scores + <usize>r1 * stride;
  const s2 = scores + <usize>r2 * stride, s3 = scores + <usize>r3 * stride;
  const sc = f32x4.splat(scale);

  // scores: lane c of the sum is query c's dot product with key j
  for (let j = 0; j < lenMax; j++) {
    const k = kp + <usize>j * kvRow;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let i: usize = 0; i < d4; i += 4) {
      const kv = loadK(k, i, type, sOff);
      a0 = f32x4.add(a0, f32x4.mul(v128.load(q0 + (i << 2)), kv));
      a1 = f32x4.add(a1, f32x4.mul(v128.load(q1 + (i << 2)), kv));
      a2 = f32x4.add(a2, f32x4.mul(v128.load(q2 + (i << 2)), kv));
      a3 = f32x4.add(a3, f32x4.mul(v128.load(q3 + (i << 2)), kv));
    }
    let s = hsum4F32(a0, a1, a2, a3);
    for (let i = d4; i < hd; i++) {
      const kx = f32x4.splat(loadKScalar(k, i, type, sOff));
      const qx = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(q0 + (i << 2))), 1, load<f32>(q1 + (i << 2))), 2, load<f32>(q2 + (i << 2))), 3, load<f32>(q3 + (i << 2)));
      s = f32x4.add(s, f32x4.mul(qx, kx));
    }
    s = f32x4.mul(s, sc);
    storeScores4(s, j, s0, s1, s2, s3, qc);
  }

  const inv = softmax4(s0, s1, s2, s3, r0, r1, r2, r3, qc, heads, pos0, lenMax);
  const inv0 = f32x4.extract_lane(inv, 0), inv1 = f32x4.extract_lane(inv, 1);
  const inv2 = f32x4.extract_lane(inv, 2), inv3 = f32x4.extract_lane(inv, 3);
  // a missing query's probabilities are read from query 0's row; its output is never stored
  const p2 = qc > 2 ? s2 : s0;
  const p3 = qc > 3 ? s3 : s0;

  // out_c = Σ_j p_cj · v_j, each value chunk converted once for the four queries
  const o0 = out + ((<usize>r0 * hd) << 2), o1 = out + ((<usize>r1 * hd) << 2);
  const o2 = out + ((<usize>r2 * hd) << 2), o3 = out + ((<usize>r3 * hd) << 2);
  for (let i: usize = 0; i < d4; i += 4) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let j = 0; j < lenMax; j++) {
      const vv = loadK(vp + <usize>j * kvRow, i, type, sOff);
      const o = <usize>j << 2;
      a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(s0 + o), vv));
      a1 = f32x4.add(a1, f32x4.mul(v128.load32_splat(s1 + o), vv));
      a2 = f32x4.add(a2, f32x4.mul(v128.load32_splat(p2 + o), vv));
      a3 = f32x4.add(a3, f32x4.mul(v128.load32_splat(p3 + o), vv));
    }
    v128.store(o0 + (i << 2), f32x4.mul(a0, f32x4.splat(inv0)));
    v128.store(o1 + (i << 2), f32x4.mul(a1, f32x4.splat(inv1)));
    if (qc > 2) v128.store(o2 + (i << 2), f32x4.mul(a2, f32x4.splat(inv2)));
    if (qc > 3) v128.store(o3 + (i << 2), f32x4.mul(a3, f32x4.splat(inv3)));
  }
  for (let i = d4; i < hd; i++) {
    let b0: f32 = 0, b1: f32 = 0, b2: f32 = 0, b3: f32 = 0;
    for (let j = 0; j < lenMax; j++) {
      const x = loadKScalar(vp + <usize>j * kvRow, i, type, sOff);
      const o = <usize>j << 2;
      b0 += load<f32>(s0 + o) * x;
      b1 += load<f32>(s1 + o) * x;
      b2 += load<f32>(p2 + o) * x;
      b3 += load<f32>(p3 + o) * x;
    }
    store<f32>(o0 + (i << 2), b0 * inv0);
    store<f32>(o1 + (i << 2), b1 * inv1);
    if (qc > 2) store<f32>(o2 + (i << 2), b2 * inv2);
    if (qc > 3) store<f32>(o3 + (i << 2), b3 * inv3);
  }
}


/**
 * attendFour over an f16 cache with headDim a multiple of 8, computing the very same numbers cheaper, as
 * attendOneHalves does for one query: the halves become f32 patterns worth h·2^-112 (halvesA/B, lo/hi), once per 8
 * elements for all four queries, and the other factor of each product is taken × 2^112 (the queries, kept scaled in
 * their output rows until the values overwrite them, and the probabilities, scaled in their score rows), in
 * attendFour's order of operations. Returns false, with nothing meaningful written, when a query is out of range
 * (|q| ≥ 2^16) or a key or value half is ±inf/NaN: the caller then runs attendFour.
 */
function attendFourHalves(
  q: usize, kp: usize, vp: usize, kvRow: usize, out: usize, scores: usize, scoreStride: i32,
  headDim: i32, r0: i32, r1: i32, r2: i32, r3: i32, qc: i32, heads: i32, pos0: i32, lenMax: i32, scale: f32,
  c8fff: v128, rescale: v128,
): bool {
  const hd = <usize>headDim;
  const stride = <usize>scoreStride << 2;
  const q0 = q + ((<usize>r0 * hd) << 2), q1 = q + ((<usize>r1 * hd) << 2);
  const q2 = q + ((<usize>r2 * hd) << 2), q3 = q + ((<usize>r3 * hd) << 2);
  const o0 = out + ((<usize>r0 * hd) << 2), o1 = out + ((<usize>r1 * hd) << 2);
  const o2 = out + ((<usize>r2 * hd) << 2), o3 = out + ((<usize>r3 * hd) << 2);
  const s0 = scores + <usize>r0 * stride, s1 = scores + <usize>r1 * stride;
  const s2 = scores + <usize>r2 * stride, s3 = scores + <usize>r3 * stride;
  // the scaled queries in the output rows (a missing query repeats query 0: the same values written twice)
  let mx = f32x4.splat(0);
  for (let i: usize = 0; i < hd; i += 4) {
    const v0 = v128.load(q0 + (i << 2)), v1 = v128.load(q1 + (i << 2)), v2 = v128.load(q2 + (i << 2)), v3 = v128.load(q3 + (i << 2));
    mx = f32x4.max(f32x4.max(mx, f32x4.abs(v0)), f32x4.max(f32x4.abs(v1), f32x4.max(f32x4.abs(v2), f32x4.abs(v3))));
    v128.store(o0 + (i << 2), f32x4.mul(v0, rescale));
    v128.store(o1 + (i << 2), f32x4.mul(v1, rescale));
    v128.store(o2 + (i << 2), f32x4.mul(v2, rescale));
    v128.store(o3 + (i << 2), f32x4.mul(v3, rescale));
  }
  // NaN fails the comparison as well
  if (!(hmaxF32(mx) < 65536)) return false;
  const sc = f32x4.splat(scale);
  let watch = i16x8.splat(0);
  for (let j = 0; j < lenMax; j++) {
    const k = kp + <usize>j * kvRow;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let i: usize = 0; i < hd; i += 8) {
      const raw = v128.load(k + (i << 1));
      watch = f16Watch(watch, raw);
      const A = halvesA(raw), B = halvesB(raw, c8fff);
      const kl = lo(A, B), kh = hi(A, B);
      a0 = f32x4.add(f32x4.add(a0, f32x4.mul(v128.load(o0 + (i << 2)), kl)), f32x4.mul(v128.load(o0 + (i << 2), 16), kh));
      a1 = f32x4.add(f32x4.add(a1, f32x4.mul(v128.load(o1 + (i << 2)), kl)), f32x4.mul(v128.load(o1 + (i << 2), 16), kh));
      a2 = f32x4.add(f32x4.add(a2, f32x4.mul(v128.load(o2 + (i << 2)), kl)), f32x4.mul(v128.load(o2 + (i << 2), 16), kh));
      a3 = f32x4.add(f32x4.add(a3, f32x4.mul(v128.load(o3 + (i << 2)), kl)), f32x4.mul(v128.load(o3 + (i << 2), 16), kh));
    }
    const s = f32x4.mul(hsum4F32(a0, a1, a2, a3), sc);
    storeScores4(s, j, s0, s1, s2, s3, qc);
  }
  const inv = softmax4(s0, s1, s2, s3, r0, r1, r2, r3, qc, heads, pos0, lenMax);
  const inv0 = f32x4.extract_lane(inv, 0), inv1 = f32x4.extract_lane(inv, 1);
  const inv2 = f32x4.extract_lane(inv, 2), inv3 = f32x4.extract_lane(inv, 3);
  // the probabilities × 2^112 (≤ 1, so finite and exact), each row once: a missing query reads query 0's
  scaleRow(s0, lenMax, rescale);
  scaleRow(s1, lenMax, rescale);
  if (qc > 2) scaleRow(s2, lenMax, rescale);
  if (qc > 3) scaleRow(s3, lenMax, rescale);
  const p2 = qc > 2 ? s2 : s0;
  const p3 = qc > 3 ? s3 : s0;
  for (let i: usize = 0; i < hd; i += 8) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
    for (let j = 0; j < lenMax; j++) {
      const raw = v128.load(vp + <usize>j * kvRow + (i << 1));
      watch = f16Watch(watch, raw);
      const A = halvesA(raw), B = halvesB(raw, c8fff);
      const vl = lo(A, B), vh = hi(A, B);
      const o = <usize>j << 2;
      const x0 = v128.load32_splat(s0 + o), x1 = v128.load32_splat(s1 + o), x2 = v128.load32_splat(p2 + o), x3 = v128.load32_splat(p3 + o);
      a0 = f32x4.add(a0, f32x4.mul(x0, vl));
      b0 = f32x4.add(b0, f32x4.mul(x0, vh));
      a1 = f32x4.add(a1, f32x4.mul(x1, vl));
      b1 = f32x4.add(b1, f32x4.mul(x1, vh));
      a2 = f32x4.add(a2, f32x4.mul(x2, vl));
      b2 = f32x4.add(b2, f32x4.mul(x2, vh));
      a3 = f32x4.add(a3, f32x4.mul(x3, vl));
      b3 = f32x4.add(b3, f32x4.mul(x3, vh));
    }
    const i0 = f32x4.splat(inv0), i1 = f32x4.splat(inv1);
    v128.store(o0 + (i << 2), f32x4.mul(a0, i0));
    v128.store(o0 + (i << 2), f32x4.mul(b0, i0), 16);
    v128.store(o1 + (i << 2), f32x4.mul(a1, i1));
    v128.store(o1 + (i << 2), f32x4.mul(b1, i1), 16);
    if (qc > 2) {
      v128.store(o2 + (i << 2), f32x4.mul(a2, f32x4.splat(inv2)));
      v128.store(o2 + (i << 2), f32x4.mul(b2, f32x4.splat(inv2)), 16);
    }
    if (qc > 3) {
      v128.store(o3 + (i << 2), f32x4.mul(a3, f32x4.splat(inv3)));
      v128.store(o3 + (i << 2), f32x4.mul(b3, f32x4.splat(inv3)), 16);
    }
  }
  return !v128.any_true(i16x8.ge_u(watch, i16x8.splat(<i16>0xf800)));
}

/** x[0, len) × s (a power of two: exact). */
@inline function scaleRow(x: usize, len: i32, s: v128): void {
  let j = 0;
  for (; j + 4 <= len; j += 4) v128.store(x + (<usize>j << 2), f32x4.mul(v128.load(x + (<usize>j << 2)), s));
  for (; j < len; j++) store<f32>(x + (<usize>j << 2), load<f32>(x + (<usize>j << 2)) * f32x4.extract_lane(s, 0));
}


/** Lane c of s (query c's score at position j) into query c's score row; a missing query's row (c ≥ qc) is not written. */
@inline function storeScores4(s: v128, j: i32, s0: usize, s1: usize, s2: usize, s3: usize, qc: i32): void {
  const o = <usize>j << 2;
  store<f32>(s0 + o, f32x4.extract_lane(s, 0));
  store<f32>(s1 + o, f32x4.extract_lane(s, 1));
  if (qc > 2) store<f32>(s2 + o, f32x4.extract_lane(s, 2));
  if (qc > 3) store<f32>(s3 + o, f32x4.extract_lane(s, 3));
}

/** Each query's softmax over its own positions, zeros after them (softmaxMasked): lane c is query c's 1/Σ (0 when missing). */
@inline function softmax4(s0: usize, s1: usize, s2: usize, s3: usize, r0: i32, r1: i32, r2: i32, r3: i32, qc: i32, heads: i32,
  pos0: i32, lenMax: i32): v128 {
  let inv = f32x4.splat(0);
  inv = f32x4.replace_lane(inv, 0, softmaxMasked(s0, pos0 + r0 / heads + 1, lenMax));
  inv = f32x4.replace_lane(inv, 1, softmaxMasked(s1, pos0 + r1 / heads + 1, lenMax));
  if (qc > 2) inv = f32x4.replace_lane(inv, 2, softmaxMasked(s2, pos0 + r2 / heads + 1, lenMax));
  if (qc > 3) inv = f32x4.replace_lane(inv, 3, softmaxMasked(s3, pos0 + r3 / heads + 1, lenMax));
  return inv;
}
/** Scores [0, len) → e^(s − max), zeros on [len, lenMax); returns 1 / Σ. */
@inline function softmaxMasked(sp: usize, len: i32, lenMax: i32): f32 {
  const inv = softmaxRow(sp, len);
  for (let j = len; j < lenMax; j++) store<f32>(sp + (<usize>j << 2), 0);
  return inv;
}

/** Scores [0, len) → e^(s − max) in place; returns 1 / Σ. */
function softmaxRow(sp: usize, len: i32): f32 {
  const l4 = <usize>(len & ~3);
  let mv = f32x4.splat(-Infinity);
  for (let j: usize = 0; j < l4; j += 4) mv = f32x4.max(mv, v128.load(sp + (j << 2)));
  let m = hmaxF32(mv);
  for (let j = l4; j < <usize>len; j++) m = max(m, load<f32>(sp + (j << 2)));
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
  return <f32>1.0 / sum;
}
