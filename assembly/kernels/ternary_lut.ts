// Vec-LUT ternary matmul (the batched form of the lookup-table matmul: arXiv 2512.06443): for each group of 4 weights
// of a row — the 4 two-bit fields of one code byte — and a tile of LUT_TOKENS tokens, a table holds the 81 possible
// partial sums Σ (code − 1)·q over the group's 4 activations, one i16 lane per token. A row then costs, per code
// byte, one table-row load and add per 8 tokens instead of 4 multiply-adds per token. The tables depend on the
// activations only, so they are built once per token tile and read by every row.
//
// Exact to the multiply-add kernels (ternary.ts): the same int8 activations and integer sums Σ (code − 1)·q (a
// table entry is at most 4·127 = 508 in magnitude, so 64 of them fit an i16 lane: the sums are flushed every 256
// weights or every scale group), then the same f32 epilogue per flush group in the same order. The code is the same
// in both builds (no relaxed instruction): both read the i8 activations, so they give the same bits.
//
// Which weights a table covers: code byte B of a T2 row (layout.ts) holds elements 32l + (B % 32) of chunk B/32,
// l = 0…3 (field l at bits 2l; I2_S at bits 6 − 2l), so its table is indexed by the byte's base-3 value
// Σ field_l·3^l. DLT with 64-weight groups cannot use it: a byte's fields 0–1 and 2–3 belong to different groups.
//
// Panels: the tables of a whole row (k/4 × 81 × 32 bytes: 2.6 MB at k = 4096) outgrow the L2 cache, so the code
// bytes are taken in panels of panelBytes (a multiple of the flush group): the panel's tables are built, every row
// sweeps them, and its accumulators wait in ACC for the next panel. Every (row, token) still meets the same f32
// additions in the same order.
//
// Matrices that read the same activations (q/k/v, gate/up) come as one matmul set (MSET entries, as ternMatmulSet's):
// each panel's tables are built once and every matrix's rows sweep them (a single matrix is a set of one).
//
// Work split: the thread pool splits the tokens (at multiples of LUT_TOKENS), so each thread builds the tables of
// its own tiles once and sweeps every row; splitting the rows would build every table once per chunk. Each wasm
// instance (each thread) claims a scratch slot of `slotBytes` the first time it runs: slot = an atomic counter at
// `slotCounter`, kept in a wasm global (globals are per instance).
import {
  FAM_DLT, FAM_I2S, LUT_FORM_ADDRESSES, LUT_TOKENS, MSET_CODES, MSET_ENTRY_WORDS, MSET_FAM, MSET_OUT, MSET_OUT_STRIDE, MSET_ROW_BYTES, MSET_ROWS,
  MSET_SCALE_STRIDE, MSET_SCALES, MSET_SHIFTS, MSET_TENSOR_SCALE,
} from "./abi";

// The code below holds a row's sums for 16 tokens in two i16x8 vectors.
const KERNEL_TOKENS: i32 = 16;
/** Bytes of one table row: LUT_TOKENS i16 lanes. */
const ROW: usize = <usize>LUT_TOKENS << 1;
/** Bytes of one group's table: 81 rows. */
const GROUP: usize = 81 * ROW;
/** Bytes of one code byte's activations in QT: 4 fields × LUT_TOKENS i16. */
const QT_BYTE: usize = 4 * ROW;
// Slot layout (byte offsets; src/runtime/cpu/kernels.ts lutSlotBytes states the same sizes):
// HEAD: 1024 bytes, by the sweep's form (LUT_FORM_*): the byte map, u32 [256] code byte → byte offset of its table row
// (its base-3 value Σ field_l·3^l × ROW); or the addresses, u32 [4][panelBytes ≤ 64] the table row of each code
// byte of the row quad being swept
const HEAD: usize = 0;
const OUT_T: usize = 1024; // f32 [4][LUT_TOKENS]: a row quad's results, before they go to the token rows
const SCALES: usize = OUT_T + 16 * <usize>LUT_TOKENS; // f32 [ng][LUT_TOKENS] activation scales, then Σx (DLT) alike
// then QT: i16 [rowBytes][4][LUT_TOKENS] the tile's activations by code byte (64-aligned), ACC: [m][LUT_TOKENS] the
// rows' f32 results (I2_S: i32 sums) between panels, and one panel's tables: [panelBytes][81] rows

/** This instance's scratch slot (−1 until its first call). */
let lutSlot: i32 = -1;

@inline function align64(x: usize): usize {
  return (x + 63) & ~(<usize>63);
}

/**
 * out[t][r] for tokens [t0, t1) and every row r of each of the `count` matrices of the set at `set` (MSET entries,
 * MSET_ENTRY_WORDS words apart: FAM, CODES, ROW_BYTES, SCALES, SHIFTS, SCALE_STRIDE, TENSOR_SCALE, OUT, OUT_STRIDE,
 * ROWS; family and row bytes the same for all), by table lookups.
 * fam: FAM_TQ2 | FAM_I2S | FAM_DLT (g = 128 or 256). Codes in row quads; rowBytes: one T2 row's bytes.
 * q: the i8 activations (token-major, quant.ts), kp: bytes between tokens. Per matrix: sw/sh f32 weight scales /
 * DLT shifts, quad-major (ternary.ts scaleAt), sgs = 16·groups; wscale the I2_S scale; o the output (f32) of token 0 row 0, oStride bytes per
 * token. ad/ax: f32 activation scale / Σx [groups][cap], gs = 4·cap. spanBytes: code bytes per flush group (TQ2,
 * I2_S 64: 256 weights; DLT g/4); ng: groups per row (TQ2 k/256, I2_S 1, DLT ceil(k/g)). panelBytes: code bytes per
 * panel (a multiple of spanBytes, at most 64: HEAD holds a quad's addresses for it). form: LUT_FORM_MAP or
 * LUT_FORM_ADDRESSES, how the sweep finds a code byte's table row (the same results; see sweepRowsMap).
 * slotCounter: an i32 the instances count their slots with; scratch, slotBytes, nSlots: the slots (ACC holds the rows
 * of all the matrices).
 */
export function ternMatmulLut(set: usize, count: i32, q: usize, kp: usize, ad: usize, ax: usize, gs: usize, spanBytes: i32,
  ng: i32, panelBytes: i32, form: i32, slotCounter: usize, scratch: usize, slotBytes: usize, nSlots: i32, t0: i32, t1: i32): void {
  if (LUT_TOKENS != KERNEL_TOKENS || ROW != 32 || panelBytes > 64) unreachable();
  if (lutSlot < 0) lutSlot = atomic.add<i32>(slotCounter, 1);
  const fam = load<i32>(set + (<usize>MSET_FAM << 2));
  const rowBytes = load<i32>(set + (<usize>MSET_ROW_BYTES << 2));
  let rows = 0;
  for (let i = 0; i < count; i++) {
    const e = entry(set, i);
    if (load<i32>(e + (<usize>MSET_FAM << 2)) != fam || load<i32>(e + (<usize>MSET_ROW_BYTES << 2)) != rowBytes) unreachable();
    rows += load<i32>(e + (<usize>MSET_ROWS << 2));
  }
  const qtOff = align64(SCALES + <usize>ng * ROW * 4);
  const accOff = qtOff + <usize>rowBytes * QT_BYTE;
  const tabOff = accOff + <usize>rows * ROW * 2;
  if (lutSlot >= nSlots || panelBytes % spanBytes || tabOff + <usize>min(panelBytes, rowBytes) * GROUP > slotBytes) unreachable();
  const s = scratch + <usize>lutSlot * slotBytes;
  // a code byte's table row is T_lo[low nibble] + T_hi[high nibble] (nibbleTable); V8 keeps a v128 that Binaryen
  // cannot fold in a register, where it would re-materialize a constant at each use in a loop
  const z = i32x4.splat(rowBytes >> 31);
  const tlo = v128.or(z, nibbleTable(fam == FAM_I2S, false)), thi = v128.or(z, nibbleTable(fam == FAM_I2S, true));
  const addresses = form == LUT_FORM_ADDRESSES;
  if (!addresses) buildMap(s + HEAD, tlo, thi, s + OUT_T);
  for (let tt = t0; tt < t1; tt += LUT_TOKENS) {
    const T = min(LUT_TOKENS, t1 - tt);
    gatherTile(s + qtOff, s + SCALES, q, kp, ad, ax, gs, rowBytes, ng, fam == FAM_DLT, tt, T);
    for (let P0 = 0; P0 < rowBytes; P0 += panelBytes) {
      const P1 = min(P0 + panelBytes, rowBytes);
      for (let B = P0; B < P1; B++) buildTable(s + tabOff + <usize>(B - P0) * GROUP, s + qtOff + <usize>B * QT_BYTE);
      // every matrix sweeps this panel's tables; its rows' accumulators follow the earlier matrices' in ACC
      let acc = s + accOff;
      for (let i = 0; i < count; i++) {
        const e = entry(set, i);
        const m = load<i32>(e + (<usize>MSET_ROWS << 2));
        const oStride = <usize>load<u32>(e + (<usize>MSET_OUT_STRIDE << 2));
        const codes = load<u32>(e + (<usize>MSET_CODES << 2)), sw = load<u32>(e + (<usize>MSET_SCALES << 2));
        const sh = load<u32>(e + (<usize>MSET_SHIFTS << 2)), sgs = load<u32>(e + (<usize>MSET_SCALE_STRIDE << 2));
        const wscale = load<f32>(e + (<usize>MSET_TENSOR_SCALE << 2));
        const o = <usize>load<u32>(e + (<usize>MSET_OUT << 2)) + <usize>tt * oStride;
        if (addresses) {
          sweepRowsAddresses(fam, codes, rowBytes, P0, P1, s + HEAD, panelBytes, tlo, thi, s + tabOff, s + SCALES, sw, sh, sgs,
            spanBytes, ng, wscale, m, o, oStride, s + OUT_T, acc, T);
        } else {
          sweepRowsMap(fam, codes, rowBytes, P0, P1, s + HEAD, panelBytes, tlo, thi, s + tabOff, s + SCALES, sw, sh, sgs,
            spanBytes, ng, wscale, m, o, oStride, s + OUT_T, acc, T);
        }
        acc += <usize>m * ROW * 2;
      }
    }
  }
}

/** Entry i of a matmul set. */
@inline function entry(set: usize, i: i32): usize {
  return set + ((<usize>i * <usize>MSET_ENTRY_WORDS) << 2);
}

/** MAP: code byte → byte offset of its table row, T_lo[low nibble] + T_hi[high nibble] (nibbleTable) × ROW. */
function buildMap(map: usize, tlo: v128, thi: v128, tmp: usize): void {
  // the nibble tables to memory (32 bytes at tmp), then one byte of each per code byte
  v128.store(tmp, tlo);
  v128.store(tmp, thi, 16);
  for (let v = 0; v < 256; v++) {
    const idx = <u32>load<u8>(tmp + <usize>(v & 15)) + <u32>load<u8>(tmp + 16 + <usize>(v >> 4));
    store<u32>(map + (<usize>v << 2), idx * <u32>ROW);
  }
}

/**
 * The table row (base-3 value Σ field_l·3^l, 0…80) that the low (hi: high) nibble of a code byte adds, by nibble:
 * field l at bits 2l (TQ2, DLT) or 6 − 2l (I2_S). A field of 3 has no row (CpuKernels keeps a matrix that holds one
 * off this matmul: Matrix.code3); its nibble adds 0, so that any byte stays inside its table.
 */
function nibbleTable(i2s: bool, hi: bool): v128 {
  // nibble n = a + 4b (a, b: its two fields, a at the low bits): TQ2 low a + 3b, high 9·(a + 3b); I2_S (fields
  // reversed) low 27a + 9b, high 3a + b
  if (i2s) {
    return hi ? i8x16(0, 3, 6, 0, 1, 4, 7, 0, 2, 5, 8, 0, 0, 0, 0, 0) : i8x16(0, 27, 54, 0, 9, 36, 63, 0, 18, 45, 72, 0, 0, 0, 0, 0);
  }
  return hi ? i8x16(0, 9, 18, 0, 27, 36, 45, 0, 54, 63, 72, 0, 0, 0, 0, 0) : i8x16(0, 1, 2, 0, 3, 4, 5, 0, 6, 7, 8, 0, 0, 0, 0, 0);
}

/**
 * The tile's activations regrouped for the tables, i16 QT[B][l][t] (B: code byte, l: field, t: token of the tile;
 * tokens past T are 0), and the tile's activation scales (and Σx) [group][t].
 * Byte p of a token's activation row (quant.ts: p = 128c + 64h + 16l + i) is field l of code byte 32c + 16h + i.
 */
function gatherTile(qt: usize, sc: usize, q: usize, kp: usize, ad: usize, ax: usize, gs: usize, rowBytes: i32, ng: i32,
  dlt: bool, tt: i32, T: i32): void {
  const kpu = <usize>rowBytes << 2;
  for (let p: usize = 0; p < kpu; p += 16) {
    const at = qt + (((p >> 7) << 5) + (((p >> 6) & 1) << 4)) * QT_BYTE + ((p >> 4) & 3) * ROW;
    if (T == LUT_TOKENS) {
      // a full tile: 8 × 8 transposes, 8 tokens by 8 activations
      const src = q + <usize>tt * kp + p;
      transpose8(src, kp, at, false);
      transpose8(src, kp, at + 8 * QT_BYTE, true);
      transpose8(src + 8 * kp, kp, at + 16, false);
      transpose8(src + 8 * kp, kp, at + 8 * QT_BYTE + 16, true);
      continue;
    }
    // 16 activations of a token at a time, one lane store each
    for (let t = 0; t < LUT_TOKENS; t++) {
      const dst = at + (<usize>t << 1);
      const v = t < T ? v128.load(q + <usize>(tt + t) * kp + p) : i32x4.splat(0);
      const lo = i16x8.extend_low_i8x16_s(v);
      const hi = i16x8.extend_high_i8x16_s(v);
      store<i16>(dst, i16x8.extract_lane_s(lo, 0), 0 * QT_BYTE);
      store<i16>(dst, i16x8.extract_lane_s(lo, 1), 1 * QT_BYTE);
      store<i16>(dst, i16x8.extract_lane_s(lo, 2), 2 * QT_BYTE);
      store<i16>(dst, i16x8.extract_lane_s(lo, 3), 3 * QT_BYTE);
      store<i16>(dst, i16x8.extract_lane_s(lo, 4), 4 * QT_BYTE);
      store<i16>(dst, i16x8.extract_lane_s(lo, 5), 5 * QT_BYTE);
      store<i16>(dst, i16x8.extract_lane_s(lo, 6), 6 * QT_BYTE);
      store<i16>(dst, i16x8.extract_lane_s(lo, 7), 7 * QT_BYTE);
      store<i16>(dst, i16x8.extract_lane_s(hi, 0), 8 * QT_BYTE);
      store<i16>(dst, i16x8.extract_lane_s(hi, 1), 9 * QT_BYTE);
      store<i16>(dst, i16x8.extract_lane_s(hi, 2), 10 * QT_BYTE);
      store<i16>(dst, i16x8.extract_lane_s(hi, 3), 11 * QT_BYTE);
      store<i16>(dst, i16x8.extract_lane_s(hi, 4), 12 * QT_BYTE);
      store<i16>(dst, i16x8.extract_lane_s(hi, 5), 13 * QT_BYTE);
      store<i16>(dst, i16x8.extract_lane_s(hi, 6), 14 * QT_BYTE);
      store<i16>(dst, i16x8.extract_lane_s(hi, 7), 15 * QT_BYTE);
    }
  }
  for (let t = 0; t < LUT_TOKENS; t++) {
    for (let g = 0; g < ng; g++) {
      const at = (<usize>g * <usize>LUT_TOKENS + <usize>t) << 2;
      const src = <usize>g * gs + (<usize>(tt + t) << 2);
      store<f32>(sc + at, t < T ? load<f32>(ad + src) : 0);
      if (dlt) store<f32>(sc + (<usize>ng * <usize>LUT_TOKENS << 2) + at, t < T ? load<f32>(ax + src) : 0);
    }
  }
}

/**
 * 8 tokens' i8 activations i = 0…7 (hi: 8…15) of the 16 bytes at src (tokens kp bytes apart), sign-extended and
 * transposed: activation i of the 8 tokens to dst + i·QT_BYTE (8 i16 lanes, token order).
 */
@inline function transpose8(src: usize, kp: usize, dst: usize, hi: bool): void {
  const x0 = widen(src, hi), x1 = widen(src + kp, hi), x2 = widen(src + 2 * kp, hi), x3 = widen(src + 3 * kp, hi);
  const x4 = widen(src + 4 * kp, hi), x5 = widen(src + 5 * kp, hi), x6 = widen(src + 6 * kp, hi), x7 = widen(src + 7 * kp, hi);
  // 16-bit, then 32-bit, then 64-bit interleaves
  const a0 = i16x8.shuffle(x0, x1, 0, 8, 1, 9, 2, 10, 3, 11), a1 = i16x8.shuffle(x0, x1, 4, 12, 5, 13, 6, 14, 7, 15);
  const a2 = i16x8.shuffle(x2, x3, 0, 8, 1, 9, 2, 10, 3, 11), a3 = i16x8.shuffle(x2, x3, 4, 12, 5, 13, 6, 14, 7, 15);
  const a4 = i16x8.shuffle(x4, x5, 0, 8, 1, 9, 2, 10, 3, 11), a5 = i16x8.shuffle(x4, x5, 4, 12, 5, 13, 6, 14, 7, 15);
  const a6 = i16x8.shuffle(x6, x7, 0, 8, 1, 9, 2, 10, 3, 11), a7 = i16x8.shuffle(x6, x7, 4, 12, 5, 13, 6, 14, 7, 15);
  const b0 = i32x4.shuffle(a0, a2, 0, 4, 1, 5), b1 = i32x4.shuffle(a0, a2, 2, 6, 3, 7);
  const b2 = i32x4.shuffle(a1, a3, 0, 4, 1, 5), b3 = i32x4.shuffle(a1, a3, 2, 6, 3, 7);
  const b4 = i32x4.shuffle(a4, a6, 0, 4, 1, 5), b5 = i32x4.shuffle(a4, a6, 2, 6, 3, 7);
  const b6 = i32x4.shuffle(a5, a7, 0, 4, 1, 5), b7 = i32x4.shuffle(a5, a7, 2, 6, 3, 7);
  v128.store(dst, i64x2.shuffle(b0, b4, 0, 2), 0);
  v128.store(dst, i64x2.shuffle(b0, b4, 1, 3), QT_BYTE);
  v128.store(dst, i64x2.shuffle(b1, b5, 0, 2), 2 * QT_BYTE);
  v128.store(dst, i64x2.shuffle(b1, b5, 1, 3), 3 * QT_BYTE);
  v128.store(dst, i64x2.shuffle(b2, b6, 0, 2), 4 * QT_BYTE);
  v128.store(dst, i64x2.shuffle(b2, b6, 1, 3), 5 * QT_BYTE);
  v128.store(dst, i64x2.shuffle(b3, b7, 0, 2), 6 * QT_BYTE);
  v128.store(dst, i64x2.shuffle(b3, b7, 1, 3), 7 * QT_BYTE);
}

/** 8 i8 at p (hi: p + 8) sign-extended to i16. */
@inline function widen(p: usize, hi: bool): v128 {
  return hi ? v128.load8x8_s(p, 8) : v128.load8x8_s(p);
}

/**
 * One group's table: the row of fields (c0, c1, c2, c3) holds Σ_l (c_l − 1)·v_l for the tile's tokens, built as the
 * 9 sums over fields 0–1 plus each of the 9 sums over fields 2–3, per 8 tokens with all 9 of the first kind in
 * registers, so that each of the 81 rows is one add and one store. v: QT of the group ([l][t] i16).
 */
function buildTable(tab: usize, v: usize): void {
  buildHalf(tab, v);
  buildHalf(tab + 16, v + 16);
}

/** buildTable for the 8 tokens at byte offset 0 or 16 of every row (tab, v already offset). */
@inline function buildHalf(tab: usize, v: usize): void {
  const v0 = v128.load(v), v1 = v128.load(v, ROW), v2 = v128.load(v, 2 * ROW), v3 = v128.load(v, 3 * ROW);
  const n0 = i16x8.neg(v0), n1 = i16x8.neg(v1);
  // sums over fields 0–1, row c0 + 3·c1 (field value c weighs c − 1)
  const a0 = i16x8.add(n0, n1), a1 = n1, a2 = i16x8.sub(v0, v1);
  const a3 = n0, a5 = v0;
  const a6 = i16x8.sub(v1, v0), a7 = v1, a8 = i16x8.add(v0, v1);
  const n2 = i16x8.neg(v2), n3 = i16x8.neg(v3);
  // rows 9·(c2 + 3·c3) + (c0 + 3·c1): the nine sums over fields 2–3 in the same order
  nineRows(tab, 0, i16x8.add(n2, n3), a0, a1, a2, a3, a5, a6, a7, a8);
  nineRows(tab, 1, n3, a0, a1, a2, a3, a5, a6, a7, a8);
  nineRows(tab, 2, i16x8.sub(v2, v3), a0, a1, a2, a3, a5, a6, a7, a8);
  nineRows(tab, 3, n2, a0, a1, a2, a3, a5, a6, a7, a8);
  nineRows(tab, 4, i16x8.splat(0), a0, a1, a2, a3, a5, a6, a7, a8);
  nineRows(tab, 5, v2, a0, a1, a2, a3, a5, a6, a7, a8);
  nineRows(tab, 6, i16x8.sub(v3, v2), a0, a1, a2, a3, a5, a6, a7, a8);
  nineRows(tab, 7, v3, a0, a1, a2, a3, a5, a6, a7, a8);
  nineRows(tab, 8, i16x8.add(v2, v3), a0, a1, a2, a3, a5, a6, a7, a8);
}

/** Rows 9b … 9b + 8: h plus each sum over fields 0–1 (a4, fields 0–1 both 1, is 0). */
@inline function nineRows(tab: usize, b: usize, h: v128, a0: v128, a1: v128, a2: v128, a3: v128, a5: v128, a6: v128,
  a7: v128, a8: v128): void {
  const rows = tab + b * 9 * ROW;
  v128.store(rows, i16x8.add(h, a0), 0);
  v128.store(rows, i16x8.add(h, a1), ROW);
  v128.store(rows, i16x8.add(h, a2), 2 * ROW);
  v128.store(rows, i16x8.add(h, a3), 3 * ROW);
  v128.store(rows, h, 4 * ROW);
  v128.store(rows, i16x8.add(h, a5), 5 * ROW);
  v128.store(rows, i16x8.add(h, a6), 6 * ROW);
  v128.store(rows, i16x8.add(h, a7), 7 * ROW);
  v128.store(rows, i16x8.add(h, a8), 8 * ROW);
}

/**
 * Rows [r0, r1) (r1 − r0 ≤ 4, the rows of one quad) of OUT_T (row j's 16 tokens at outT + 64j) to the token rows:
 * a whole quad and tile as 4 × 4 transposes, one vector store per 4 tokens' 4 rows; otherwise one value at a time.
 */
@inline function storeQuadRows(outT: usize, o: usize, oStride: usize, r0: i32, r1: i32, T: i32): void {
  const base = o + (<usize>r0 << 2);
  if (r1 - r0 == 4 && T == LUT_TOKENS) {
    for (let i: usize = 0; i < 64; i += 16) {
      // tokens i/4 … i/4 + 3 of rows 0–3
      const a = v128.load(outT + i), b = v128.load(outT + 64 + i), c = v128.load(outT + 128 + i), d = v128.load(outT + 192 + i);
      const ab0 = i32x4.shuffle(a, b, 0, 4, 1, 5), ab1 = i32x4.shuffle(a, b, 2, 6, 3, 7);
      const cd0 = i32x4.shuffle(c, d, 0, 4, 1, 5), cd1 = i32x4.shuffle(c, d, 2, 6, 3, 7);
      const t0 = base + (i >> 2) * oStride;
      v128.store(t0, i64x2.shuffle(ab0, cd0, 0, 2));
      v128.store(t0 + oStride, i64x2.shuffle(ab0, cd0, 1, 3));
      v128.store(t0 + 2 * oStride, i64x2.shuffle(ab1, cd1, 0, 2));
      v128.store(t0 + 3 * oStride, i64x2.shuffle(ab1, cd1, 1, 3));
    }
    return;
  }
  for (let j = 0; j < r1 - r0; j++) {
    for (let t = 0; t < T; t++) store<f32>(base + <usize>t * oStride + (<usize>j << 2), load<f32>(outT + (<usize>j << 6) + (<usize>t << 2)));
  }
}

/** acc + (float)S·(dw·da) for 4 tokens: the multiply-add kernels' flush (ternary_tiles.ts), lane for lane. */
@inline function scaled(acc: v128, S: v128, dw: v128, da: v128): v128 {
  return f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(S), f32x4.mul(dw, da)));
}

/**
 * ADDR[j][B − P0] = the address of the table row of code byte B of row j of a quad, for the panel's code bytes: nv
 * vectors of 16 code bytes at wq (row quads: bytes B … B + 3 of rows 0–3 per vector), 16 bytes at a time. A byte's row
 * is T_lo[low nibble] + T_hi[high nibble] (nibbleTable), × ROW, in the table of its own byte (GROUP apart).
 */
@inline function quadRowAddresses(addr: usize, panelBytes: i32, wq: usize, nv: i32, tab: usize, tlo: v128, thi: v128): void {
  const rowStride = <usize>panelBytes << 2;
  // splats of values Binaryen cannot fold (panelBytes >> 31 is 0), so that V8 keeps them in registers
  const zero = panelBytes >> 31;
  const m0f = i8x16.splat(<i8>(15 + zero));
  const step = i32x4.splat(4 * <i32>GROUP + zero);
  let base = i32x4.add(i32x4.splat(<i32>tab), i32x4(0, <i32>GROUP, 2 * <i32>GROUP, 3 * <i32>GROUP));
  for (let v = 0; v < nv; v++) {
    const b = v128.load(wq + (<usize>v << 4));
    const lo = v128.and(b, m0f), hi = v128.and(i16x8.shr_u(b, 4), m0f);
    const idx = i8x16.add(swizzle(tlo, lo), swizzle(thi, hi));
    // × ROW (32 bytes), as u16: rows 0–1, rows 2–3
    const r01 = i16x8.shl(i16x8.extend_low_i8x16_u(idx), 5), r23 = i16x8.shl(i16x8.extend_high_i8x16_u(idx), 5);
    const at = addr + (<usize>v << 4);
    v128.store(at, i32x4.add(base, i32x4.extend_low_i16x8_u(r01)));
    v128.store(at + rowStride, i32x4.add(base, i32x4.extend_high_i16x8_u(r01)));
    v128.store(at + 2 * rowStride, i32x4.add(base, i32x4.extend_low_i16x8_u(r23)));
    v128.store(at + 3 * rowStride, i32x4.add(base, i32x4.extend_high_i16x8_u(r23)));
    base = i32x4.add(base, step);
  }
}

/** Lanes of t picked by the indexes in i (all 0…15). */
@inline function swizzle(t: v128, i: v128): v128 {
  return ASC_FEATURE_RELAXED_SIMD ? i8x16.relaxed_swizzle(t, i) : i8x16.swizzle(t, i);
}

// The sweep in its two forms (LUT_FORM_*, abi.ts): the same rows, tables, sums and epilogue; they differ in how a
// code byte finds its table row. MAP: per byte a shift, a mask, a load from the byte map and an add, in the loop.
// ADDRESSES: per row quad and panel, 16 code bytes at a time by two nibble swizzles (quadRowAddresses), so that the
// loop loads an address and the table row. Node 20's V8 runs MAP faster, Deno's and Chromium's (V8 15) ADDRESSES
// (bench/README.md, "the Vec-LUT sweep per runtime"); CpuKernels picks per runtime.
function sweepRowsMap(fam: i32, w: usize, rowBytes: i32, P0: i32, P1: i32, head: usize, panelBytes: i32, tlo: v128, thi: v128,
  tab: usize, sc: usize, sw: usize, sh: usize, sgs: usize, spanBytes: i32, ng: i32, wscale: f32, m: i32, o: usize,
  oStride: usize, outT: usize, acc: usize, T: i32): void {
  sweepRows(false, fam, w, rowBytes, P0, P1, head, panelBytes, tlo, thi, tab, sc, sw, sh, sgs, spanBytes, ng, wscale, m, o,
    oStride, outT, acc, T);
}

function sweepRowsAddresses(fam: i32, w: usize, rowBytes: i32, P0: i32, P1: i32, head: usize, panelBytes: i32, tlo: v128,
  thi: v128, tab: usize, sc: usize, sw: usize, sh: usize, sgs: usize, spanBytes: i32, ng: i32, wscale: f32, m: i32,
  o: usize, oStride: usize, outT: usize, acc: usize, T: i32): void {
  sweepRows(true, fam, w, rowBytes, P0, P1, head, panelBytes, tlo, thi, tab, sc, sw, sh, sgs, spanBytes, ng, wscale, m, o,
    oStride, outT, acc, T);
}

/**
 * Every row's sums over the tables of code bytes [P0, P1), flushed per group through the family's f32 epilogue; the
 * accumulators come from ACC (not at the first panel) and go back there, or after the last panel to out for T tokens.
 * head: the byte map (MAP) or the quad's table-row addresses (ADDRESSES).
 */
@inline function sweepRows(addresses: bool, fam: i32, w: usize, rowBytes: i32, P0: i32, P1: i32, head: usize, panelBytes: i32,
  tlo: v128, thi: v128, tab: usize, sc: usize, sw: usize, sh: usize, sgs: usize, spanBytes: i32, ng: i32, wscale: f32,
  m: i32, o: usize, oStride: usize, outT: usize, acc: usize, T: i32): void {
  const qb = <usize>rowBytes << 2;
  const xsOff = <usize>ng * <usize>LUT_TOKENS << 2;
  let sink = i32x4.splat(0);
  for (let r = 0; r < m; r++) {
    const ar = acc + (<usize>r << 6);
    // f32 accumulators of tokens 4i…4i + 3 (I2_S: i32 sums)
    let f0 = i32x4.splat(0);
    let f1 = i32x4.splat(0);
    let f2 = i32x4.splat(0);
    let f3 = i32x4.splat(0);
    if (P0 > 0) {
      f0 = v128.load(ar, 0);
      f1 = v128.load(ar, 16);
      f2 = v128.load(ar, 32);
      f3 = v128.load(ar, 48);
    }
    const wq = w + <usize>(r >> 2) * qb + (<usize>(P0 >> 2) << 4);
    if ((r & 3) == 0) {
      if (r + 16 < m) {
        // touch this panel's 4 lines (64 code bytes × 4 rows) of the quad 4 ahead: a panel's bytes of successive
        // quads lie qb apart, which the hardware prefetcher does not follow at large k (1536 × 4096: 116 → 131 GOPS)
        const ahead = wq + 4 * qb;
        sink = v128.xor(sink, v128.load(ahead, 0));
        sink = v128.xor(sink, v128.load(ahead, 64));
        sink = v128.xor(sink, v128.load(ahead, 128));
        sink = v128.xor(sink, v128.load(ahead, 192));
      }
      if (addresses) quadRowAddresses(head, panelBytes, wq, (P1 - P0) >> 2, tab, tlo, thi);
    }
    // MAP: the row's code bytes (row quads: 4 bytes of each row per 16) and their tables; ADDRESSES: its addresses
    let wp = wq + (<usize>(r & 3) << 2);
    let tb = tab;
    let ap = head + ((<usize>(r & 3) * <usize>panelBytes) << 2);
    // row r's scale of group g: quad-major (ternary.ts scaleAt), the quad's groups 16 bytes apart
    const sr = <usize>(r >> 2) * sgs + (<usize>(r & 3) << 2);
    for (let B0 = P0, gi = P0 / spanBytes; B0 < P1; B0 += spanBytes, gi++) {
      const bytes = min(B0 + spanBytes, P1) - B0;
      let s0 = i16x8.splat(0);
      let s1 = i16x8.splat(0);
      if (addresses) {
        const aend = ap + (<usize>bytes << 2);
        do {
          // 4 code bytes of the row, each a row of its own group's table
          const p0 = <usize>load<u32>(ap, 0);
          const p1 = <usize>load<u32>(ap, 4);
          const p2 = <usize>load<u32>(ap, 8);
          const p3 = <usize>load<u32>(ap, 12);
          s0 = i16x8.add(s0, v128.load(p0, 0));
          s1 = i16x8.add(s1, v128.load(p0, 16));
          s0 = i16x8.add(s0, v128.load(p1, 0));
          s1 = i16x8.add(s1, v128.load(p1, 16));
          s0 = i16x8.add(s0, v128.load(p2, 0));
          s1 = i16x8.add(s1, v128.load(p2, 16));
          s0 = i16x8.add(s0, v128.load(p3, 0));
          s1 = i16x8.add(s1, v128.load(p3, 16));
          ap += 16;
        } while (ap < aend);
      } else {
        const wend = wp + (<usize>(bytes >> 2) << 4);
        do {
          // 4 code bytes of the row, each a row of its own group's table
          const x = load<u32>(wp);
          const p0 = tb + <usize>load<u32>(head + <usize>((x << 2) & 0x3fc));
          const p1 = tb + <usize>load<u32>(head + <usize>((x >> 6) & 0x3fc));
          const p2 = tb + <usize>load<u32>(head + <usize>((x >> 14) & 0x3fc));
          const p3 = tb + <usize>load<u32>(head + <usize>((x >> 22) & 0x3fc));
          s0 = i16x8.add(s0, v128.load(p0, 0));
          s1 = i16x8.add(s1, v128.load(p0, 16));
          s0 = i16x8.add(s0, v128.load(p1, GROUP));
          s1 = i16x8.add(s1, v128.load(p1, GROUP + 16));
          s0 = i16x8.add(s0, v128.load(p2, 2 * GROUP));
          s1 = i16x8.add(s1, v128.load(p2, 2 * GROUP + 16));
          s0 = i16x8.add(s0, v128.load(p3, 3 * GROUP));
          s1 = i16x8.add(s1, v128.load(p3, 3 * GROUP + 16));
          wp += 16;
          tb += 4 * GROUP;
        } while (wp < wend);
      }
      if (fam == FAM_I2S) {
        f0 = i32x4.add(f0, i32x4.extend_low_i16x8_s(s0));
        f1 = i32x4.add(f1, i32x4.extend_high_i16x8_s(s0));
        f2 = i32x4.add(f2, i32x4.extend_low_i16x8_s(s1));
        f3 = i32x4.add(f3, i32x4.extend_high_i16x8_s(s1));
        continue;
      }
      const dw = f32x4.splat(load<f32>(sw + (<usize>gi << 4) + sr));
      const da = sc + (<usize>gi * <usize>LUT_TOKENS << 2);
      f0 = scaled(f0, i32x4.extend_low_i16x8_s(s0), dw, v128.load(da, 0));
      f1 = scaled(f1, i32x4.extend_high_i16x8_s(s0), dw, v128.load(da, 16));
      f2 = scaled(f2, i32x4.extend_low_i16x8_s(s1), dw, v128.load(da, 32));
      f3 = scaled(f3, i32x4.extend_high_i16x8_s(s1), dw, v128.load(da, 48));
      if (fam == FAM_DLT) {
        // + γ·Σx, as the multiply-add kernels' DLT flush
        const gw = f32x4.splat(load<f32>(sh + (<usize>gi << 4) + sr));
        const xs = da + xsOff;
        f0 = f32x4.add(f0, f32x4.mul(gw, v128.load(xs, 0)));
        f1 = f32x4.add(f1, f32x4.mul(gw, v128.load(xs, 16)));
        f2 = f32x4.add(f2, f32x4.mul(gw, v128.load(xs, 32)));
        f3 = f32x4.add(f3, f32x4.mul(gw, v128.load(xs, 48)));
      }
    }
    let out = ar;
    if (P1 == rowBytes) {
      // the row's results wait in OUT_T, 4 rows of a quad together, and go to the token rows 4 rows at a time
      out = outT + (<usize>(r & 3) << 6);
      if (fam == FAM_I2S) {
        // (Σ (code − 1)·q)·(d·scale): the product d·scale rounded once per token, as ternary_tiles.ts
        const ws = f32x4.splat(wscale);
        f0 = f32x4.mul(f32x4.convert_i32x4_s(f0), f32x4.mul(v128.load(sc, 0), ws));
        f1 = f32x4.mul(f32x4.convert_i32x4_s(f1), f32x4.mul(v128.load(sc, 16), ws));
        f2 = f32x4.mul(f32x4.convert_i32x4_s(f2), f32x4.mul(v128.load(sc, 32), ws));
        f3 = f32x4.mul(f32x4.convert_i32x4_s(f3), f32x4.mul(v128.load(sc, 48), ws));
      }
    }
    v128.store(out, f0, 0);
    v128.store(out, f1, 16);
    v128.store(out, f2, 32);
    v128.store(out, f3, 48);
    if (P1 == rowBytes && ((r & 3) == 3 || r == m - 1)) storeQuadRows(outT, o, oStride, r & ~3, r + 1, T);
  }
  v128.store(outT, sink); // keeps the touches
}
