// Small helpers shared by the kernels. Everything here is @inline: no call overhead in hot loops.

/**
 * Xor of every byte touchAhead read: a global, so that V8 keeps the loads (a global write is a side effect). Each
 * instance (thread) has its own; nobody reads it.
 */
let touched: i32 = 0;

/** Bytes ahead of the weights being read that a matvec touches (tuned in bench/README.md "Touch-ahead"). */
export const TOUCH_AHEAD: usize = 1024;

/**
 * Loads one byte of every 64-byte line of [p, min(p + bytes, end)): the weights a decode matvec reads next. Past
 * the caches a matvec's own loads leave its row streams stalled at every 4 KiB page (the hardware prefetcher stops
 * at page boundaries, and each page's first access walks the page table), so a 170 MB decode step read its codes
 * at ¼ of a plain stream; these loads, issued together a few lines ahead, overlap those misses. `end` keeps them
 * inside the matrix.
 */
@inline export function touchAhead(p: usize, bytes: usize, end: usize): void {
  const e = min(p + bytes, end);
  let x: i32 = 0;
  for (let q = p; q < e; q += 64) x ^= <i32>load<u8>(q);
  touched ^= x;
}

/**
 * Byte masks of a 2-bit code field (3) and of the next field in place (12), as memory: the two-quad decode tile loads
 * them at each use, and V8 folds such a load into the `and` as its operand. Written as constants, Deno's V8 (15.0)
 * rematerializes them at each use and Chromium's runs that tile 9 % slower; Node's is the same either way
 * (bench/README.md, "the decode tile over two quads"). A read-only data segment: an instance started on the shared
 * memory by another thread writes the same bytes again.
 */
export const MASK_3: usize = memory.data<u8>([3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3], 16);
export const MASK_12: usize = memory.data<u8>([12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12], 16);

/** IEEE half (the low 16 bits of h) to f32, exact for every value; never computes on a subnormal f32. */
@inline export function f16ToF32(h: u32): f32 {
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  let f: f32;
  if (e == 0) f = <f32>m * reinterpret<f32>(0x33800000); // m · 2^-24
  else if (e == 31) f = reinterpret<f32>(0x7f800000 | (m << 13));
  else f = reinterpret<f32>(((e + 112) << 23) | (m << 13));
  return (h & 0x8000) ? -f : f;
}

/**
 * Four halves held in the HIGH 16 bits of the i32 lanes (low 16 bits zero) to f32, exact for every value.
 * (h << 16) >>s 3, masked to sign | exponent-and-mantissa << 13, is the half's bit pattern moved into an f32
 * with exponent bias 15; × 2^112 rebiases it, exactly for normals and subnormals alike (a power-of-two scaling of
 * an f32 subnormal). ±inf/NaN (exponent field 31) then get the all-ones f32 exponent or-ed in (the mantissa, and so
 * the NaN payload, survives the scaling). 4 + 4 instructions per 4 values.
 */
@inline export function f16HiToF32(x: v128): v128 {
  const y = v128.and(i32x4.shr_s(x, 3), i32x4.splat(<i32>0x8fffe000));
  const f = f32x4.mul(y, f32x4.splat(5.192296858534828e33)); // 2^112
  const special = i32x4.eq(v128.and(y, i32x4.splat(0x0f800000)), i32x4.splat(0x0f800000));
  return v128.or(f, v128.and(special, i32x4.splat(0x7f800000)));
}

/** Halves 0–3 of eight (an i16x8 as loaded) each in the high 16 bits of an i32 lane (one unpack). */
@inline export function f16x8Lo(raw: v128): v128 {
  return i16x8.shuffle(i16x8.splat(0), raw, 0, 8, 1, 9, 2, 10, 3, 11);
}

/** Halves 4–7 of eight each in the high 16 bits of an i32 lane. */
@inline export function f16x8Hi(raw: v128): v128 {
  return i16x8.shuffle(i16x8.splat(0), raw, 4, 12, 5, 13, 6, 14, 7, 15);
}

/** Four halves (u16 values in the four i32 lanes) to four f32, exact for every value (subnormals, ±inf, NaN). */
@inline export function f16x4ToF32(h: v128): v128 {
  return f16HiToF32(i32x4.shl(h, 16));
}

/** The four lanes of v to o, o + step, o + 2·step, o + 3·step: a tile's results for rows (or positions) far apart. */
@inline export function storeLanes4(o: usize, step: usize, v: v128): void {
  store<f32>(o, f32x4.extract_lane(v, 0));
  store<f32>(o + step, f32x4.extract_lane(v, 1));
  store<f32>(o + 2 * step, f32x4.extract_lane(v, 2));
  store<f32>(o + 3 * step, f32x4.extract_lane(v, 3));
}

/** ((v0 + v2) + (v1 + v3)): the horizontal sum every float kernel uses, so 1-row and 4-row tiles agree. */
@inline export function hsumF32(v: v128): f32 {
  const h = f32x4.add(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(f32x4.add(h, i32x4.shuffle(h, h, 1, 0, 3, 2)), 0);
}

/** Lane r of the result = hsumF32(v_r), with the same association as hsumF32. */
@inline export function hsum4F32(v0: v128, v1: v128, v2: v128, v3: v128): v128 {
  const x01 = f32x4.add(i32x4.shuffle(v0, v1, 0, 1, 4, 5), i32x4.shuffle(v0, v1, 2, 3, 6, 7));
  const x23 = f32x4.add(i32x4.shuffle(v2, v3, 0, 1, 4, 5), i32x4.shuffle(v2, v3, 2, 3, 6, 7));
  return f32x4.add(i32x4.shuffle(x01, x23, 0, 2, 4, 6), i32x4.shuffle(x01, x23, 1, 3, 5, 7));
}

@inline export function hmaxF32(v: v128): f32 {
  const h = f32x4.max(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(f32x4.max(h, i32x4.shuffle(h, h, 1, 0, 3, 2)), 0);
}

@inline export function hsumI32(v: v128): i32 {
  const h = i32x4.add(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return i32x4.extract_lane(i32x4.add(h, i32x4.shuffle(h, h, 1, 0, 3, 2)), 0);
}

/**
 * e^x for four lanes: Cephes' expf (range reduction by ln 2 in two parts, degree-5 polynomial), within
 * 2 ulp of the true value for x in [-87.3, 88.7]; below that 0, above +inf.
 */
@inline export function expF32x4(x: v128): v128 {
  const hi = f32x4.splat(88.72283935546875);
  const lo = f32x4.splat(-87.33654022216797);
  const xc = f32x4.min(f32x4.max(x, lo), hi);
  const n = f32x4.nearest(f32x4.mul(xc, f32x4.splat(1.44269504088896341)));
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.9875691500e-4);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3981999507e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3334519073e-3));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1665795894e-2));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666665459e-1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(5.0000001201e-1));
  p = f32x4.add(f32x4.add(f32x4.mul(p, f32x4.mul(r, r)), r), f32x4.splat(1));
  // 2^n in two halves so that n = 128 (x near the top of the range) does not overflow the exponent field
  const ni = i32x4.trunc_sat_f32x4_s(n);
  const n1 = i32x4.shr_s(ni, 1);
  const n2 = i32x4.sub(ni, n1);
  const p1 = f32x4.mul(p, i32x4.shl(i32x4.add(n1, i32x4.splat(127)), 23));
  let y = f32x4.mul(p1, i32x4.shl(i32x4.add(n2, i32x4.splat(127)), 23));
  y = v128.and(y, f32x4.ge(x, lo)); // underflow to 0 (NaN inputs give 0 as well: they never occur here)
  return v128.bitselect(f32x4.splat(Infinity), y, f32x4.gt(x, hi));
}
