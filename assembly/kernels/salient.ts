// The salient side matrix's product (PB-LLM's kept weights beside a ternary matrix: model/salient-file.ts):
// out[t][r] += scale[r] · Σ_e val[e] · x[t][idx[e]] over row r's entries, for the f32 activations x that enter the
// matrix. Rows in compressed-row form: entries [rowStart[r], rowStart[r+1]), u16 column indices, i8 values.
// The gather of x by index is scalar; the products and sums run in four f32 lanes (entry j of the row's first
// 4·⌊len/4⌋ goes to lane j mod 4), then s = (l0 + l1) + (l2 + l3), then the remaining entries are added to s one by
// one, then out += scale·s. One fixed sequence per (row, token), whatever the thread split or the token count, and
// no relaxed instruction: both wasm builds give the same bits (reference: src/runtime/cpu/reference/salient.ts).

/**
 * Rows [r0, r1) and tokens [0, n). rs: i32 [m + 1] row starts; idx: u16 [nnz]; val: i8 [nnz]; scale: f32 [m].
 * x: f32 activations of token 0, xStride bytes between tokens; o: f32 out of token 0 row 0, oStride bytes between
 * tokens (added to, not overwritten).
 */
export function salientMatmul(rs: usize, idx: usize, val: usize, scale: usize, x: usize, xStride: usize, n: i32,
  o: usize, oStride: usize, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const a = load<i32>(rs + (<usize>r << 2));
    const b = load<i32>(rs + (<usize>(r + 1) << 2));
    if (a == b) continue;
    const sc = load<f32>(scale + (<usize>r << 2));
    const b4 = a + ((b - a) & ~3);
    for (let t = 0; t < n; t++) {
      const xt = x + <usize>t * xStride;
      let acc = f32x4.splat(0);
      for (let e = a; e < b4; e += 4) {
        const ip = idx + (<usize>e << 1);
        const vp = val + <usize>e;
        let xv = f32x4.splat(load<f32>(xt + (<usize>load<u16>(ip) << 2)));
        xv = f32x4.replace_lane(xv, 1, load<f32>(xt + (<usize>load<u16>(ip, 2) << 2)));
        xv = f32x4.replace_lane(xv, 2, load<f32>(xt + (<usize>load<u16>(ip, 4) << 2)));
        xv = f32x4.replace_lane(xv, 3, load<f32>(xt + (<usize>load<u16>(ip, 6) << 2)));
        // four i8 values sign-extended to i32 lanes, then to f32
        const q = i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v128.load32_zero(vp)));
        acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(q), xv));
      }
      let s: f32 = (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
      for (let e = b4; e < b; e++) {
        s += <f32>load<i8>(val + <usize>e) * load<f32>(xt + (<usize>load<u16>(idx + (<usize>e << 1)) << 2));
      }
      const op = o + <usize>t * oStride + (<usize>r << 2);
      store<f32>(op, load<f32>(op) + sc * s);
    }
  }
}
