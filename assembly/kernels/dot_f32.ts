// f32 dot product of two contiguous vectors: the simplest kernel, used to smoke-test both wasm builds.
export function dotF32(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const off = <usize>i << 2;
    acc = f32x4.add(acc, f32x4.mul(v128.load(a + off), v128.load(b + off)));
  }
  let sum = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  for (; i < n; i++) sum += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  return sum;
}
