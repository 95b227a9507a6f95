// Ternary matmul driver: walks the rows [r0, r1) in row quads and the n tokens in tiles, calling the generated
// quad kernels (ternary_tiles.ts); and the upload-time repacks into row quads. Every row's result is computed by
// the same sequence of operations whatever the tile, so any split of the rows across threads (at multiples of 4)
// gives bit-identical output.
// Both builds compute the same integers: the relaxed build's one relaxed instruction, i16x8.relaxed_dot_i8x16_i7x16_s,
// is defined exactly (no implementation choice) when the second operand's lanes are below 128 and a pair's sum fits
// i16; here that operand is a code field (0–3, or 0–12 in the rows kernel's ×4 fields) and the first an activation
// of magnitude ≤ 127 (quant.ts clamps to ±127), so a pair is at most 2·127·12 and the i16 sums stay within the
// bounds scripts/gen-ternary-kernels.mjs states. The f32 epilogue is the same code in both builds.
import {
  FAM_I2S, FAM_TQ2, KS_DLT, KS_DLT64, KS_I2S, KS_TQ2, MSET_CODES, MSET_ENTRY_WORDS, MSET_FAM, MSET_GROUPS, MSET_OUT,
  MSET_OUT_STRIDE, MSET_ROW_BYTES, MSET_ROWS, MSET_SCALE_STRIDE, MSET_SCALES, MSET_SHIFTS, MSET_START, MSET_TENSOR_SCALE,
  MSET_UNITS, MSET_UPG, TILE_AUTO, TILE_R2T4, TILE_ROWS4,
} from "./abi";
import { f16ToF32, TOUCH_AHEAD, touchAhead } from "./common";
import {
  tern_quad_rows, tern_quad_toks, tern_quad2_rows, tern_quad2_toks, tern_quad4_rows, QUAD_TOKS_T, DLT64_TOKS_T, QUAD_PAIR_TOKS_T,
} from "./ternary_tiles";

/**
 * Address of row r's scale (or shift) of group g, for `groups` groups a row: quad-major, [m/4][groups][4] f32
 * (src/runtime/cpu/row-quads.ts scaleIndex), so a quad's 4 scales of a group are one load and its groups one stream.
 */
@inline function scaleAt(scales: usize, groups: i32, r: i32, g: i32): usize {
  return scales + (((<usize>(r >> 2) * <usize>groups + <usize>g) << 4) | (<usize>(r & 3) << 2));
}

/** Bytes of one row quad's codes (rows 4q…4q+3 stored together, layout.ts), given one row's bytes. */
@inline function quadBytes(rowBytes: usize): usize {
  return rowBytes << 2;
}

/**
 * out[t][r] for rows [r0, r1) and tokens [0, n).
 * fam: FAM_TQ2 | FAM_I2S | FAM_DLT. w: codes of row 0 in row quads; rowBytes: bytes of one row's codes.
 * a: quantized activations (token-major, quant.ts; i8 in the relaxed build, the i16 copy in simd128), cs: bytes
 *    between tokens (kp, or 2·kp for the i16 copy).
 * sw/sh: f32 weight scales (TQ2, DLT) and shifts (DLT), quad-major ([m/4][groups][4], scaleAt); sgs = 16·groups,
 *    the bytes between neighbouring row quads' scales.
 * ad/as/ax: activation scale d (f32), Σq (i32), Σx (f32, DLT), [groups][cap]; gs = 4·cap.
 * nUnits = 2·ceil(k/128); upg = 64-weight units per DLT group (g/64); ng = DLT groups per row; wscale: I2_S scale.
 * o: out (f32) for token 0 row 0; oStride: bytes per token. tileMode: TILE_* (abi.ts: auto, or one forced shape for
 *    tuning and tests; R1T4 is every token tile in single quads).
 * r0 is a multiple of 4 (threads split the rows so); the last quad may be partial.
 */
export function ternMatmul(fam: i32, w: usize, rowBytes: usize, a: usize, cs: usize, sw: usize, sh: usize, sgs: usize,
  ad: usize, as: usize, ax: usize, gs: usize, nUnits: i32, upg: i32, ng: i32, wscale: f32, n: i32, o: usize,
  oStride: usize, tileMode: i32, r0: i32, r1: i32): void {
  let mode = tileMode;
  if (mode == TILE_AUTO) mode = n <= 2 ? TILE_ROWS4 : TILE_R2T4;
  const ks = fam == FAM_TQ2 ? KS_TQ2 : fam == FAM_I2S ? KS_I2S : upg == 1 ? KS_DLT64 : KS_DLT;
  const qb = quadBytes(rowBytes);
  if (mode == TILE_ROWS4) {
    const wEnd = w + <usize>((r1 + 3) >> 2) * qb;
    let r = r0;
    if (n == 1 && ks != KS_DLT64) {
      // one token: four whole quads at a time, quad t of each quarter of the 16-row blocks (tern_quad4_rows): four
      // sequential streams, which past the caches keep the memory busy with no touch-ahead (a touch-ahead load
      // that misses holds up retirement until its line arrives; the four streams' demand loads are followed by the
      // hardware prefetcher instead). 700M decode matvecs 30.5 → 21.6 ms a token, simd128 build 56 → 35
      // (bench/README.md).
      const q4 = (r1 - r) >> 4;
      const far = <usize>q4 * qb, rq = <usize>q4 << 4;
      for (let t = 0; t < q4; t++) {
        const sr = <usize>(r + (t << 2)) << 2, ss = <usize>((r >> 2) + t) * sgs;
        tern_quad4_rows(ks, 1, w + <usize>((r >> 2) + t) * qb, far, a, cs, sw + ss, sh + ss, sgs, ad, as, ax, gs, nUnits, upg, ng, wscale,
          o + sr, oStride, rq);
      }
      r += q4 << 4;
    }
    if (ASC_FEATURE_RELAXED_SIMD && n == 1) {
      // the rest (and dlt64): two whole quads at a time share each activation broadcast (tern_quad2_rows)
      for (; r + 8 <= r1; r += 8) {
        const wq = w + <usize>(r >> 2) * qb;
        touchAhead(wq + TOUCH_AHEAD, qb << 1, wEnd); // the pair's worth of lines, TOUCH_AHEAD bytes on
        const sr = <usize>r << 2, ss = <usize>(r >> 2) * sgs;
        tern_quad2_rows(ks, 1, wq, qb, a, cs, sw + ss, sh + ss, sgs, ad, as, ax, gs, nUnits, upg, ng, wscale, o + sr, oStride);
      }
    }
    for (; r < r1; r += 4) {
      const wq = w + <usize>(r >> 2) * qb;
      touchAhead(wq + TOUCH_AHEAD, qb, wEnd); // a quad's worth of lines, TOUCH_AHEAD bytes on
      const sr = <usize>r << 2, ss = <usize>(r >> 2) * sgs;
      const rows = min(4, r1 - r);
      for (let t = 0; t < n; t += 2) {
        const T = min(2, n - t);
        const t4 = <usize>t << 2;
        const at = a + <usize>t * cs;
        const ot = o + <usize>t * oStride + sr;
        tern_quad_rows(ks, T, wq, at, cs, sw + ss, sh + ss, sgs, ad + t4, as + t4, ax + t4, gs, nUnits, upg, ng, wscale, ot, oStride, rows);
      }
    }
    return;
  }
  // token tiles: blocks of ROW_BLOCK rows × one token tile, so that the tile's activations (T·k bytes) and the
  // block's codes (ROW_BLOCK·k/4 bytes) stay in L1/L2 while the block is swept
  const pairs = ASC_FEATURE_RELAXED_SIMD && mode == TILE_R2T4 && ks != KS_DLT64;
  const TT = pairs ? QUAD_PAIR_TOKS_T : ks == KS_DLT64 ? DLT64_TOKS_T : QUAD_TOKS_T;
  for (let rb = r0; rb < r1; rb += ROW_BLOCK) {
    const rbe = min(rb + ROW_BLOCK, r1);
    for (let t = 0; t < n; t += TT) {
      const T = min(TT, n - t);
      const t4 = <usize>t << 2;
      const at = a + <usize>t * cs;
      let r = rb;
      if (pairs) {
        for (; r + 8 <= rbe; r += 8) {
          const sr = <usize>r << 2, ss = <usize>(r >> 2) * sgs;
          const wq = w + <usize>(r >> 2) * qb;
          const ot = o + <usize>t * oStride + sr;
          tern_quad2_toks(ks, T, wq, qb, at, cs, sw + ss, sh + ss, sgs, ad + t4, as + t4, ax + t4, gs, nUnits, upg, ng, wscale, ot, oStride);
        }
      }
      for (; r < rbe; r += 4) {
        const sr = <usize>r << 2, ss = <usize>(r >> 2) * sgs;
        const wq = w + <usize>(r >> 2) * qb;
        const ot = o + <usize>t * oStride + sr;
        const rows = min(4, rbe - r);
        tern_quad_toks(ks, T, wq, at, cs, sw + ss, sh + ss, sgs, ad + t4, as + t4, ax + t4, gs, nUnits, upg, ng, wscale, ot, oStride, rows);
      }
    }
  }
}

/**
 * Several ternary matrices that read the same quantized activations (q/k/v, gate/up) as one range of rows, so that a
 * thread pool splits them in one call (one barrier instead of one per matrix). Entry i of `count` (MSET_ENTRY_WORDS
 * words apart from `set`, MSET_* words: its own ternMatmul arguments) covers rows [start, start + rows) of the range,
 * start a multiple of 4. Computes the range's rows [r0, r1) (r0 a multiple of 4), each row exactly as ternMatmul
 * alone computes it. The activation arguments are ternMatmul's.
 */
export function ternMatmulSet(set: usize, count: i32, a: usize, cs: usize, ad: usize, as: usize, ax: usize, gs: usize,
  n: i32, tileMode: i32, r0: i32, r1: i32): void {
  for (let i = 0; i < count; i++) {
    const e = set + ((<usize>i * <usize>MSET_ENTRY_WORDS) << 2);
    const start = load<i32>(e + (<usize>MSET_START << 2));
    const lo = max(r0, start);
    const hi = min(r1, start + load<i32>(e + (<usize>MSET_ROWS << 2)));
    if (lo >= hi) continue;
    ternMatmul(load<i32>(e + (<usize>MSET_FAM << 2)), load<u32>(e + (<usize>MSET_CODES << 2)),
      load<u32>(e + (<usize>MSET_ROW_BYTES << 2)), a, cs, load<u32>(e + (<usize>MSET_SCALES << 2)),
      load<u32>(e + (<usize>MSET_SHIFTS << 2)), load<u32>(e + (<usize>MSET_SCALE_STRIDE << 2)), ad, as, ax, gs,
      load<i32>(e + (<usize>MSET_UNITS << 2)), load<i32>(e + (<usize>MSET_UPG << 2)), load<i32>(e + (<usize>MSET_GROUPS << 2)),
      load<f32>(e + (<usize>MSET_TENSOR_SCALE << 2)), n, load<u32>(e + (<usize>MSET_OUT << 2)),
      load<u32>(e + (<usize>MSET_OUT_STRIDE << 2)), tileMode, lo - start, hi - start);
  }
}

/** Rows per block of the token-tiled sweep (a multiple of 8: two-quad tiles). */
const ROW_BLOCK: i32 = 16;

/** Address of byte B of row r's T2 row (layout.ts) in row quads: per 16-byte unit, 4 vectors of 4 bytes × 4 rows. */
@inline function quadByte(codes: usize, rowBytes: usize, r: i32, B: i32): usize {
  return codes + <usize>(r >> 2) * quadBytes(rowBytes) + (<usize>(B >> 4) << 6) + (<usize>((B & 15) >> 2) << 4)
    + (<usize>(r & 3) << 2) + <usize>(B & 3);
}

/**
 * TQ2_0 (nb 66-byte blocks a row: qs[64], f16 d) to the kernel layout, rows [r0, r1): codes in row quads (quadByte;
 * the 64 code bytes of a block are the T2 bytes 64b…64b+63 of its row) and f32 scales, quad-major (scaleAt).
 */
export function repackTq2(src: usize, codes: usize, scales: usize, nb: i32, r0: i32, r1: i32): void {
  const rowBytes = <usize>nb << 6;
  for (let r = r0; r < r1; r++) {
    for (let b = 0; b < nb; b++) {
      const sb = src + (<usize>r * <usize>nb + <usize>b) * 66;
      for (let j = 0; j < 64; j += 4) store<u32>(quadByte(codes, rowBytes, r, (b << 6) + j), load<u32>(sb + <usize>j));
      store<f32>(scaleAt(scales, nb, r, b), f16ToF32(load<u16>(sb, 64)));
    }
  }
}

/**
 * TQ1_0 (54-byte blocks: qs[48], qh[4], f16 d; five trits per byte, trit n of q = ((u8)(q·3^n)·3) >> 8) to the
 * same kernel layout as repackTq2 (2-bit codes of TQ2_0's order in row quads, quad-major f32 scales), rows [r0, r1).
 */
export function repackTq1(src: usize, codes: usize, scales: usize, nb: i32, r0: i32, r1: i32): void {
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
      store<f32>(scaleAt(scales, nb, r, b), f16ToF32(load<u16>(sb, 52)));
    }
  }
}

/** Rows of 2-bit codes (rowBytes each: I2_S as stored, DLT's T2 rows; layout.ts) to row quads (quadByte), rows [r0, r1). */
export function repackRows(src: usize, codes: usize, rowBytes: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const row = src + <usize>r * <usize>rowBytes;
    for (let j = 0; j < rowBytes; j += 4) store<u32>(quadByte(codes, <usize>rowBytes, r, j), load<u32>(row + <usize>j));
  }
}

/**
 * Sets the i32 at `flag` to 1 when one of the code bytes [b0, b1) at `codes` holds a 2-bit field of 3, the code no
 * ternary quantizer writes (a hostile or broken file): the multiply-add kernels read it as +2 (as llama.cpp does), the
 * Vec-LUT tables have no row for it, so CpuKernels keeps such a matrix on the multiply-add tiles.
 */
export function ternaryCode3(codes: usize, flag: usize, b0: i32, b1: i32): void {
  let m = i32x4.splat(0);
  let i = <usize>b0;
  for (; i + 16 <= <usize>b1; i += 16) {
    const v = v128.load(codes + i);
    m = v128.or(m, v128.and(v, i16x8.shr_u(v, 1)));
  }
  let tail: u32 = 0;
  for (; i < <usize>b1; i++) {
    const b = <u32>load<u8>(codes + i);
    tail |= b & (b >> 1);
  }
  // a field of 3 has both of its bits set: bit 2l and bit 2l + 1 (the shift moves bit 8 of a lane's high byte into
  // bit 7 of its low byte, which the mask drops)
  if (v128.any_true(v128.and(m, i8x16.splat(0x55))) || (tail & 0x55) != 0) atomic.store<i32>(flag, 1);
}
