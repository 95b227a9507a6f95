// Ternary matmul drivers: walk the rows [r0, r1) in row tiles (then single rows) and the n tokens in tiles
// of up to `tmax`, calling the generated register-tiled kernels (ternary_tiles.ts). Every row's result is
// computed by the same sequence of operations whatever the tile, so any split of the rows across threads
// (at multiples of 4) gives bit-identical output.
import { f16ToF32 } from "./common";
import {
  tern_tq2_rows, tern_tq2_toks_r1, tern_tq2_toks_r2,
  tern_i2s_rows, tern_i2s_toks_r1, tern_i2s_toks_r2,
  tern_dlt_rows, tern_dlt_toks_r1, tern_dlt_toks_r2,
  TQ2_ROWS_R, I2S_ROWS_R, DLT_ROWS_R,
  TQ2_TOKS_R1_T, TQ2_TOKS_R2_T, I2S_TOKS_R1_T, I2S_TOKS_R2_T, DLT_TOKS_R1_T, DLT_TOKS_R2_T,
} from "./ternary_tiles";

export const FAM_TQ2: i32 = 0;
export const FAM_I2S: i32 = 1;
export const FAM_DLT: i32 = 2;

/**
 * Address of row r's codes. TQ2 rows (TQ2_0, and TQ1_0 repacked) are stored in pairs interleaved 16 bytes at a
 * time (layout.ts) so that a 2-row tile reads one sequential stream (past the caches, two streams 1–2 KiB apart
 * ran at half the speed: bench/README.md); the tiles then step 32 bytes per 64 weights.
 */
@inline function rowCodes(fam: i32, w: usize, rowBytes: usize, r: i32): usize {
  return fam == FAM_TQ2 ? w + <usize>(r >> 1) * (rowBytes << 1) + (<usize>(r & 1) << 4) : w + <usize>r * rowBytes;
}

/** The tiles' rowBytes argument: bytes from a row's codes to the next row's (16 within a TQ2 pair). */
@inline function tileRowStride(fam: i32, rowBytes: usize): usize {
  return fam == FAM_TQ2 ? 16 : rowBytes;
}

/** Tile choice: auto ("rows": *_ROWS_R rows × 1–2 tokens for n <= 2, else 2 rows × *_TOKS_R2_T tokens), or one
 *  forced shape (tuning, tests; TILE_R1T4 / TILE_R2T4 = 1 or 2 rows × up to *_TOKS_R{1,2}_T tokens). Sizes are
 *  set by scripts/gen-ternary-kernels.mjs per family (tq2/i2s: rows 2, toks 1×6 and 2×3; dlt: rows 4, toks 1×4, 2×4). */
export const TILE_AUTO: i32 = 0;
export const TILE_ROWS4: i32 = 1;
export const TILE_R1T4: i32 = 2;
export const TILE_R2T4: i32 = 3;

// kind: 0 rows (4 × T<=2), 1 toks 1 × T<=4, 2 toks 2 × T<=4
@inline function tile(fam: i32, kind: i32, T: i32, w: usize, rowBytes: usize, a: usize, cs: usize, sw: usize, sh: usize,
  sgs: usize, ad: usize, as: usize, ax: usize, gs: usize, nUnits: i32, upg: i32, wscale: f32, o: usize, oStride: usize): void {
  if (fam == FAM_TQ2) {
    if (kind == 0) tern_tq2_rows(T, w, rowBytes, a, cs, sw, sh, sgs, ad, as, ax, gs, nUnits, upg, wscale, o, oStride);
    else if (kind == 1) tern_tq2_toks_r1(T, w, rowBytes, a, cs, sw, sh, sgs, ad, as, ax, gs, nUnits, upg, wscale, o, oStride);
    else tern_tq2_toks_r2(T, w, rowBytes, a, cs, sw, sh, sgs, ad, as, ax, gs, nUnits, upg, wscale, o, oStride);
  } else if (fam == FAM_I2S) {
    if (kind == 0) tern_i2s_rows(T, w, rowBytes, a, cs, sw, sh, sgs, ad, as, ax, gs, nUnits, upg, wscale, o, oStride);
    else if (kind == 1) tern_i2s_toks_r1(T, w, rowBytes, a, cs, sw, sh, sgs, ad, as, ax, gs, nUnits, upg, wscale, o, oStride);
    else tern_i2s_toks_r2(T, w, rowBytes, a, cs, sw, sh, sgs, ad, as, ax, gs, nUnits, upg, wscale, o, oStride);
  } else {
    if (kind == 0) tern_dlt_rows(T, w, rowBytes, a, cs, sw, sh, sgs, ad, as, ax, gs, nUnits, upg, wscale, o, oStride);
    else if (kind == 1) tern_dlt_toks_r1(T, w, rowBytes, a, cs, sw, sh, sgs, ad, as, ax, gs, nUnits, upg, wscale, o, oStride);
    else tern_dlt_toks_r2(T, w, rowBytes, a, cs, sw, sh, sgs, ad, as, ax, gs, nUnits, upg, wscale, o, oStride);
  }
}

/**
 * out[t][r] for rows [r0, r1) and tokens [0, n).
 * fam: FAM_TQ2 | FAM_I2S | FAM_DLT. w: codes of row 0; rowBytes: bytes per row of codes (TQ2: rows in pairs, rowCodes).
 * a: quantized activations (token-major, quant.ts; i8 in the relaxed build, the i16 copy in simd128), cs: bytes
 *    between tokens (kp, or 2·kp for the i16 copy).
 * sw/sh: f32 weight scales (TQ2, DLT) and shifts (DLT), [groups][m]; sgs = 4·m.
 * ad/as/ax: activation scale d (f32), Σq (i32), Σx (f32, DLT), [groups][cap]; gs = 4·cap.
 * nUnits = ceil(k/64); upg = 64-weight units per group (TQ2 4, I2S 16, DLT g/64); wscale: I2_S tensor scale.
 * o: out (f32) for token 0 row 0; oStride: bytes per token. tileMode: TILE_*.
 * The rows are split between threads at multiples of 4; every tile computes each (row, token) identically.
 */
export function ternMatmul(fam: i32, w: usize, rowBytes: usize, a: usize, cs: usize, sw: usize, sh: usize, sgs: usize,
  ad: usize, as: usize, ax: usize, gs: usize, nUnits: i32, upg: i32, wscale: f32, n: i32, o: usize, oStride: usize,
  tileMode: i32, r0: i32, r1: i32): void {
  let mode = tileMode;
  if (mode == TILE_AUTO) mode = n <= 2 ? TILE_ROWS4 : TILE_R2T4;
  const rs = tileRowStride(fam, rowBytes);
  let r = r0;
  if (mode == TILE_ROWS4) {
    const RR = fam == FAM_TQ2 ? TQ2_ROWS_R : fam == FAM_I2S ? I2S_ROWS_R : DLT_ROWS_R;
    for (; r + RR <= r1; r += RR) {
      const wr = rowCodes(fam, w, rowBytes, r);
      const sr = <usize>r << 2;
      for (let t = 0; t < n; t += 2) {
        const T = min(2, n - t);
        const t4 = <usize>t << 2;
        tile(fam, 0, T, wr, rs, a + <usize>t * cs, cs, sw + sr, sh + sr, sgs, ad + t4, as + t4, ax + t4, gs,
          nUnits, upg, wscale, o + <usize>t * oStride + (<usize>r << 2), oStride);
      }
    }
    for (; r < r1; r++) ternRows1(fam, w, rowBytes, a, cs, sw, sh, sgs, ad, as, ax, gs, nUnits, upg, wscale, n, o, oStride, r, 4);
    return;
  }
  // token tiles: blocks of RB rows × one token tile, so that the tile's activations (T·k bytes) and the block's
  // codes (RB·k/4 bytes) stay in L1 while the block is swept
  const R = mode == TILE_R2T4 ? 2 : 1;
  const TT = fam == FAM_TQ2 ? (R == 2 ? TQ2_TOKS_R2_T : TQ2_TOKS_R1_T)
    : fam == FAM_I2S ? (R == 2 ? I2S_TOKS_R2_T : I2S_TOKS_R1_T)
    : (R == 2 ? DLT_TOKS_R2_T : DLT_TOKS_R1_T);
  for (let rb = r0; rb < r1; rb += ROW_BLOCK) {
    const rbe = min(rb + ROW_BLOCK, r1);
    for (let t = 0; t < n; t += TT) {
      const T = min(TT, n - t);
      const t4 = <usize>t << 2;
      const at = a + <usize>t * cs;
      const ot = o + <usize>t * oStride;
      let rr = rb;
      if (R == 2) {
        for (; rr + 2 <= rbe; rr += 2) {
          const sr = <usize>rr << 2;
          tile(fam, 2, T, rowCodes(fam, w, rowBytes, rr), rs, at, cs, sw + sr, sh + sr, sgs, ad + t4, as + t4, ax + t4, gs,
            nUnits, upg, wscale, ot + (<usize>rr << 2), oStride);
        }
      }
      for (; rr < rbe; rr++) {
        const sr = <usize>rr << 2;
        tile(fam, 1, T, rowCodes(fam, w, rowBytes, rr), rs, at, cs, sw + sr, sh + sr, sgs, ad + t4, as + t4, ax + t4, gs,
          nUnits, upg, wscale, ot + (<usize>rr << 2), oStride);
      }
    }
  }
}

/** Rows per block of the token-tiled sweep. */
const ROW_BLOCK: i32 = 16;

/** One row, all tokens, in 1-row token tiles of up to tt tokens. */
function ternRows1(fam: i32, w: usize, rowBytes: usize, a: usize, cs: usize, sw: usize, sh: usize, sgs: usize,
  ad: usize, as: usize, ax: usize, gs: usize, nUnits: i32, upg: i32, wscale: f32, n: i32, o: usize, oStride: usize,
  r: i32, tt: i32): void {
  const sr = <usize>r << 2;
  for (let t = 0; t < n; t += tt) {
    const T = min(tt, n - t);
    const t4 = <usize>t << 2;
    tile(fam, 1, T, rowCodes(fam, w, rowBytes, r), tileRowStride(fam, rowBytes), a + <usize>t * cs, cs, sw + sr, sh + sr, sgs, ad + t4, as + t4,
      ax + t4, gs, nUnits, upg, wscale, o + <usize>t * oStride + (<usize>r << 2), oStride);
  }
}

/**
 * TQ2_0 (66-byte blocks: qs[64], f16 d) to the kernel layout, rows [r0, r1) of m: codes as row pairs (rowCodes:
 * the 16-byte units of rows 2p and 2p+1 alternate; unit j of a row is bytes 16j…16j+15 of its T2 row, i.e. the same
 * 64 code bytes per block) and f32 scales [k/256][m].
 */
export function repackTq2(src: usize, codes: usize, scales: usize, m: i32, nb: i32, r0: i32, r1: i32): void {
  const rowBytes = <usize>nb << 6;
  for (let r = r0; r < r1; r++) {
    const row = rowCodes(FAM_TQ2, codes, rowBytes, r);
    for (let b = 0; b < nb; b++) {
      const sb = src + (<usize>r * <usize>nb + <usize>b) * 66;
      const db = row + (<usize>b << 7); // 4 units of 32 bytes (this row's 16 + the pair's other row's 16)
      v128.store(db, v128.load(sb));
      v128.store(db, v128.load(sb, 16), 32);
      v128.store(db, v128.load(sb, 32), 64);
      v128.store(db, v128.load(sb, 48), 96);
      store<f32>(scales + ((<usize>b * <usize>m + <usize>r) << 2), f16ToF32(load<u16>(sb, 64)));
    }
  }
}

/**
 * TQ1_0 (54-byte blocks: qs[48], qh[4], f16 d; five trits per byte, trit n of q = ((u8)(q·3^n)·3) >> 8) to the
 * same kernel layout as repackTq2 (2-bit codes of TQ2_0's order in row pairs, f32 scales [k/256][m]), rows [r0, r1).
 */
export function repackTq1(src: usize, codes: usize, scales: usize, m: i32, nb: i32, r0: i32, r1: i32): void {
  const rowBytes = <usize>nb << 6;
  for (let r = r0; r < r1; r++) {
    const row = rowCodes(FAM_TQ2, codes, rowBytes, r);
    for (let b = 0; b < nb; b++) {
      const sb = src + (<usize>r * <usize>nb + <usize>b) * 54;
      const db = row + (<usize>b << 7);
      for (let j = 0; j < 4; j++) v128.store(db + (<usize>j << 5), i8x16.splat(0));
      for (let e = 0; e < 256; e++) {
        let byte: u32;
        let n: i32;
        if (e < 160) {
          byte = load<u8>(sb + <usize>(e & 31));
          n = e >> 5;
        } else if (e < 240) {
          const x = e - 160;
          byte = load<u8>(sb + 32 + <usize>(x & 15));
          n = x >> 4;
        } else {
          const x = e - 240;
          byte = load<u8>(sb + 48 + <usize>(x & 3));
          n = x >> 2;
        }
        let p: u32 = 1;
        for (let i = 0; i < n; i++) p *= 3;
        const trit = (((byte * p) & 0xff) * 3) >> 8;
        // byte B = 32·(e/128) + e%32 of the block's 64 code bytes: unit B/16, offset B%16
        const B = ((e >> 7) << 5) + (e & 31);
        const at = db + (<usize>(B >> 4) << 5) + <usize>(B & 15);
        store<u8>(at, load<u8>(at) | <u8>(trit << (((e & 127) >> 5) << 1)));
      }
      store<f32>(scales + ((<usize>b * <usize>m + <usize>r) << 2), f16ToF32(load<u16>(sb, 52)));
    }
  }
}
