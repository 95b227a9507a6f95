// The salient side matrix's product (PB-LLM's kept weights beside a ternary matrix: model/salient-file.ts):
// out[t][r] += scale[r] · Σ_e val[e] · x[t][idx[e]] over row r's entries, for the f32 activations x that enter the
// matrix. In memory (src/runtime/cpu/salient.ts) the rows are taken in groups of SALIENT_ROW_GROUP, each group's
// rows that have entries sorted by their number of entries (longest first) and dealt four at a time into tiles; a
// tile's steps hold entry s of each of its four rows (u16 columns, i8 values, a row past its end padded with column
// 0, value 0), as many steps as its longest row has entries, rounded up to even. So a vector lane is a row: the
// loop has no per-row exit (rows of a group sorted by length give neighbouring tiles the same trip count, so its
// exit is predicted; unsorted binomial rows mispredicted about one exit a row) and no horizontal sum, and the
// padding stays small. Entry e of a row goes to accumulator e mod 2 (two keep the add chain from bounding the loop),
// s = acc0 + acc1, and out += scale·s for the tile's rows. The tiles of a thread's rows are taken as two halves, tile
// i of each in turn: four sequential streams of columns and values. Which count of streams a core draws fastest
// differs by machine (bench/README.md: on an Intel Xeon eight streams beat two by ≈ 40 %, on an AMD EPYC two beat
// eight by ≈ 50 %, and four were within 5 % of the best on both). A thread whose rows cut a group computes the
// group's tiles and stores only its own rows.
// One fixed sequence per (row, token), whatever the thread split, the tile or the token count, and no relaxed
// instruction: both wasm builds give the same bits (reference: src/runtime/cpu/reference/salient.ts).

import { MSET_ENTRY_WORDS, MSET_OUT, MSET_OUT_STRIDE, MSET_ROWS, MSET_SALIENT, MSET_START, SALIENT_ROW_GROUP, SALIENT_TILE_RECORD } from "./abi";
import { ternMatmul, ternMatmulSet } from "./ternary";

/** Four x values gathered by the four u16 columns at ip. */
@inline function gather4(xt: usize, ip: usize): v128 {
  let v = v128.load32_zero(xt + (<usize>load<u16>(ip) << 2));
  v = v128.load32_lane(xt + (<usize>load<u16>(ip, 2) << 2), v, 1);
  v = v128.load32_lane(xt + (<usize>load<u16>(ip, 4) << 2), v, 2);
  return v128.load32_lane(xt + (<usize>load<u16>(ip, 6) << 2), v, 3);
}

/** Lane j = row j's Σ over the tile's steps [a, b) (b − a even): entry 2i to acc0, 2i + 1 to acc1, then acc0 + acc1. */
@inline function tileSums(idx: usize, val: usize, xt: usize, a: i32, b: i32): v128 {
  let acc0 = f32x4.splat(0);
  let acc1 = f32x4.splat(0);
  for (let s = a; s < b; s += 2) {
    const ip = idx + (<usize>s << 3);
    // two steps' eight i8 values sign-extended to two i32x4, then to f32
    const q = i16x8.extend_low_i8x16_s(v128.load64_zero(val + (<usize>s << 2)));
    acc0 = f32x4.add(acc0, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(q)), gather4(xt, ip)));
    acc1 = f32x4.add(acc1, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(q)), gather4(xt, ip + 8)));
  }
  return f32x4.add(acc0, acc1);
}

/** out[row] += v for one lane's row, when the lane has a row and it lies in [r0, r1). */
@inline function addLane(ot: usize, base: i32, off: u32, r0: i32, r1: i32, v: f32): void {
  const r = base + <i32>off;
  if (off < <u32>SALIENT_ROW_GROUP && r >= r0 && r < r1) {
    const op = ot + (<usize>r << 2);
    store<f32>(op, load<f32>(op) + v);
  }
}

/** Tile ti's sums over its steps, scaled and added to the rows of out (one token's, at ot) that lie in [r0, r1). */
@inline function tile(tiles: usize, idx: usize, val: usize, scale: usize, xt: usize, ot: usize, ti: i32, r0: i32, r1: i32): void {
  const rec = tiles + <usize>ti * SALIENT_TILE_RECORD;
  const sums = tileSums(idx, val, xt, load<i32>(rec), load<i32>(rec, SALIENT_TILE_RECORD));
  const v = f32x4.mul(sums, v128.load(scale + (<usize>ti << 4)));
  const base = load<i32>(rec, 4), lanes = load<u32>(rec, 8);
  addLane(ot, base, lanes & 0xff, r0, r1, f32x4.extract_lane(v, 0));
  addLane(ot, base, (lanes >> 8) & 0xff, r0, r1, f32x4.extract_lane(v, 1));
  addLane(ot, base, (lanes >> 16) & 0xff, r0, r1, f32x4.extract_lane(v, 2));
  addLane(ot, base, lanes >> 24, r0, r1, f32x4.extract_lane(v, 3));
}

/**
 * Rows [r0, r1) and tokens [0, n). groups: i32 [⌈m / SALIENT_ROW_GROUP⌉ + 1], each group's first tile; tiles: records
 * of SALIENT_TILE_RECORD bytes, one past the last (its first step: the total); idx: u16, val: i8 [4·steps]; scale: f32
 * [4·tiles] (each tile's rows' scales). x: f32 activations of token 0, xStride bytes between tokens; o: f32 out of
 * token 0 row 0, oStride bytes between tokens (added to).
 */
export function salientMatmul(groups: usize, tiles: usize, idx: usize, val: usize, scale: usize, x: usize, xStride: usize,
  n: i32, o: usize, oStride: usize, r0: i32, r1: i32): void {
  if (r0 >= r1) return;
  const t0 = load<i32>(groups + (<usize>(r0 / SALIENT_ROW_GROUP) << 2));
  const t1 = load<i32>(groups + (<usize>((r1 + SALIENT_ROW_GROUP - 1) / SALIENT_ROW_GROUP) << 2));
  const h = (t1 - t0) >> 1; // tiles per half (t0, t1: the first tile and one past the last)
  for (let tok = 0; tok < n; tok++) {
    const xt = x + <usize>tok * xStride;
    const ot = o + <usize>tok * oStride;
    for (let ti = t0; ti < t0 + h; ti++) {
      tile(tiles, idx, val, scale, xt, ot, ti, r0, r1);
      tile(tiles, idx, val, scale, xt, ot, ti + h, r0, r1);
    }
    if (t0 + 2 * h < t1) tile(tiles, idx, val, scale, xt, ot, t1 - 1, r0, r1);
  }
}

/** salientMatmul with the side matrix's arguments from its desc (src/runtime/cpu/salient.ts: seven u32 words). */
@inline function salientFromDesc(desc: usize, n: i32, o: usize, oStride: usize, r0: i32, r1: i32): void {
  salientMatmul(load<u32>(desc), load<u32>(desc, 4), load<u32>(desc, 8), load<u32>(desc, 12), load<u32>(desc, 16),
    load<u32>(desc, 20), load<u32>(desc, 24), n, o, oStride, r0, r1);
}

/**
 * A ternary matmul and its side matrix's product in one thread-pool call (one dispatch instead of two: each thread
 * adds S·x to the rows it has just computed). The arguments are ternMatmul's (ternary.ts), then `desc`: seven u32
 * words — groups, tiles, idx, val, scale, x, xStride (as salientMatmul takes them) — then the rows.
 */
export function ternSalientMatmul(fam: i32, w: usize, rowBytes: usize, a: usize, cs: usize, sw: usize, sh: usize, sgs: usize,
  ad: usize, as: usize, ax: usize, gs: usize, nUnits: i32, upg: i32, ng: i32, wscale: f32, n: i32, o: usize,
  oStride: usize, tileMode: i32, desc: usize, r0: i32, r1: i32): void {
  ternMatmul(fam, w, rowBytes, a, cs, sw, sh, sgs, ad, as, ax, gs, nUnits, upg, ng, wscale, n, o, oStride, tileMode, r0, r1);
  salientFromDesc(desc, n, o, oStride, r0, r1);
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
    salientFromDesc(desc, n, load<u32>(e + (<usize>MSET_OUT << 2)), load<u32>(e + (<usize>MSET_OUT_STRIDE << 2)), lo, hi);
  }
}
