// Training matmuls (src/train/matmul.ts holds their scalar references): a dense layer y = x·Wᵀ and its two
// backward products, on f32 row-major arrays. x [n][k], w [m][k], y / dy [n][m].
//
// Every output element is computed by one call, in one fixed order that does not depend on the range a
// thread is given, and both builds use plain mul + add (no fused relaxed_madd): the simd128 and relaxed
// builds and every thread count give the same bytes, so a training run is bit-reproducible anywhere.
//
//   trainMatmulFwd  range over rows r of W:   y[t][r]  = Σ_i x[t][i]·w[r][i]   (lanes i ≡ j mod 4 summed apart,
//                                                                               then the 4 lanes, then the tail)
//   trainMatmulDx   range over tokens t:      dx[t][i] += Σ_r dy[t][r]·w[r][i] (r in order, per 4 columns)
//   trainMatmulDw   range over rows r:        dw[r][i] += Σ_t dy[t][r]·x[t][i] (t in order, per 4 columns)

@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** Σ_i a[i]·b[i] over k values: four lane sums over i < k & ~3, then the scalar tail. */
@inline function dot(a: usize, b: usize, k: i32): f32 {
  let acc = f32x4.splat(0);
  const k4 = <usize>(k & ~3);
  for (let i: usize = 0; i < k4; i += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(a + (i << 2)), v128.load(b + (i << 2))));
  let s = hsum(acc);
  for (let i = <usize>k4; i < <usize>k; i++) s += load<f32>(a + (i << 2)) * load<f32>(b + (i << 2));
  return s;
}

export function trainMatmulFwd(y: usize, x: usize, w: usize, n: i32, k: i32, m: i32, start: i32, end: i32): void {
  const kb = <usize>k << 2;
  for (let t = 0; t < n; t++) {
    const xt = x + <usize>t * kb;
    const yt = y + (<usize>t * <usize>m << 2);
    for (let r = start; r < end; r++) store<f32>(yt + (<usize>r << 2), dot(xt, w + <usize>r * kb, k));
  }
}

/** out[i] += Σ_j coef(j)·rows[j][i] for i in [0, k): j in order, 4 columns (or 1 at the tail) at a time. */
@inline function accumulateRows(out: usize, k: i32, count: i32, coefBase: usize, coefStride: usize, rowBase: usize, rowStride: usize): void {
  const k16 = k & ~15;
  let i = 0;
  for (; i < k16; i += 16) {
    const o = out + (<usize>i << 2);
    let a0 = v128.load(o), a1 = v128.load(o, 16), a2 = v128.load(o, 32), a3 = v128.load(o, 48);
    for (let j = 0; j < count; j++) {
      const d = load<f32>(coefBase + <usize>j * coefStride);
      if (d == 0) continue;
      const dv = f32x4.splat(d);
      const p = rowBase + <usize>j * rowStride + (<usize>i << 2);
      a0 = f32x4.add(a0, f32x4.mul(dv, v128.load(p)));
      a1 = f32x4.add(a1, f32x4.mul(dv, v128.load(p, 16)));
      a2 = f32x4.add(a2, f32x4.mul(dv, v128.load(p, 32)));
      a3 = f32x4.add(a3, f32x4.mul(dv, v128.load(p, 48)));
    }
    v128.store(o, a0);
    v128.store(o, a1, 16);
    v128.store(o, a2, 32);
    v128.store(o, a3, 48);
  }
  for (; i + 4 <= k; i += 4) {
    const o = out + (<usize>i << 2);
    let a = v128.load(o);
    for (let j = 0; j < count; j++) {
      const d = load<f32>(coefBase + <usize>j * coefStride);
      if (d == 0) continue;
      a = f32x4.add(a, f32x4.mul(f32x4.splat(d), v128.load(rowBase + <usize>j * rowStride + (<usize>i << 2))));
    }
    v128.store(o, a);
  }
  for (; i < k; i++) {
    const o = out + (<usize>i << 2);
    let a = load<f32>(o);
    for (let j = 0; j < count; j++) {
      const d = load<f32>(coefBase + <usize>j * coefStride);
      if (d == 0) continue;
      a += d * load<f32>(rowBase + <usize>j * rowStride + (<usize>i << 2));
    }
    store<f32>(o, a);
  }
}

export function trainMatmulDx(dx: usize, dy: usize, w: usize, n: i32, k: i32, m: i32, start: i32, end: i32): void {
  const kb = <usize>k << 2;
  const mb = <usize>m << 2;
  for (let t = start; t < end; t++) accumulateRows(dx + <usize>t * kb, k, m, dy + <usize>t * mb, 4, w, kb);
}

export function trainMatmulDw(dw: usize, dy: usize, x: usize, n: i32, k: i32, m: i32, start: i32, end: i32): void {
  const kb = <usize>k << 2;
  const mb = <usize>m << 2;
  for (let r = start; r < end; r++) accumulateRows(dw + <usize>r * kb, k, n, dy + (<usize>r << 2), mb, x, kb);
}
