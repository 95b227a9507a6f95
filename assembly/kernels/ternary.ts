// Ternary matmul drivers: walk the rows [r0, r1) in row tiles (then single rows) and the n tokens in tiles
// of up to `tmax`, calling the generated register-tiled kernels (ternary_tiles.ts). Every row's result is
// computed by the same sequence of operations whatever the tile, so any split of the rows across threads
// (at multiples of 4) gives bit-identical output.
import { f16ToF32 } from "./common";
import {
  tern_tq2q_rows, tern_tq2q_toks, tern_tq2q2_toks, tern_i2sq_rows, tern_i2sq_toks, tern_i2sq2_toks, QUAD_TOKS_T,
  QUAD_PAIR_TOKS_T,
  tern_dlt_rows, tern_dlt_toks_r1, tern_dlt_toks_r2, DLT_ROWS_R, DLT_TOKS_R1_T, DLT_TOKS_R2_T,
} from "./ternary_tiles";

export const FAM_TQ2: i32 = 0;
export const FAM_I2S: i32 = 1;
export const FAM_DLT: i32 = 2;

/** Bytes of one row quad's codes (TQ2, I2S: rows 4q…4q+3 stored together, layout.ts), given one row's bytes. */
@inline function quadBytes(rowBytes: usize): usize {
  return rowBytes << 2;
}

/** Tile choice: auto (ROWS4 for n <= 2, else R2T4), or one forced shape (tuning, tests). DLT: ROWS4 = 4 rows ×
 *  1–2 tokens, R1T4 / R2T4 = 1 or 2 rows × up to DLT_TOKS_R{1,2}_T tokens. TQ2 and I2S have quad tiles: ROWS4 =
 *  4 rows × 1–2 tokens (matvec), R1T4 = 4 rows × up to QUAD_TOKS_T tokens, R2T4 = 8 rows (two quads) × up to
 *  QUAD_PAIR_TOKS_T tokens in the relaxed build (single quads for a 4-row tail, and in simd128). */
export const TILE_AUTO: i32 = 0;
export const TILE_ROWS4: i32 = 1;
export const TILE_R1T4: i32 = 2;
export const TILE_R2T4: i32 = 3;

// DLT tiles. kind: 0 rows (4 × T<=2), 1 toks 1 × T, 2 toks 2 × T
@inline function tile(kind: i32, T: i32, w: usize, rowBytes: usize, a: usize, cs: usize, sw: usize, sh: usize,
  sgs: usize, ad: usize, as: usize, ax: usize, gs: usize, nUnits: i32, upg: i32, wscale: f32, o: usize, oStride: usize): void {
  if (kind == 0) tern_dlt_rows(T, w, rowBytes, a, cs, sw, sh, sgs, ad, as, ax, gs, nUnits, upg, wscale, o, oStride);
  else if (kind == 1) tern_dlt_toks_r1(T, w, rowBytes, a, cs, sw, sh, sgs, ad, as, ax, gs, nUnits, upg, wscale, o, oStride);
  else tern_dlt_toks_r2(T, w, rowBytes, a, cs, sw, sh, sgs, ad, as, ax, gs, nUnits, upg, wscale, o, oStride);
}

/**
 * out[t][r] for rows [r0, r1) and tokens [0, n).
 * fam: FAM_TQ2 | FAM_I2S | FAM_DLT. w: codes of row 0; rowBytes: bytes per row of codes (TQ2, I2S: in row quads).
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
  if (fam != FAM_DLT) {
    quadMatmul(fam, w, rowBytes, a, cs, sw, sgs, ad, as, gs, nUnits, wscale, n, o, oStride, mode, r0, r1);
    return;
  }
  let r = r0;
  if (mode == TILE_ROWS4) {
    const RR = DLT_ROWS_R;
    for (; r + RR <= r1; r += RR) {
      const wr = w + <usize>r * rowBytes;
      const sr = <usize>r << 2;
      for (let t = 0; t < n; t += 2) {
        const T = min(2, n - t);
        const t4 = <usize>t << 2;
        tile(0, T, wr, rowBytes, a + <usize>t * cs, cs, sw + sr, sh + sr, sgs, ad + t4, as + t4, ax + t4, gs,
          nUnits, upg, wscale, o + <usize>t * oStride + (<usize>r << 2), oStride);
      }
    }
    for (; r < r1; r++) ternRows1(w, rowBytes, a, cs, sw, sh, sgs, ad, as, ax, gs, nUnits, upg, wscale, n, o, oStride, r, 4);
    return;
  }
  // token tiles: blocks of RB rows × one token tile, so that the tile's activations (T·k bytes) and the block's
  // codes (RB·k/4 bytes) stay in L1 while the block is swept
  const R = mode == TILE_R2T4 ? 2 : 1;
  const TT = R == 2 ? DLT_TOKS_R2_T : DLT_TOKS_R1_T;
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
          tile(2, T, w + <usize>rr * rowBytes, rowBytes, at, cs, sw + sr, sh + sr, sgs, ad + t4, as + t4, ax + t4, gs,
            nUnits, upg, wscale, ot + (<usize>rr << 2), oStride);
        }
      }
      for (; rr < rbe; rr++) {
        const sr = <usize>rr << 2;
        tile(1, T, w + <usize>rr * rowBytes, rowBytes, at, cs, sw + sr, sh + sr, sgs, ad + t4, as + t4, ax + t4, gs,
          nUnits, upg, wscale, ot + (<usize>rr << 2), oStride);
      }
    }
  }
}

/** Rows per block of the token-tiled sweep. */
const ROW_BLOCK: i32 = 16;

/**
 * TQ2 and I2S (row quads): rows [r0, r1) (r0 a multiple of 4; the last quad may be partial), all n tokens: quad
 * tiles of 1–2 tokens (mode ROWS4, the matvec), else blocks of ROW_BLOCK rows per token tile, swept in two-quad
 * tiles (R2T4, relaxed) and single quads.
 */
function quadMatmul(fam: i32, w: usize, rowBytes: usize, a: usize, cs: usize, sw: usize, sgs: usize, ad: usize, as: usize,
  gs: usize, nUnits: i32, wscale: f32, n: i32, o: usize, oStride: usize, mode: i32, r0: i32, r1: i32): void {
  const qb = quadBytes(rowBytes);
  if (mode == TILE_ROWS4) {
    for (let r = r0; r < r1; r += 4) {
      const wq = w + <usize>(r >> 2) * qb;
      const sr = <usize>r << 2;
      for (let t = 0; t < n; t += 2) {
        const t4 = <usize>t << 2;
        const T = min(2, n - t);
        const at = a + <usize>t * cs;
        const ot = o + <usize>t * oStride + sr;
        if (fam == FAM_TQ2) tern_tq2q_rows(T, wq, at, cs, sw + sr, sgs, ad + t4, as + t4, gs, nUnits, wscale, ot, oStride, min(4, r1 - r));
        else tern_i2sq_rows(T, wq, at, cs, sw + sr, sgs, ad + t4, as + t4, gs, nUnits, wscale, ot, oStride, min(4, r1 - r));
      }
    }
    return;
  }
  const pairs = ASC_FEATURE_RELAXED_SIMD && mode == TILE_R2T4;
  const TT = pairs ? QUAD_PAIR_TOKS_T : QUAD_TOKS_T;
  for (let rb = r0; rb < r1; rb += ROW_BLOCK) {
    const rbe = min(rb + ROW_BLOCK, r1);
    for (let t = 0; t < n; t += TT) {
      const T = min(TT, n - t);
      const t4 = <usize>t << 2;
      const at = a + <usize>t * cs;
      let r = rb;
      if (pairs) {
        for (; r + 8 <= rbe; r += 8) {
          const sr = <usize>r << 2;
          const wq = w + <usize>(r >> 2) * qb;
          const ot = o + <usize>t * oStride + sr;
          if (fam == FAM_TQ2) tern_tq2q2_toks(T, wq, qb, at, cs, sw + sr, sgs, ad + t4, as + t4, gs, nUnits, wscale, ot, oStride);
          else tern_i2sq2_toks(T, wq, qb, at, cs, sw + sr, sgs, ad + t4, as + t4, gs, nUnits, wscale, ot, oStride);
        }
      }
      for (; r < rbe; r += 4) {
        const sr = <usize>r << 2;
        const wq = w + <usize>(r >> 2) * qb;
        const ot = o + <usize>t * oStride + sr;
        if (fam == FAM_TQ2) tern_tq2q_toks(T, wq, at, cs, sw + sr, sgs, ad + t4, as + t4, gs, nUnits, wscale, ot, oStride, min(4, rbe - r));
        else tern_i2sq_toks(T, wq, at, cs, sw + sr, sgs, ad + t4, as + t4, gs, nUnits, wscale, ot, oStride, min(4, rbe - r));
      }
    }
  }
}

/** One row, all tokens, in 1-row token tiles of up to tt tokens. */
function ternRows1(w: usize, rowBytes: usize, a: usize, cs: usize, sw: usize, sh: usize, sgs: usize,
  ad: usize, as: usize, ax: usize, gs: usize, nUnits: i32, upg: i32, wscale: f32, n: i32, o: usize, oStride: usize,
  r: i32, tt: i32): void {
  const sr = <usize>r << 2;
  for (let t = 0; t < n; t += tt) {
    const T = min(tt, n - t);
    const t4 = <usize>t << 2;
    tile(1, T, w + <usize>r * rowBytes, rowBytes, a + <usize>t * cs, cs, sw + sr, sh + sr, sgs, ad + t4, as + t4,
      ax + t4, gs, nUnits, upg, wscale, o + <usize>t * oStride + (<usize>r << 2), oStride);
  }
}

/** Address of byte B of row r's T2 row (layout.ts) in row quads: per 16-byte unit, 4 vectors of 4 bytes × 4 rows. */
@inline function quadByte(codes: usize, rowBytes: usize, r: i32, B: i32): usize {
  return codes + <usize>(r >> 2) * quadBytes(rowBytes) + (<usize>(B >> 4) << 6) + (<usize>((B & 15) >> 2) << 4)
    + (<usize>(r & 3) << 2) + <usize>(B & 3);
}

/**
 * TQ2_0 (66-byte blocks: qs[64], f16 d) to the kernel layout, rows [r0, r1) of m: codes in row quads (quadByte; the
 * 64 code bytes of a block are the T2 bytes 64b…64b+63 of its row) and f32 scales [k/256][m].
 */
export function repackTq2(src: usize, codes: usize, scales: usize, m: i32, nb: i32, r0: i32, r1: i32): void {
  const rowBytes = <usize>nb << 6;
  for (let r = r0; r < r1; r++) {
    for (let b = 0; b < nb; b++) {
      const sb = src + (<usize>r * <usize>nb + <usize>b) * 66;
      for (let j = 0; j < 64; j += 4) store<u32>(quadByte(codes, rowBytes, r, (b << 6) + j), load<u32>(sb + <usize>j));
      store<f32>(scales + ((<usize>b * <usize>m + <usize>r) << 2), f16ToF32(load<u16>(sb, 64)));
    }
  }
}

/**
 * TQ1_0 (54-byte blocks: qs[48], qh[4], f16 d; five trits per byte, trit n of q = ((u8)(q·3^n)·3) >> 8) to the
 * same kernel layout as repackTq2 (2-bit codes of TQ2_0's order in row quads, f32 scales [k/256][m]), rows [r0, r1).
 */
export function repackTq1(src: usize, codes: usize, scales: usize, m: i32, nb: i32, r0: i32, r1: i32): void {
  const rowBytes = <usize>nb << 6;
  for (let r = r0; r < r1; r++) {
    for (let b = 0; b < nb; b++) {
      const sb = src + (<usize>r * <usize>nb + <usize>b) * 54;
      for (let j = 0; j < 64; j += 4) store<u32>(quadByte(codes, rowBytes, r, (b << 6) + j), 0);
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
        const at = quadByte(codes, rowBytes, r, (b << 6) + ((e >> 7) << 5) + (e & 31));
        store<u8>(at, load<u8>(at) | <u8>(trit << (((e & 127) >> 5) << 1)));
      }
      store<f32>(scales + ((<usize>b * <usize>m + <usize>r) << 2), f16ToF32(load<u16>(sb, 52)));
    }
  }
}

/** I2_S codes (rows of rowBytes, bitnet.cpp's order: layout.ts) to row quads (quadByte), rows [r0, r1). */
export function repackI2s(src: usize, codes: usize, rowBytes: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const row = src + <usize>r * <usize>rowBytes;
    for (let j = 0; j < rowBytes; j += 4) store<u32>(quadByte(codes, <usize>rowBytes, r, j), load<u32>(row + <usize>j));
  }
}
