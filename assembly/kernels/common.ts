// Small helpers shared by the kernels. Everything here is @inline: no call overhead in hot loops.

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

/** Four halves (u16 values in the four i32 lanes) to four f32; subnormal halves go through an exact int convert. */
@inline export function f16x4ToF32(h: v128): v128 {
  const em = v128.and(h, i32x4.splat(0x7fff));
  const e = i32x4.shr_u(em, 10);
  const normal = i32x4.add(i32x4.shl(em, 13), i32x4.splat(112 << 23));
  const sub = f32x4.mul(f32x4.convert_i32x4_s(v128.and(h, i32x4.splat(0x3ff))), f32x4.splat(reinterpret<f32>(0x33800000)));
  let f = v128.bitselect(sub, normal, i32x4.eq(e, i32x4.splat(0)));
  f = v128.or(f, v128.and(i32x4.eq(e, i32x4.splat(31)), i32x4.splat(0x7f800000)));
  return v128.or(f, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
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
