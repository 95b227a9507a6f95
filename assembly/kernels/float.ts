// Float matmul: out[t][r] = Σ_i W[r][i]·x[t][i] for F32, F16 and Q8_0 weights and f32 activations.
// W: rows of rowBytes bytes (F32 k·4, F16 k·2, Q8_0 k/32·34); x: f32 [n][k] (xStride bytes per token);
// out: f32, oStride bytes per token.
//
// F32 / F16: every (row, token) is accumulated the same way whatever the tile, so that threads and tiles agree
// bit for bit: two lane-wise accumulators, A over the elements i ≡ 0–3 (mod 8) and B over i ≡ 4–7 (mod 8) of
// the first k & ~7, the quad at k & ~7 (when k & 4) into A, then hsumF32(A + B) and the scalar tail (k & 3).
// The multiply-add is a rounded multiply then a rounded add in both builds, never relaxed_madd: whether that one
// fuses is the engine's choice per machine, and a fused one rounds once instead of twice, so builds and machines
// would give different bits (the cost, ≈ 17 % on the F16 matvec: bench/README.md). Two accumulators halve the
// add latency chain; tiles of 4 rows × 1 token (matvec) share each activation load over 4 rows, 1 row × 4 tokens
// share each weight conversion over 4 tokens.
//
// A matvec tile's rows are row t of each quarter (F16 with no ±inf/NaN, |x| < 2^16 and k % 8 = 0: of each eighth) of the
// thread's rows, not neighbours: each part is contiguous in memory, so the tile reads 4 (8) long sequential
// streams, which the hardware prefetcher follows past the caches. 4 neighbours at k = 1536 are four 3 KiB pieces of
// one 12 KiB block, which it follows poorly: the 700M head (32002 × 1536 F16, 98 MB) took 16.8 ms that way, 11.6 in
// quarters and ≈ 6–7 in eighths; the 2B-4T head (657 MB) ≈ 72, ≈ 72 and ≈ 55 (bench/README.md, "four far streams").
//
// F16 accumulates into A only (the conversion, not the add latency, bounds it). F16 matvec, when every |x| < 2^16,
// moves the halves' bits into f32 patterns worth w·2^-112 (2.5 instructions per 4 halves) and multiplies x by
// 2^112 instead (once per 4 rows): the products are the very same numbers, so results equal the exact path's.
// ±inf/NaN halves (which that shortcut gets wrong) are watched for on the side (2 instructions per 8 halves per
// row) unless the matrix was checked free of them at upload; a 4-row tile that holds one is redone with the exact
// converter.
import { WT_F16, WT_F32, WT_Q8_0 } from "./abi";
import { f16ToF32, f16HiToF32, f16x8Hi, f16x8Lo, hsumF32, hsum4F32, storeLanes4 } from "./common";

/** a·b + c, rounded twice (unfused) in both builds. */
@inline function madd(a: v128, b: v128, c: v128): v128 {
  return f32x4.add(f32x4.mul(a, b), c);
}

/** Weights i..i+3 of a row as f32 (exact). */
@inline function wload4(ty: i32, p: usize): v128 {
  if (ty == WT_F32) return v128.load(p);
  return f16HiToF32(i32x4.shl(v128.load16x4_u(p), 16));
}

@inline function wscalar(ty: i32, p: usize, i: usize): f32 {
  if (ty == WT_F32) return load<f32>(p + (i << 2));
  return f16ToF32(load<u16>(p + (i << 1)));
}

@inline function wshift(ty: i32): usize {
  return ty == WT_F32 ? 2 : 1;
}

/** hsumF32(a + b) plus the scalar tail of one (row, token). */
@inline function finish(ty: i32, a: v128, b: v128, wr: usize, xt: usize, k: i32): f32 {
  let s = hsumF32(f32x4.add(a, b));
  for (let i = k & ~3; i < k; i++) s += wscalar(ty, wr, <usize>i) * load<f32>(xt + (<usize>i << 2));
  return s;
}

// ── 4 rows × 1 token (matvec) ──────────────────────────────────────────────────────────────────────────────

/** Rows w0, w0 + rowStride, … (bytes) × 1 token; results to o, o + oStep, … (bytes). */
@inline function r4t1F32(w0: usize, rowStride: usize, x: usize, k: i32, o: usize, oStep: usize): void {
  const w1 = w0 + rowStride, w2 = w1 + rowStride, w3 = w2 + rowStride;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  const k8 = <usize>(k & ~7);
  for (let i: usize = 0; i < k8; i += 8) {
    const xp = x + (i << 2), wo = i << 2;
    const xa = v128.load(xp), xb = v128.load(xp, 16);
    a0 = madd(v128.load(w0 + wo), xa, a0);
    b0 = madd(v128.load(w0 + wo, 16), xb, b0);
    a1 = madd(v128.load(w1 + wo), xa, a1);
    b1 = madd(v128.load(w1 + wo, 16), xb, b1);
    a2 = madd(v128.load(w2 + wo), xa, a2);
    b2 = madd(v128.load(w2 + wo, 16), xb, b2);
    a3 = madd(v128.load(w3 + wo), xa, a3);
    b3 = madd(v128.load(w3 + wo, 16), xb, b3);
  }
  if (k & 4) {
    const xa = v128.load(x + (k8 << 2)), wo = k8 << 2;
    a0 = madd(v128.load(w0 + wo), xa, a0);
    a1 = madd(v128.load(w1 + wo), xa, a1);
    a2 = madd(v128.load(w2 + wo), xa, a2);
    a3 = madd(v128.load(w3 + wo), xa, a3);
  }
  r4store(WT_F32, a0, a1, a2, a3, b0, b1, b2, b3, w0, rowStride, x, k, o, oStep);
}

@inline function r4store(ty: i32, a0: v128, a1: v128, a2: v128, a3: v128, b0: v128, b1: v128, b2: v128, b3: v128,
  w0: usize, rowStride: usize, x: usize, k: i32, o: usize, oStep: usize): void {
  let v = hsum4F32(f32x4.add(a0, b0), f32x4.add(a1, b1), f32x4.add(a2, b2), f32x4.add(a3, b3));
  if (k & 3) {
    for (let i = k & ~3; i < k; i++) {
      const xi = load<f32>(x + (<usize>i << 2));
      v = f32x4.replace_lane(v, 0, f32x4.extract_lane(v, 0) + wscalar(ty, w0, <usize>i) * xi);
      v = f32x4.replace_lane(v, 1, f32x4.extract_lane(v, 1) + wscalar(ty, w0 + rowStride, <usize>i) * xi);
      v = f32x4.replace_lane(v, 2, f32x4.extract_lane(v, 2) + wscalar(ty, w0 + 2 * rowStride, <usize>i) * xi);
      v = f32x4.replace_lane(v, 3, f32x4.extract_lane(v, 3) + wscalar(ty, w0 + 3 * rowStride, <usize>i) * xi);
    }
  }
  storeLanes4(o, oStep, v);
}

/** Max of the halves' magnitude bits << 1: ≥ 0xf800 in a lane once any half was ±inf/NaN (finite: ≤ 0xf7fe). */
@inline function f16Watch(m: v128, raw: v128): v128 {
  return i16x8.max_u(m, i16x8.shl(raw, 1));
}

// Eight halves (an i16x8 as loaded) to the bit patterns sign | exponent-and-mantissa << 13 of their values
// × 2^-112 as f32 (exact, including subnormals; see f16HiToF32): the high 16 bits of each i32 lane are
// sign | em >> 3 (fB), the low 16 bits (em & 7) << 13 (fA), interleaved by one unpack per 4 halves.
@inline function fB(raw: v128, c8fff: v128): v128 {
  return v128.and(i16x8.shr_s(raw, 3), c8fff);
}
@inline function fA(raw: v128): v128 {
  return i16x8.shl(raw, 13);
}
@inline function fLo(a: v128, b: v128): v128 {
  return i16x8.shuffle(a, b, 0, 8, 1, 9, 2, 10, 3, 11);
}
@inline function fHi(a: v128, b: v128): v128 {
  return i16x8.shuffle(a, b, 4, 12, 5, 13, 6, 14, 7, 15);
}

/** 2^112 */
const F16_RESCALE: f32 = 5.192296858534828e33;

/** Eight halves of a row (raw, as loaded) into its accumulator: the scaled path's conversion and two multiply-adds. */
@inline function f16Madd8(raw: v128, xa: v128, xb: v128, a: v128, c8fff: v128): v128 {
  const A = fA(raw), B = fB(raw, c8fff);
  return madd(fHi(A, B), xb, madd(fLo(A, B), xa, a));
}

/**
 * 8 rows of F16 (w0, w0 + rowStride, …) × 1 token (results to o, o + oStep, …), k a multiple of 8, for a matrix with
 * no ±inf/NaN half (f16NonFinite at upload) and every |x| < 2^16: r4t1F16's scaled path without the watch, each row's
 * sums in the same order.
 */
function f16Rows8Finite(w0: usize, rowStride: usize, x: usize, k: i32, o: usize, oStep: usize, c8fff: v128, scale: v128): void {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
  for (let i: usize = 0; i < <usize>k; i += 8) {
    const xp = x + (i << 2);
    const xa = f32x4.mul(v128.load(xp), scale), xb = f32x4.mul(v128.load(xp, 16), scale);
    // one row after another: a pointer step instead of eight live row addresses
    let p = w0 + (i << 1);
    a0 = f16Madd8(v128.load(p), xa, xb, a0, c8fff);
    p += rowStride;
    a1 = f16Madd8(v128.load(p), xa, xb, a1, c8fff);
    p += rowStride;
    a2 = f16Madd8(v128.load(p), xa, xb, a2, c8fff);
    p += rowStride;
    a3 = f16Madd8(v128.load(p), xa, xb, a3, c8fff);
    p += rowStride;
    a4 = f16Madd8(v128.load(p), xa, xb, a4, c8fff);
    p += rowStride;
    a5 = f16Madd8(v128.load(p), xa, xb, a5, c8fff);
    p += rowStride;
    a6 = f16Madd8(v128.load(p), xa, xb, a6, c8fff);
    p += rowStride;
    a7 = f16Madd8(v128.load(p), xa, xb, a7, c8fff);
  }
  const zero = f32x4.splat(0);
  r4store(WT_F16, a0, a1, a2, a3, zero, zero, zero, zero, w0, rowStride, x, k, o, oStep);
  r4store(WT_F16, a4, a5, a6, a7, zero, zero, zero, zero, w0 + 4 * rowStride, rowStride, x, k, o + 4 * oStep, oStep);
}

/**
 * 4 rows of F16 (w0, w0 + rowStride, …) × 1 token (results to o, o + oStep, …), one accumulator per row (a ← fma(w[i..i+3], x[i..i+3], a), then the next 4).
 * scaled: x is multiplied by 2^112 instead of each weight (both exact: the products are the same numbers),
 * valid when every |x| < 2^16; ±inf/NaN halves are watched for, and false is returned (nothing stored) when
 * one was met. Otherwise (exact) every weight goes through f16HiToF32.
 */
@inline function r4t1F16(w0: usize, rowStride: usize, x: usize, k: i32, o: usize, oStep: usize, scaled: bool, watch: bool,
  c8fff: v128, scale: v128): bool {
  const w1 = w0 + rowStride, w2 = w1 + rowStride, w3 = w2 + rowStride;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let m = i16x8.splat(0);
  const k8 = <usize>(k & ~7);
  for (let i: usize = 0; i < k8; i += 8) {
    const xp = x + (i << 2), wo = i << 1;
    let xa = v128.load(xp), xb = v128.load(xp, 16);
    const r0 = v128.load(w0 + wo), r1 = v128.load(w1 + wo), r2 = v128.load(w2 + wo), r3 = v128.load(w3 + wo);
    if (scaled) {
      xa = f32x4.mul(xa, scale);
      xb = f32x4.mul(xb, scale);
      if (watch) m = f16Watch(f16Watch(f16Watch(f16Watch(m, r0), r1), r2), r3);
      a0 = f16Madd8(r0, xa, xb, a0, c8fff);
      a1 = f16Madd8(r1, xa, xb, a1, c8fff);
      a2 = f16Madd8(r2, xa, xb, a2, c8fff);
      a3 = f16Madd8(r3, xa, xb, a3, c8fff);
    } else {
      a0 = madd(f16HiToF32(f16x8Lo(r0)), xa, a0);
      a0 = madd(f16HiToF32(f16x8Hi(r0)), xb, a0);
      a1 = madd(f16HiToF32(f16x8Lo(r1)), xa, a1);
      a1 = madd(f16HiToF32(f16x8Hi(r1)), xb, a1);
      a2 = madd(f16HiToF32(f16x8Lo(r2)), xa, a2);
      a2 = madd(f16HiToF32(f16x8Hi(r2)), xb, a2);
      a3 = madd(f16HiToF32(f16x8Lo(r3)), xa, a3);
      a3 = madd(f16HiToF32(f16x8Hi(r3)), xb, a3);
    }
  }
  if (scaled && watch && v128.any_true(i16x8.ge_u(m, i16x8.splat(<i16>0xf800)))) return false;
  if (k & 4) {
    const xa = v128.load(x + (k8 << 2)), wo = k8 << 1;
    a0 = madd(wload4(WT_F16, w0 + wo), xa, a0);
    a1 = madd(wload4(WT_F16, w1 + wo), xa, a1);
    a2 = madd(wload4(WT_F16, w2 + wo), xa, a2);
    a3 = madd(wload4(WT_F16, w3 + wo), xa, a3);
  }
  const zero = f32x4.splat(0);
  r4store(WT_F16, a0, a1, a2, a3, zero, zero, zero, zero, w0, rowStride, x, k, o, oStep);
  return true;
}

// ── 1 row × 4 tokens, 1 row × 1 token ──────────────────────────────────────────────────────────────────────

@inline function r1t4(ty: i32, w: usize, x: usize, xStride: usize, k: i32, o: usize, oStride: usize): void {
  const x1 = x + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  const k8 = <usize>(k & ~7);
  const sh = wshift(ty);
  for (let i: usize = 0; i < k8; i += 8) {
    const xo = i << 2;
    if (ty == WT_F32) {
      const wa = v128.load(w + (i << 2)), wb = v128.load(w + (i << 2), 16);
      a0 = madd(wa, v128.load(x + xo), a0);
      b0 = madd(wb, v128.load(x + xo, 16), b0);
      a1 = madd(wa, v128.load(x1 + xo), a1);
      b1 = madd(wb, v128.load(x1 + xo, 16), b1);
      a2 = madd(wa, v128.load(x2 + xo), a2);
      b2 = madd(wb, v128.load(x2 + xo, 16), b2);
      a3 = madd(wa, v128.load(x3 + xo), a3);
      b3 = madd(wb, v128.load(x3 + xo, 16), b3);
    } else {
      const r = v128.load(w + (i << 1));
      const wa = f16HiToF32(f16x8Lo(r)), wb = f16HiToF32(f16x8Hi(r));
      a0 = madd(wb, v128.load(x + xo, 16), madd(wa, v128.load(x + xo), a0));
      a1 = madd(wb, v128.load(x1 + xo, 16), madd(wa, v128.load(x1 + xo), a1));
      a2 = madd(wb, v128.load(x2 + xo, 16), madd(wa, v128.load(x2 + xo), a2));
      a3 = madd(wb, v128.load(x3 + xo, 16), madd(wa, v128.load(x3 + xo), a3));
    }
  }
  if (k & 4) {
    const wa = wload4(ty, w + (k8 << sh));
    const xo = k8 << 2;
    a0 = madd(wa, v128.load(x + xo), a0);
    a1 = madd(wa, v128.load(x1 + xo), a1);
    a2 = madd(wa, v128.load(x2 + xo), a2);
    a3 = madd(wa, v128.load(x3 + xo), a3);
  }
  store<f32>(o, finish(ty, a0, b0, w, x, k));
  store<f32>(o + oStride, finish(ty, a1, b1, w, x1, k));
  store<f32>(o + 2 * oStride, finish(ty, a2, b2, w, x2, k));
  store<f32>(o + 3 * oStride, finish(ty, a3, b3, w, x3, k));
}

@inline function r1t1(ty: i32, w: usize, x: usize, k: i32, o: usize): void {
  let a = f32x4.splat(0), b = f32x4.splat(0);
  const k8 = <usize>(k & ~7);
  const sh = wshift(ty);
  for (let i: usize = 0; i < k8; i += 8) {
    a = madd(wload4(ty, w + (i << sh)), v128.load(x + (i << 2)), a);
    if (ty == WT_F32) b = madd(wload4(ty, w + ((i + 4) << sh)), v128.load(x + (i << 2), 16), b);
    else a = madd(wload4(ty, w + ((i + 4) << sh)), v128.load(x + (i << 2), 16), a);
  }
  if (k & 4) a = madd(wload4(ty, w + (k8 << sh)), v128.load(x + (k8 << 2)), a);
  store<f32>(o, finish(ty, a, b, w, x, k));
}

// F32 and F16 tiles are separate functions so that each loop gets its own register allocation.
// Rows [r0, r1) (a multiple of 4 of them) as 4 quarters of q rows: tile t takes row t of each (see the top).
function f32Rows4(w: usize, rowBytes: usize, x: usize, k: i32, o: usize, r0: i32, r1: i32): void {
  const q = <usize>((r1 - r0) >> 2);
  for (let r = r0; r < r0 + <i32>q; r++) r4t1F32(w + <usize>r * rowBytes, q * rowBytes, x, k, o + (<usize>r << 2), q << 2);
}

// Rows [r0, r1) (a multiple of 4 of them) in eighths (finite matrix, |x| < 2^16, k a multiple of 8; a last 4 rows as
// one tile) or quarters (see the top).
function f16Rows4(w: usize, rowBytes: usize, x: usize, k: i32, o: usize, finite: bool, r0: i32, r1: i32): void {
  // x·2^112 must stay finite: every |x| < 2^16 (NaN fails the test, and the exact path gives the same anyway)
  let mx = f32x4.splat(0);
  const k8 = <usize>(k & ~7);
  for (let i: usize = 0; i < k8; i += 4) mx = f32x4.max(mx, f32x4.abs(v128.load(x + (i << 2))));
  const scaled = f32x4.extract_lane(mx, 0) < 65536 && f32x4.extract_lane(mx, 1) < 65536
    && f32x4.extract_lane(mx, 2) < 65536 && f32x4.extract_lane(mx, 3) < 65536;
  // V8 (TurboFan) re-materializes a v128.const at each use inside a loop (3 instructions) and hoists nothing out
  // of loops; a v128 parameter that Binaryen cannot turn back into a constant (k >> 31 is 0) stays in a register
  const z = i32x4.splat(k >> 31);
  const c8fff = v128.or(z, i16x8.splat(<i16>0x8fff)), scale = v128.or(z, f32x4.splat(F16_RESCALE));
  if (scaled && finite && (k & 7) == 0) {
    const q8 = <usize>((r1 - r0) >> 3), r8 = r0 + (<i32>q8 << 3);
    for (let r = r0; r < r0 + <i32>q8; r++) f16Rows8Finite(w + <usize>r * rowBytes, q8 * rowBytes, x, k, o + (<usize>r << 2), q8 << 2, c8fff, scale);
    if (r8 < r1) f16Rows4Finite(w + <usize>r8 * rowBytes, rowBytes, x, k, o + (<usize>r8 << 2), 4, c8fff, scale);
    return;
  }
  const q = <usize>((r1 - r0) >> 2), rowStride = q * rowBytes, oStep = q << 2;
  for (let r = r0; r < r0 + <i32>q; r++) {
    const wr = w + <usize>r * rowBytes, orow = o + (<usize>r << 2);
    if (!scaled || !f16Rows4Scaled(wr, rowStride, x, k, orow, oStep, c8fff, scale)) f16Rows4Exact(wr, rowStride, x, k, orow, oStep);
  }
}

function f16Rows4Scaled(w: usize, rowStride: usize, x: usize, k: i32, o: usize, oStep: usize, c8fff: v128, scale: v128): bool {
  return r4t1F16(w, rowStride, x, k, o, oStep, true, true, c8fff, scale);
}

/** f16Rows4Scaled for a matrix known to hold no ±inf/NaN half: nothing to watch for. */
function f16Rows4Finite(w: usize, rowStride: usize, x: usize, k: i32, o: usize, oStep: usize, c8fff: v128, scale: v128): void {
  r4t1F16(w, rowStride, x, k, o, oStep, true, false, c8fff, scale);
}

function f16Rows4Exact(w: usize, rowStride: usize, x: usize, k: i32, o: usize, oStep: usize): void {
  const z = f32x4.splat(0);
  r4t1F16(w, rowStride, x, k, o, oStep, false, false, z, z);
}

function floatTokens(ty: i32, w: usize, rowBytes: usize, x: usize, xStride: usize, k: i32, n: i32, o: usize, oStride: usize,
  r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const wr = w + <usize>r * rowBytes;
    const orow = o + (<usize>r << 2);
    let t = 0;
    if (ty == WT_F32) {
      for (; t + 4 <= n; t += 4) r1t4(WT_F32, wr, x + <usize>t * xStride, xStride, k, orow + <usize>t * oStride, oStride);
      for (; t < n; t++) r1t1(WT_F32, wr, x + <usize>t * xStride, k, orow + <usize>t * oStride);
    } else {
      for (; t + 4 <= n; t += 4) r1t4(WT_F16, wr, x + <usize>t * xStride, xStride, k, orow + <usize>t * oStride, oStride);
      for (; t < n; t++) r1t1(WT_F16, wr, x + <usize>t * xStride, k, orow + <usize>t * oStride);
    }
  }
}

// ── Q8_0 ─────────────────────────────────────────────────────────────────────────────────────────────────────

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

function q8Matmul(w: usize, rowBytes: usize, x: usize, xStride: usize, k: i32, n: i32, o: usize, oStride: usize, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const wr = w + <usize>r * rowBytes;
    const orow = o + (<usize>r << 2);
    for (let t = 0; t < n; t += 4) {
      q8R1(min(4, n - t), wr, x + <usize>t * xStride, xStride, k, orow + <usize>t * oStride, oStride);
    }
  }
}

/**
 * ty: WT_F32 | WT_F16 | WT_Q8_0 (k a multiple of 32). Rows [r0, r1), all n tokens. finite: 1 when an F16 matrix holds
 * no ±inf/NaN half (f16NonFinite), so that the matvec need not watch for them.
 */
export function floatMatmul(ty: i32, w: usize, rowBytes: usize, x: usize, xStride: usize, k: i32, n: i32, o: usize, oStride: usize,
  finite: i32, r0: i32, r1: i32): void {
  if (ty == WT_Q8_0) {
    q8Matmul(w, rowBytes, x, xStride, k, n, o, oStride, r0, r1);
    return;
  }
  if (n == 1) {
    const r4 = r0 + ((r1 - r0) & ~3);
    if (ty == WT_F32) f32Rows4(w, rowBytes, x, k, o, r0, r4);
    else f16Rows4(w, rowBytes, x, k, o, finite != 0, r0, r4);
    for (let r = r4; r < r1; r++) {
      if (ty == WT_F32) r1t1(WT_F32, w + <usize>r * rowBytes, x, k, o + (<usize>r << 2));
      else r1t1(WT_F16, w + <usize>r * rowBytes, x, k, o + (<usize>r << 2));
    }
    return;
  }
  floatTokens(ty, w, rowBytes, x, xStride, k, n, o, oStride, r0, r1);
}

/** Sets the i32 at `flag` to 1 when one of the halves [h0, h1) at p is ±inf/NaN (exponent bits all ones). */
export function f16NonFinite(p: usize, flag: usize, h0: i32, h1: i32): void {
  let m = i16x8.splat(0);
  let i = <usize>h0;
  for (; i + 8 <= <usize>h1; i += 8) m = f16Watch(m, v128.load(p + (i << 1)));
  let found = v128.any_true(i16x8.ge_u(m, i16x8.splat(<i16>0xf800)));
  for (; i < <usize>h1; i++) if ((load<u16>(p + (i << 1)) & 0x7c00) == 0x7c00) found = true;
  if (found) atomic.store<i32>(flag, 1);
}
