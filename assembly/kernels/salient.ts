// The salient side matrix's product (PB-LLM's kept weights beside a ternary matrix: model/salient-file.ts):
// out[t][r] += scale[r] · Σ_e val[e] · x[t][idx[e]] over row r's entries, for the f32 activations x that enter the
// matrix. In memory (src/runtime/cpu/salient.ts) the rows are taken in groups of SALIENT_ROW_GROUP, each group's
// rows that have entries sorted by their number of entries (longest first) and dealt four at a time into tiles; a
// tile's steps hold entry s of each of its four rows (u16 columns or byte offsets, i8 values, a row past its end
// padded with column 0, value 0), as many steps as its longest row has entries, rounded up to even. So a vector lane is a row: the
// loop has no per-row exit (rows of a group sorted by length give neighbouring tiles the same trip count, so its
// exit is predicted; unsorted binomial rows mispredicted about one exit a row) and no horizontal sum, and the
// padding stays small. Entry e of a row goes to accumulator e mod 2 (two keep the add chain from bounding the loop),
// s = acc0 + acc1, and out += scale·s for the tile's rows. The tiles of a thread's rows are taken as two halves, tile
// i of each in turn: four sequential streams of columns and values. Which count of streams a core draws fastest
// differs by machine (bench/README.md: on an Intel Xeon eight streams beat two by ≈ 40 %, on an AMD EPYC two beat
// eight by ≈ 50 %, and four were within 5 % of the best on both).
// A tile's scaled sums go to its slots in SUMS, and a pass over the rows adds each row's slot to out four rows at a
// time (a row without entries reads a −0, which leaves every value but a NaN's payload as it is): cheaper than adding a tile's four lanes
// to four scattered rows. Only the groups wholly in a thread's rows go that way; a thread whose rows cut a group
// computes the group's tiles and adds only its own rows straight to out, so SUMS is written by one thread only.
// An entry's column is stored as a byte offset col·4 where the matrix has at most SALIENT_OFFSET_COLS columns, and
// for one token salientSetInput copies x to X_COPY, whose address is a constant: four offsets come from one 64-bit load
// and each gather is one load at [offset + X_COPY], with no address arithmetic (bench/README.md, session 10).
// One fixed sequence per (row, token), whatever the thread split, the tile or the token count, and no relaxed
// instruction: both wasm builds give the same bits (reference: src/runtime/cpu/reference/salient.ts).

import {
  MSET_ENTRY_WORDS,
  MSET_OUT,
  MSET_OUT_STRIDE,
  MSET_ROWS,
  MSET_SALIENT,
  MSET_START,
  SALIENT_OFFSET_COLS,
  SALIENT_ROW_GROUP,
  SALIENT_TILE_RECORD,
  SDESC_COLS,
  SDESC_GROUPS,
  SDESC_IDX,
  SDESC_ROWS,
  SDESC_SCALE,
  SDESC_SLOT,
  SDESC_SUMS,
  SDESC_TILES,
  SDESC_VAL,
  SDESC_X,
  SDESC_X_STRIDE,
  SDESC_X_QUADS,
  SDESC_X_TOKENS,
} from "./abi";
import { MASK_3 } from "./common";
import { ternMatmul, ternMatmulSet } from "./ternary";

/**
 * One token's x for the one-token product (SALIENT_OFFSET_COLS floats), copied here by salientSetInput. It lies below
 * the module's static data (asconfig.json's memoryBase is X_COPY_END) rather than in it: a data segment would add its
 * 64 KiB of zeros to the wasm file and zero it again whenever a worker instantiates the module.
 */
const X_COPY: usize = 1024;
const X_COPY_END: usize = X_COPY + (<usize>SALIENT_OFFSET_COLS << 2);
// the static data starts at memoryBase, above X_COPY: a build without it would put MASK_3 inside
if (MASK_3 < X_COPY_END) ERROR("asconfig.json's memoryBase must be at least X_COPY_END (assembly/kernels/salient.ts)");

/**
 * Sets the input of the next call on the side matrix at desc (salientMatmul, ternSalientMatmul,
 * ternSalientMatmulSet): x f32 [n][cols], xStride bytes between tokens. For one token of at most SALIENT_OFFSET_COLS
 * columns the kernel reads X_COPY instead, and for several the token quads at `quads` (f32 [⌈n/4⌉][cols][4], 0: none),
 * which `copy` fills (the JS side passes it once per pool call: the side matrices of one call read the same x). The
 * JS side calls this on its own thread before the pool call, so no thread writes them while another reads.
 */
export function salientSetInput(desc: usize, x: usize, xStride: usize, n: i32, copy: i32, quads: usize): void {
  store<u32>(desc + (<usize>SDESC_X << 2), <u32>x);
  store<u32>(desc + (<usize>SDESC_X_STRIDE << 2), <u32>xStride);
  store<i32>(desc + (<usize>SDESC_X_TOKENS << 2), n);
  store<u32>(desc + (<usize>SDESC_X_QUADS << 2), <u32>quads);
  const cols = <i32>load<u32>(desc + (<usize>SDESC_COLS << 2));
  if (copy == 0 || cols > SALIENT_OFFSET_COLS) return;
  if (n == 1) memory.copy(X_COPY, x, <usize>cols << 2);
  else if (quads != 0) {
    // column c of tokens 4b … 4b + 3 as one vector (tokens past n: 0)
    for (let b = 0; b < n; b += 4) {
      const q = quads + ((<usize>b * <usize>cols) << 2);
      const x0 = x + <usize>b * xStride;
      const x1 = b + 1 < n ? x0 + xStride : 0,
        x2 = b + 2 < n ? x0 + 2 * xStride : 0,
        x3 = b + 3 < n ? x0 + 3 * xStride : 0;
      for (let c: usize = 0; c < <usize>cols; c++) {
        const o = c << 2;
        let v = v128.load32_zero(x0 + o);
        if (x1) v = v128.load32_lane(x1 + o, v, 1);
        if (x2) v = v128.load32_lane(x2 + o, v, 2);
        if (x3) v = v128.load32_lane(x3 + o, v, 3);
        v128.store(q + (c << 4), v);
      }
    }
  }
}

// How a tile step's four entries are gathered (several tokens of at most SALIENT_OFFSET_COLS columns: sweepQuads).
/** byte offsets, from X_COPY (one token) */
const FROM_COPY = 0;
/** u16 columns (more than SALIENT_OFFSET_COLS), from x */
const COLUMNS = 1;

/** Four x values gathered by the four u16 entries at ip, as `form` says. */
@inline function gather4(xt: usize, ip: usize, form: i32): v128 {
  if (form == FROM_COPY) {
    const w = load<u64>(ip);
    const lo = <u32>w,
      hi = <u32>(w >> 32);
    let v = v128.load32_zero(<usize>(lo & 0xffff), X_COPY);
    v = v128.load32_lane(<usize>(lo >> 16), v, 1, X_COPY);
    v = v128.load32_lane(<usize>(hi & 0xffff), v, 2, X_COPY);
    return v128.load32_lane(<usize>(hi >> 16), v, 3, X_COPY);
  }
  let v = v128.load32_zero(xt + (<usize>load<u16>(ip) << 2));
  v = v128.load32_lane(xt + (<usize>load<u16>(ip, 2) << 2), v, 1);
  v = v128.load32_lane(xt + (<usize>load<u16>(ip, 4) << 2), v, 2);
  return v128.load32_lane(xt + (<usize>load<u16>(ip, 6) << 2), v, 3);
}

/** Lane j = row j's Σ over the tile's steps [a, b) (b − a even): entry 2i to acc0, 2i + 1 to acc1, then acc0 + acc1. */
@inline function tileSums(idx: usize, val: usize, xt: usize, a: i32, b: i32, form: i32): v128 {
  let acc0 = f32x4.splat(0);
  let acc1 = f32x4.splat(0);
  for (let s = a; s < b; s += 2) {
    const ip = idx + (<usize>s << 3);
    // two steps' eight i8 values sign-extended to two i32x4, then to f32
    const q = i16x8.extend_low_i8x16_s(v128.load64_zero(val + (<usize>s << 2)));
    acc0 = f32x4.add(acc0, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(q)), gather4(xt, ip, form)));
    acc1 = f32x4.add(acc1, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(q)), gather4(xt, ip + 8, form)));
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

/**
 * Tile ti's scaled sums: into its slots in SUMS when its group lies wholly in the thread's rows (ti in [w0, w1)),
 * else added to the rows of out (one token's, at ot) that lie in [r0, r1).
 */
@inline function tile(tiles: usize, idx: usize, val: usize, scale: usize, sums: usize, xt: usize, ot: usize, ti: i32,
  w0: i32, w1: i32, r0: i32, r1: i32, form: i32): void {
  const rec = tiles + <usize>ti * SALIENT_TILE_RECORD;
  const v = f32x4.mul(tileSums(idx, val, xt, load<i32>(rec), load<i32>(rec, SALIENT_TILE_RECORD), form), v128.load(scale + (<usize>ti << 4)));
  if (ti >= w0 && ti < w1) {
    v128.store(sums + (<usize>ti << 4), v);
    return;
  }
  const base = load<i32>(rec, 4),
    lanes = load<u32>(rec, 8);
  addLane(ot, base, lanes & 0xff, r0, r1, f32x4.extract_lane(v, 0));
  addLane(ot, base, (lanes >> 8) & 0xff, r0, r1, f32x4.extract_lane(v, 1));
  addLane(ot, base, (lanes >> 16) & 0xff, r0, r1, f32x4.extract_lane(v, 2));
  addLane(ot, base, lanes >> 24, r0, r1, f32x4.extract_lane(v, 3));
}

/** Tiles [t0, t1) of the side matrix at desc as two halves, tile i of each in turn (tile above). */
@inline function sweep(desc: usize, xt: usize, ot: usize, t0: i32, t1: i32, w0: i32, w1: i32, r0: i32, r1: i32, form: i32): void {
  const tiles = word(desc, SDESC_TILES),
    idx = word(desc, SDESC_IDX),
    val = word(desc, SDESC_VAL),
    scale = word(desc, SDESC_SCALE),
    sums = word(desc, SDESC_SUMS);
  const h = (t1 - t0) >> 1;
  for (let ti = t0; ti < t0 + h; ti++) {
    tile(tiles, idx, val, scale, sums, xt, ot, ti, w0, w1, r0, r1, form);
    tile(tiles, idx, val, scale, sums, xt, ot, ti + h, w0, w1, r0, r1, form);
  }
  if (t0 + 2 * h < t1) tile(tiles, idx, val, scale, sums, xt, ot, t1 - 1, w0, w1, r0, r1, form);
}

// One function per form, not inlined into salientMatmul: V8 compiled the loops of several forms in one function
// ≈ 20 % slower than one form alone.
function sweepFromCopy(desc: usize, xt: usize, ot: usize, t0: i32, t1: i32, w0: i32, w1: i32, r0: i32, r1: i32): void {
  sweep(desc, xt, ot, t0, t1, w0, w1, r0, r1, FROM_COPY);
}

function sweepColumns(desc: usize, xt: usize, ot: usize, t0: i32, t1: i32, w0: i32, w1: i32, r0: i32, r1: i32): void {
  sweep(desc, xt, ot, t0, t1, w0, w1, r0, r1, COLUMNS);
}

/** out[row] += v's lanes 0 … nb − 1 (tokens, oStride bytes apart from ot) for one lane's row, when it has one in [r0, r1). */
@inline function addTokens(ot: usize, oStride: usize, nb: i32, base: i32, off: u32, r0: i32, r1: i32, v: v128): void {
  const r = base + <i32>off;
  if (off < <u32>SALIENT_ROW_GROUP && r >= r0 && r < r1) {
    const op = ot + (<usize>r << 2);
    store<f32>(op, load<f32>(op) + f32x4.extract_lane(v, 0));
    if (nb > 1) store<f32>(op + oStride, load<f32>(op + oStride) + f32x4.extract_lane(v, 1));
    if (nb > 2) store<f32>(op + 2 * oStride, load<f32>(op + 2 * oStride) + f32x4.extract_lane(v, 2));
    if (nb > 3) store<f32>(op + 3 * oStride, load<f32>(op + 3 * oStride) + f32x4.extract_lane(v, 3));
  }
}

/** A row's products of one step: its value (splat) × the tokens' column at byte offset `off` of x (its quad at 4·off). */
@inline function quadProduct(value: v128, xq: usize, off: u32): v128 {
  return f32x4.mul(value, v128.load(xq + (<usize>off << 2)));
}

/**
 * Tiles [t0, t1) for tokens 4b … 4b + nb − 1 (nb ≤ 4), their columns in token quads at xq ([cols][4]): a vector lane
 * is a token, so an entry costs one load of its column's quad for four tokens. Per (row, token) the same sums as
 * tileSums: entry 2i to the even partial, 2i + 1 to the odd one. Each row's lanes are added to out at ot (token
 * 4b), oStride bytes between tokens, for the rows in [r0, r1).
 */
function sweepQuads(desc: usize, xq: usize, ot: usize, oStride: usize, nb: i32, t0: i32, t1: i32, r0: i32, r1: i32): void {
  const tiles = word(desc, SDESC_TILES),
    idx = word(desc, SDESC_IDX),
    val = word(desc, SDESC_VAL),
    scale = word(desc, SDESC_SCALE);
  for (let ti = t0; ti < t1; ti++) {
    const rec = tiles + <usize>ti * SALIENT_TILE_RECORD;
    const a = load<i32>(rec),
      b = load<i32>(rec, SALIENT_TILE_RECORD);
    let e0 = f32x4.splat(0), e1 = f32x4.splat(0), e2 = f32x4.splat(0), e3 = f32x4.splat(0);
    let d0 = f32x4.splat(0), d1 = f32x4.splat(0), d2 = f32x4.splat(0), d3 = f32x4.splat(0);
    for (let s = a; s < b; s += 2) {
      const ip = idx + (<usize>s << 3);
      const q = i16x8.extend_low_i8x16_s(v128.load64_zero(val + (<usize>s << 2)));
      // step s (even partials), then step s + 1 (odd): lane j of the values is row j's
      const v0 = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(q));
      const w0 = load<u64>(ip);
      const lo0 = <u32>w0,
        hi0 = <u32>(w0 >> 32);
      e0 = f32x4.add(e0, quadProduct(i32x4.shuffle(v0, v0, 0, 0, 0, 0), xq, lo0 & 0xffff));
      e1 = f32x4.add(e1, quadProduct(i32x4.shuffle(v0, v0, 1, 1, 1, 1), xq, lo0 >> 16));
      e2 = f32x4.add(e2, quadProduct(i32x4.shuffle(v0, v0, 2, 2, 2, 2), xq, hi0 & 0xffff));
      e3 = f32x4.add(e3, quadProduct(i32x4.shuffle(v0, v0, 3, 3, 3, 3), xq, hi0 >> 16));
      const v1 = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(q));
      const w1 = load<u64>(ip, 8);
      const lo1 = <u32>w1,
        hi1 = <u32>(w1 >> 32);
      d0 = f32x4.add(d0, quadProduct(i32x4.shuffle(v1, v1, 0, 0, 0, 0), xq, lo1 & 0xffff));
      d1 = f32x4.add(d1, quadProduct(i32x4.shuffle(v1, v1, 1, 1, 1, 1), xq, lo1 >> 16));
      d2 = f32x4.add(d2, quadProduct(i32x4.shuffle(v1, v1, 2, 2, 2, 2), xq, hi1 & 0xffff));
      d3 = f32x4.add(d3, quadProduct(i32x4.shuffle(v1, v1, 3, 3, 3, 3), xq, hi1 >> 16));
    }
    const sc = v128.load(scale + (<usize>ti << 4));
    const base = load<i32>(rec, 4),
      lanes = load<u32>(rec, 8);
    addTokens(ot, oStride, nb, base, lanes & 0xff, r0, r1, f32x4.mul(f32x4.add(e0, d0), i32x4.shuffle(sc, sc, 0, 0, 0, 0)));
    addTokens(ot, oStride, nb, base, (lanes >> 8) & 0xff, r0, r1, f32x4.mul(f32x4.add(e1, d1), i32x4.shuffle(sc, sc, 1, 1, 1, 1)));
    addTokens(ot, oStride, nb, base, (lanes >> 16) & 0xff, r0, r1, f32x4.mul(f32x4.add(e2, d2), i32x4.shuffle(sc, sc, 2, 2, 2, 2)));
    addTokens(ot, oStride, nb, base, lanes >> 24, r0, r1, f32x4.mul(f32x4.add(e3, d3), i32x4.shuffle(sc, sc, 3, 3, 3, 3)));
  }
}

/** out[r] += SUMS at slot[r] for rows [ra, rb): four rows a vector. slot: u32 byte offsets into SUMS. */
@inline function addSums(slot: usize, sums: usize, ot: usize, ra: i32, rb: i32): void {
  let r = ra;
  for (; r + 4 <= rb; r += 4) {
    const sp = slot + (<usize>r << 2);
    let v = v128.load32_zero(sums + <usize>load<u32>(sp));
    v = v128.load32_lane(sums + <usize>load<u32>(sp, 4), v, 1);
    v = v128.load32_lane(sums + <usize>load<u32>(sp, 8), v, 2);
    v = v128.load32_lane(sums + <usize>load<u32>(sp, 12), v, 3);
    const op = ot + (<usize>r << 2);
    v128.store(op, f32x4.add(v128.load(op), v));
  }
  for (; r < rb; r++) {
    const op = ot + (<usize>r << 2);
    store<f32>(op, load<f32>(op) + load<f32>(sums + <usize>load<u32>(slot + (<usize>r << 2))));
  }
}

@inline function word(desc: usize, w: i32): usize {
  return <usize>load<u32>(desc + (<usize>w << 2));
}

/** Group g's first tile. */
@inline function tileOf(groups: usize, g: i32): i32 {
  return load<i32>(groups + (<usize>g << 2));
}

/**
 * Rows [r0, r1) and tokens [0, n) of the side matrix at desc (SDESC words; src/runtime/cpu/salient.ts): out of token
 * 0 row 0 at o, oStride bytes between tokens, added to. Its input is desc's X (X_STRIDE bytes between tokens); for
 * at most SALIENT_OFFSET_COLS columns the copy salientSetInput made for these n tokens (X_TOKENS): X_COPY for one
 * token, the token quads for several (traps when the input was set for another count).
 */
export function salientMatmul(desc: usize, n: i32, o: usize, oStride: usize, r0: i32, r1: i32): void {
  if (r0 >= r1) return;
  const G = SALIENT_ROW_GROUP;
  const groups = word(desc, SDESC_GROUPS);
  const rows = <i32>word(desc, SDESC_ROWS),
    cols = <i32>word(desc, SDESC_COLS);
  const x = word(desc, SDESC_X),
    xStride = word(desc, SDESC_X_STRIDE);
  // the groups that rows [r0, r1) touch, and those wholly in them ([g0, g1) ⊇ [w0, w1)): the others are cut
  const g1 = (r1 + G - 1) / G;
  const w0 = (r0 + G - 1) / G,
    w1 = r1 == rows ? g1 : r1 / G;
  const whole = w0 < w1;
  const t0 = tileOf(groups, r0 / G),
    t1 = tileOf(groups, g1);
  if (t0 == t1) return; // no entries in these rows
  const tw0 = whole ? tileOf(groups, w0) : 0,
    tw1 = whole ? tileOf(groups, w1) : 0;
  const ra = w0 * G,
    rb = min(w1 * G, rows);
  const quads = word(desc, SDESC_X_QUADS);
  const offsets = cols <= SALIENT_OFFSET_COLS;
  // byte offsets read the input salientSetInput wrote for exactly these tokens: the quads, or one token's copy
  if (offsets && (load<i32>(desc + (<usize>SDESC_X_TOKENS << 2)) != n || (n > 1 && quads == 0))) unreachable();
  if (offsets && n > 1) {
    // several tokens, four at a time from their token quads
    for (let b = 0; b < n; b += 4) {
      sweepQuads(desc, quads + ((<usize>b * <usize>cols) << 2), o + <usize>b * oStride, oStride, min(4, n - b), t0, t1, r0, r1);
    }
    return;
  }
  const slot = word(desc, SDESC_SLOT),
    sums = word(desc, SDESC_SUMS);
  for (let tok = 0; tok < n; tok++) {
    const xt = x + <usize>tok * xStride;
    const ot = o + <usize>tok * oStride;
    if (offsets) sweepFromCopy(desc, xt, ot, t0, t1, tw0, tw1, r0, r1);
    else sweepColumns(desc, xt, ot, t0, t1, tw0, tw1, r0, r1);
    if (whole) addSums(slot, sums, ot, ra, rb);
  }
}

/**
 * A ternary matmul and its side matrix's product in one thread-pool call (one dispatch instead of two: each thread
 * adds S·x to the rows it has just computed). The arguments are ternMatmul's (ternary.ts), then the side matrix's
 * desc (its input set by the caller, as salientMatmul reads it), then the rows.
 */
export function ternSalientMatmul(fam: i32, w: usize, rowBytes: usize, a: usize, cs: usize, sw: usize, sh: usize, sgs: usize,
  ad: usize, as: usize, ax: usize, gs: usize, nUnits: i32, upg: i32, ng: i32, wscale: f32, n: i32, o: usize,
  oStride: usize, tileMode: i32, desc: usize, r0: i32, r1: i32): void {
  ternMatmul(fam, w, rowBytes, a, cs, sw, sh, sgs, ad, as, ax, gs, nUnits, upg, ng, wscale, n, o, oStride, tileMode, r0, r1);
  salientMatmul(desc, n, o, oStride, r0, r1);
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
    salientMatmul(desc, n, load<u32>(e + (<usize>MSET_OUT << 2)), load<u32>(e + (<usize>MSET_OUT_STRIDE << 2)), lo, hi);
  }
}
