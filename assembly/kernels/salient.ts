// The salient side matrix's product (PB-LLM's kept weights beside a ternary matrix: model/salient-file.ts):
// out[t][r] += scale[r] · Σ_e val[e] · x[t][idx[e]] over row r's entries, for the f32 activations x that enter the
// matrix. In memory (src/runtime/cpu/salient.ts) every row's entries are padded with zero entries (column 0, value
// 0) to a multiple of 4 and rowStart counts blocks of 4, so the loop has no ragged tail of single entries.
// The gather of x by index is one lane load per entry; the products and sums run in two f32x4 accumulators (block k
// of a row goes to accumulator k mod 2, its entry j to lane j; two keep the add chain from bounding the loop),
// added (a + b), then the four lanes as (l0 + l2) + (l1 + l3) — for four rows at once, transposed — and
// out += scale·s for each row that has entries. The four rows are row t of each quarter of the thread's rows, so that
// their entries are read as four sequential streams, which the hardware prefetcher follows (as the decode matvec's
// four far quads: ternary.ts; one stream with touch-ahead made the 1 % side product ≈ 20 % dearer, bench/README.md).
// One fixed sequence per (row, token), whatever the thread split (rows at multiples of 4) or the token count, and
// no relaxed instruction: both wasm builds give the same bits (reference: src/runtime/cpu/reference/salient.ts).

import { MSET_ENTRY_WORDS, MSET_OUT, MSET_OUT_STRIDE, MSET_ROWS, MSET_SALIENT, MSET_START } from "./abi";
import { ternMatmul, ternMatmulSet } from "./ternary";

/** Four x values gathered by the four u16 indices at ip. */
@inline function gather4(xt: usize, ip: usize): v128 {
  let v = v128.load32_zero(xt + (<usize>load<u16>(ip) << 2));
  v = v128.load32_lane(xt + (<usize>load<u16>(ip, 2) << 2), v, 1);
  v = v128.load32_lane(xt + (<usize>load<u16>(ip, 4) << 2), v, 2);
  return v128.load32_lane(xt + (<usize>load<u16>(ip, 6) << 2), v, 3);
}

/** Σ over blocks [a, b) of 4 entries: the two accumulators added, four lanes left to sum. */
@inline function rowLanes(idx: usize, val: usize, xt: usize, a: i32, b: i32): v128 {
  let acc0 = f32x4.splat(0);
  let acc1 = f32x4.splat(0);
  let blk = a;
  for (; blk + 1 < b; blk += 2) {
    const e = <usize>blk << 2;
    const ip = idx + (e << 1);
    // eight i8 values sign-extended to two i32x4, then to f32
    const q = i16x8.extend_low_i8x16_s(v128.load64_zero(val + e));
    acc0 = f32x4.add(acc0, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(q)), gather4(xt, ip)));
    acc1 = f32x4.add(acc1, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(q)), gather4(xt, ip + 8)));
  }
  if (blk < b) {
    const e = <usize>blk << 2;
    const q = i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v128.load32_zero(val + e)));
    acc0 = f32x4.add(acc0, f32x4.mul(f32x4.convert_i32x4_s(q), gather4(xt, idx + (e << 1))));
  }
  return f32x4.add(acc0, acc1);
}

/** Lane j = (v_j[0] + v_j[2]) + (v_j[1] + v_j[3]). */
@inline function hsum4(v0: v128, v1: v128, v2: v128, v3: v128): v128 {
  const x01 = f32x4.add(i32x4.shuffle(v0, v1, 0, 1, 4, 5), i32x4.shuffle(v0, v1, 2, 3, 6, 7));
  const x23 = f32x4.add(i32x4.shuffle(v2, v3, 0, 1, 4, 5), i32x4.shuffle(v2, v3, 2, 3, 6, 7));
  return f32x4.add(i32x4.shuffle(x01, x23, 0, 2, 4, 6), i32x4.shuffle(x01, x23, 1, 3, 5, 7));
}

/**
 * Rows [r0, r1) (r0 a multiple of 4) and tokens [0, n). blocks: i32 [m + 1] row starts in blocks of 4 entries;
 * idx: u16, val: i8 [4·blocks[m]] (rows padded with zero entries); scale: f32 [m]. x: f32 activations of token 0,
 * xStride bytes between tokens; o: f32 out of token 0 row 0, oStride bytes between tokens (added to).
 */
export function salientMatmul(blocks: usize, idx: usize, val: usize, scale: usize, x: usize, xStride: usize, n: i32,
  o: usize, oStride: usize, r0: i32, r1: i32): void {
  const r4 = r0 + ((r1 - r0) & ~3);
  const q = (r4 - r0) >> 2, qo = <usize>q << 2; // rows per quarter, and their bytes in out and scale
  for (let t = 0; t < n; t++) {
    const xt = x + <usize>t * xStride;
    const ot = o + <usize>t * oStride;
    for (let r = r0; r < r0 + q; r++) {
      const bp = blocks + (<usize>r << 2);
      const a0 = load<i32>(bp), a1 = load<i32>(bp, 4);
      const b0 = load<i32>(bp + qo), b1 = load<i32>(bp + qo, 4);
      const c0 = load<i32>(bp + 2 * qo), c1 = load<i32>(bp + 2 * qo, 4);
      const d0 = load<i32>(bp + 3 * qo), d1 = load<i32>(bp + 3 * qo, 4);
      if (a0 == a1 && b0 == b1 && c0 == c1 && d0 == d1) continue;
      const s = hsum4(rowLanes(idx, val, xt, a0, a1), rowLanes(idx, val, xt, b0, b1), rowLanes(idx, val, xt, c0, c1), rowLanes(idx, val, xt, d0, d1));
      const op = ot + (<usize>r << 2), sp = scale + (<usize>r << 2);
      // a row without entries is left as it is (out + scale·0 would turn −0 into +0, and ±inf·0 into NaN)
      if (a0 != a1) store<f32>(op, load<f32>(op) + load<f32>(sp) * f32x4.extract_lane(s, 0));
      if (b0 != b1) store<f32>(op + qo, load<f32>(op + qo) + load<f32>(sp + qo) * f32x4.extract_lane(s, 1));
      if (c0 != c1) store<f32>(op + 2 * qo, load<f32>(op + 2 * qo) + load<f32>(sp + 2 * qo) * f32x4.extract_lane(s, 2));
      if (d0 != d1) store<f32>(op + 3 * qo, load<f32>(op + 3 * qo) + load<f32>(sp + 3 * qo) * f32x4.extract_lane(s, 3));
    }
    for (let r = r4; r < r1; r++) {
      const a = load<i32>(blocks + (<usize>r << 2));
      const b = load<i32>(blocks + (<usize>(r + 1) << 2));
      if (a == b) continue;
      const v = rowLanes(idx, val, xt, a, b);
      const s: f32 = (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 2)) + (f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 3));
      const op = ot + (<usize>r << 2);
      store<f32>(op, load<f32>(op) + load<f32>(scale + (<usize>r << 2)) * s);
    }
  }
}

/**
 * A ternary matmul and its side matrix's product in one thread-pool call (one dispatch instead of two: each thread
 * adds S·x to the rows it has just computed). The arguments are ternMatmul's (ternary.ts), then `desc`: six u32
 * words — blocks, idx, val, scale, x, xStride (as salientMatmul takes them) — then the rows.
 */
export function ternSalientMatmul(fam: i32, w: usize, rowBytes: usize, a: usize, cs: usize, sw: usize, sh: usize, sgs: usize,
  ad: usize, as: usize, ax: usize, gs: usize, nUnits: i32, upg: i32, ng: i32, wscale: f32, n: i32, o: usize,
  oStride: usize, tileMode: i32, desc: usize, r0: i32, r1: i32): void {
  ternMatmul(fam, w, rowBytes, a, cs, sw, sh, sgs, ad, as, ax, gs, nUnits, upg, ng, wscale, n, o, oStride, tileMode, r0, r1);
  salientMatmul(load<u32>(desc), load<u32>(desc, 4), load<u32>(desc, 8), load<u32>(desc, 12), load<u32>(desc, 16),
    load<u32>(desc, 20), n, o, oStride, r0, r1);
}

/**
 * A ternary matmul set (ternMatmulSet, ternary.ts: q/k/v, gate/up) whose matrices may have side matrices: the share
 * [r0, r1) of every entry's rows as ternMatmulSet computes them, then, for each entry that has one (MSET_SALIENT: its
 * desc, x set as for ternSalientMatmul), S·x added to its rows of the share — one thread-pool call for the whole set,
 * each row as ternSalientMatmul computes it alone.
 */
export function ternSalientMatmulSet(set: usize, count: i32, a: usize, cs: usize, ad: usize, as: usize, ax: usize, gs: usize,
  n: i32, tileMode: i32, r0: i32, r1: i32): void {
  ternMatmulSet(set, count, a, cs, ad, as, ax, gs, n, tileMode, r0, r1);
  for (let i = 0; i < count; i++) {
    const e = set + ((<usize>i * <usize>MSET_ENTRY_WORDS) << 2);
    const desc = <usize>load<u32>(e + (<usize>MSET_SALIENT << 2));
    if (desc == 0) continue;
    const start = load<i32>(e + (<usize>MSET_START << 2));
    const lo = max(r0, start) - start;
    const hi = min(r1 - start, load<i32>(e + (<usize>MSET_ROWS << 2)));
    if (lo >= hi) continue;
    salientMatmul(load<u32>(desc), load<u32>(desc, 4), load<u32>(desc, 8), load<u32>(desc, 12), load<u32>(desc, 16),
      load<u32>(desc, 20), n, load<u32>(e + (<usize>MSET_OUT << 2)), load<u32>(e + (<usize>MSET_OUT_STRIDE << 2)), lo, hi);
  }
}
