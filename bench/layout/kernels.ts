// Decode matvec (n = 1) of TQ2_0 codes in two layouts, for bench/layout.ts:
// - pairMatvec: the library's kernel (assembly/kernels/ternary_tiles.ts, 2-row tiles) over TQ2 row pairs (the
//   16-byte units of rows 2p and 2p+1 alternating: src/runtime/cpu/layout.ts);
// - quadMatvec: a prototype over "row quads": rows 4q…4q+3 interleaved 4 code bytes at a time, so one 16-byte
//   vector holds 4 code bytes of each of 4 rows, the activations are 4-byte broadcasts (v128.load32_splat), the
//   i32 lanes after one extadd_pairwise are the 4 rows (no horizontal reduction in the per-256 flush), and the
//   whole matrix is one sequential stream. Same integer sums, same f32 operations in the same order: outputs are
//   bit-identical to the library's.
import { tern_tq2_rows_r2_t1 } from "../../assembly/kernels/ternary_tiles";

/** The library's 2-row matvec tile over all m rows (row pairs of 2·rowBytes; scales f32 [k/256][m]). */
export function pairMatvec(w: usize, rowBytes: usize, a: usize, sw: usize, sgs: usize, ad: usize, as: usize, gs: usize,
  nUnits: i32, m: i32, o: usize): void {
  for (let r = 0; r < m; r += 2) {
    tern_tq2_rows_r2_t1(w + <usize>r * rowBytes, 16, a, 0, sw + (<usize>r << 2), 0, sgs, ad, as, 0, gs, nUnits, 4, 0,
      o + (<usize>r << 2), 0);
  }
}

/** The row-quad matvec over all m rows (m a multiple of 4): quad q's codes at w + q·(k/4)·4 bytes. */
export function quadMatvec(w: usize, a: usize, sw: usize, sgs: usize, ad: usize, as: usize, gs: usize, nBlocks: i32,
  m: i32, o: usize): void {
  const quadBytes = <usize>nBlocks << 8;
  for (let r = 0; r < m; r += 4) {
    quadRows(w + <usize>(r >> 2) * quadBytes, a, sw + (<usize>r << 2), sgs, ad, as, gs, nBlocks, o + (<usize>r << 2));
  }
}

// Per 256-block of 4 rows: 16 code vectors (2 chunks × 8 steps of 4 code bytes per row). Field l of code byte j
// of a chunk is element 32l + j, whose activation sits at 64·(j/16) + 16l + j%16 in the chunk (layout.ts), so the
// 4 bytes j…j+3 of field l are one 4-byte broadcast. Fields 1 and 3 are masked in place (×4) into d, folded per
// chunk (i16 lane bounds, |q| <= 127: d 32 products × 8·127 = 32512 before the fold; c 32512 per block).
@inline function quadRows(w: usize, a: usize, sw: usize, sgs: usize, ad: usize, as: usize, gs: usize, nBlocks: i32,
  o: usize): void {
  let f = f32x4.splat(0);
  const M03 = i8x16.splat(3);
  const M0C = i8x16.splat(12);
  let wp = w;
  let ap = a;
  for (let b = 0; b < nBlocks; b++) {
    let c = i16x8.splat(0);
    for (let ch = 0; ch < 2; ch++) {
      let d = i16x8.splat(0);
      let i = 0;
      do {
        const q = v128.load(wp);
        const s = i16x8.shr_u(q, 4);
        c = i16x8.add(c, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(ap), v128.and(q, M03)));
        d = i16x8.add(d, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(ap, 16), v128.and(q, M0C)));
        c = i16x8.add(c, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(ap, 32), v128.and(s, M03)));
        d = i16x8.add(d, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(ap, 48), v128.and(s, M0C)));
        wp += 16;
        ap += (i & 3) == 3 ? 52 : 4; // 4 steps of 4 bytes, then on to the next half-chunk (64 activation bytes)
        i++;
      } while (i < 8);
      c = i16x8.add(c, i16x8.shr_s(d, 2));
    }
    const S = i32x4.sub(i32x4.extadd_pairwise_i16x8_s(c), v128.load32_splat(as + <usize>b * gs));
    f = f32x4.add(f, f32x4.mul(f32x4.convert_i32x4_s(S), f32x4.mul(v128.load(sw + <usize>b * sgs), v128.load32_splat(ad + <usize>b * gs))));
  }
  v128.store(o, f);
}
