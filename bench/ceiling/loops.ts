// Register-only loops with the instruction mix of the ternary kernels' inner loops (no memory traffic, no
// flushes), compiled by bench/ceiling.ts: what this CPU can do per core through V8's wasm SIMD, the ceiling the
// kernels are measured against. Every loop counts 16 MACs (32 ops) per i16 dot. Relaxed SIMD only: the kernels'
// 8-bit dot is i16x8.relaxed_dot_i8x16_i7x16_s (pmaddubsw on x86); the i16 accumulators may wrap (values unused).

/** 8 independent dot + add per iteration: the multiply ceiling (nothing else to do). */
export function dotAdd(n: i32, seed: i32): i32 {
  const x = i8x16.splat(<i8>seed);
  const y = i8x16.splat(<i8>(seed + 1));
  const z = i8x16.splat(<i8>(seed + 2));
  let a0 = i16x8.splat(0), a1 = i16x8.splat(0), a2 = i16x8.splat(0), a3 = i16x8.splat(0);
  let a4 = i16x8.splat(0), a5 = i16x8.splat(0), a6 = i16x8.splat(0), a7 = i16x8.splat(0);
  for (let i = 0; i < n; i++) {
    a0 = i16x8.add(a0, i16x8.relaxed_dot_i8x16_i7x16_s(x, y));
    a1 = i16x8.add(a1, i16x8.relaxed_dot_i8x16_i7x16_s(y, z));
    a2 = i16x8.add(a2, i16x8.relaxed_dot_i8x16_i7x16_s(z, x));
    a3 = i16x8.add(a3, i16x8.relaxed_dot_i8x16_i7x16_s(x, z));
    a4 = i16x8.add(a4, i16x8.relaxed_dot_i8x16_i7x16_s(y, x));
    a5 = i16x8.add(a5, i16x8.relaxed_dot_i8x16_i7x16_s(z, y));
    a6 = i16x8.add(a6, i16x8.relaxed_dot_i8x16_i7x16_s(x, x));
    a7 = i16x8.add(a7, i16x8.relaxed_dot_i8x16_i7x16_s(y, y));
  }
  return sum8(a0, a1, a2, a3, a4, a5, a6, a7);
}

/**
 * The matvec (decode) tile's loop body, per 64 weights of 2 rows: 2 code loads, nibble unpacking (1 shift +
 * 4 ands per row), 4 activation loads, 8 dots, 8 adds into 4 accumulators. The data cycle through 4 KiB (L1).
 */
export function matvecMix(n: i32, buf: usize): i32 {
  const M03 = i8x16.splat(3);
  const M0C = i8x16.splat(12);
  let c0 = i16x8.splat(0), d0 = i16x8.splat(0), c1 = i16x8.splat(0), d1 = i16x8.splat(0);
  for (let i = 0; i < n; i++) {
    const p = buf + (<usize>(i & 31) << 7);
    const q0 = v128.load(p);
    const q1 = v128.load(p, 16);
    const s0 = i16x8.shr_u(q0, 4);
    const s1 = i16x8.shr_u(q1, 4);
    let v = v128.load(p, 32);
    c0 = i16x8.add(c0, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(q0, M03)));
    c1 = i16x8.add(c1, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(q1, M03)));
    v = v128.load(p, 48);
    d0 = i16x8.add(d0, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(q0, M0C)));
    d1 = i16x8.add(d1, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(q1, M0C)));
    v = v128.load(p, 64);
    c0 = i16x8.add(c0, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(s0, M03)));
    c1 = i16x8.add(c1, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(s1, M03)));
    v = v128.load(p, 80);
    d0 = i16x8.add(d0, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(s0, M0C)));
    d1 = i16x8.add(d1, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(s1, M0C)));
  }
  return sum8(c0, d0, c1, d1, c0, c0, c0, c0);
}

export function matvecMixReg(n: i32, buf: usize): i32 {
  // masks from a value Binaryen cannot fold (n >> 31 is 0 for n ≥ 0): V8 keeps them in registers
  const z = i32x4.splat(n >> 31);
  const M03 = v128.or(z, i8x16.splat(3));
  const M0C = v128.or(z, i8x16.splat(12));
  let c0 = i16x8.splat(0), d0 = i16x8.splat(0), c1 = i16x8.splat(0), d1 = i16x8.splat(0);
  for (let i = 0; i < n; i++) {
    const p = buf + (<usize>(i & 31) << 7);
    const q0 = v128.load(p);
    const q1 = v128.load(p, 16);
    const s0 = i16x8.shr_u(q0, 4);
    const s1 = i16x8.shr_u(q1, 4);
    let v = v128.load(p, 32);
    c0 = i16x8.add(c0, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(q0, M03)));
    c1 = i16x8.add(c1, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(q1, M03)));
    v = v128.load(p, 48);
    d0 = i16x8.add(d0, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(q0, M0C)));
    d1 = i16x8.add(d1, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(q1, M0C)));
    v = v128.load(p, 64);
    c0 = i16x8.add(c0, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(s0, M03)));
    c1 = i16x8.add(c1, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(s1, M03)));
    v = v128.load(p, 80);
    d0 = i16x8.add(d0, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(s0, M0C)));
    d1 = i16x8.add(d1, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(s1, M0C)));
  }
  return sum8(c0, d0, c1, d1, c0, c0, c0, c0);
}

export function matvecMixMem(n: i32, buf: usize): i32 {
  // masks read from memory at each use (the 32 bytes before buf hold them): an operand V8 can fold into the and
  const mp = buf - 32;
  v128.store(mp, i8x16.splat(3));
  v128.store(mp, i8x16.splat(12), 16);
  let c0 = i16x8.splat(0), d0 = i16x8.splat(0), c1 = i16x8.splat(0), d1 = i16x8.splat(0);
  for (let i = 0; i < n; i++) {
    const p = buf + (<usize>(i & 31) << 7);
    const q0 = v128.load(p);
    const q1 = v128.load(p, 16);
    const s0 = i16x8.shr_u(q0, 4);
    const s1 = i16x8.shr_u(q1, 4);
    let v = v128.load(p, 32);
    c0 = i16x8.add(c0, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(q0, v128.load(mp))));
    c1 = i16x8.add(c1, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(q1, v128.load(mp))));
    v = v128.load(p, 48);
    d0 = i16x8.add(d0, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(q0, v128.load(mp, 16))));
    d1 = i16x8.add(d1, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(q1, v128.load(mp, 16))));
    v = v128.load(p, 64);
    c0 = i16x8.add(c0, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(s0, v128.load(mp))));
    c1 = i16x8.add(c1, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(s1, v128.load(mp))));
    v = v128.load(p, 80);
    d0 = i16x8.add(d0, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(s0, v128.load(mp, 16))));
    d1 = i16x8.add(d1, i16x8.relaxed_dot_i8x16_i7x16_s(v, v128.and(s1, v128.load(mp, 16))));
  }
  return sum8(c0, d0, c1, d1, c0, c0, c0, c0);
}

/** The generated rows kernel's loop (tern_tq2q_rows_t1): 1 code vector per step, splat loads, the flush every 8. */
export function matvecRows(n: i32, buf: usize): i32 {
  const M03 = i8x16.splat(3);
  const M0C = i8x16.splat(12);
  let c0 = i16x8.splat(0);
  let x0 = i16x8.splat(0);
  for (let r = 0; r < n; r++) {
    let wp = buf;
    let ap = buf + 2048;
    let i = 0;
    const nv = 64;
    do {
      let d0 = i16x8.splat(0);
      const stop = min(i + 8, nv);
      do {
        const q = v128.load(wp);
        const s = i16x8.shr_u(q, 4);
        c0 = i16x8.add(c0, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(ap, 0), v128.and(q, M03)));
        d0 = i16x8.add(d0, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(ap, 16), v128.and(q, M0C)));
        c0 = i16x8.add(c0, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(ap, 32), v128.and(s, M03)));
        d0 = i16x8.add(d0, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(ap, 48), v128.and(s, M0C)));
        wp += 16;
        ap += (i & 3) == 3 ? 52 : 4;
        i++;
      } while (i < stop);
      c0 = i16x8.add(c0, i16x8.shr_s(d0, 2));
    } while (i < nv);
    x0 = i16x8.add(x0, c0);
  }
  return sum8(x0, c0, c0, c0, c0, c0, c0, c0);
}

/** matvecRows with the masks loaded at each use (as matvecMixMem). */
export function matvecRowsMem(n: i32, buf: usize): i32 {
  const mp = buf - 32;
  v128.store(mp, i8x16.splat(3));
  v128.store(mp, i8x16.splat(12), 16);
  let c0 = i16x8.splat(0);
  let x0 = i16x8.splat(0);
  for (let r = 0; r < n; r++) {
    let wp = buf;
    let ap = buf + 2048;
    let i = 0;
    const nv = 64;
    do {
      let d0 = i16x8.splat(0);
      const stop = min(i + 8, nv);
      do {
        const q = v128.load(wp);
        const s = i16x8.shr_u(q, 4);
        c0 = i16x8.add(c0, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(ap, 0), v128.and(q, v128.load(mp))));
        d0 = i16x8.add(d0, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(ap, 16), v128.and(q, v128.load(mp, 16))));
        c0 = i16x8.add(c0, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(ap, 32), v128.and(s, v128.load(mp))));
        d0 = i16x8.add(d0, i16x8.relaxed_dot_i8x16_i7x16_s(v128.load32_splat(ap, 48), v128.and(s, v128.load(mp, 16))));
        wp += 16;
        ap += (i & 3) == 3 ? 52 : 4;
        i++;
      } while (i < stop);
      c0 = i16x8.add(c0, i16x8.shr_s(d0, 2));
    } while (i < nv);
    x0 = i16x8.add(x0, c0);
  }
  return sum8(x0, c0, c0, c0, c0, c0, c0, c0);
}

/**
 * The matmul (prefill) tile's loop, 2 rows × 3 tokens: per 64 weights 2 code loads, then 4 field steps of
 * 2 ands + 2 shifts (codes carried, shifted by 2), 3 activation loads, 6 dots and 6 adds into 6 accumulators.
 * The data cycle through 4 KiB (L1).
 */
export function matmulMix(n: i32, buf: usize): i32 {
  const M3 = i8x16.splat(3);
  let c00 = i16x8.splat(0), c01 = i16x8.splat(0), c02 = i16x8.splat(0);
  let c10 = i16x8.splat(0), c11 = i16x8.splat(0), c12 = i16x8.splat(0);
  for (let i = 0; i < n; i++) {
    const p = buf + (<usize>(i & 15) << 8);
    let y0 = v128.load(p);
    let y1 = v128.load(p, 16);
    let ap = p + 32;
    let f = 0;
    do {
      const x0 = v128.and(y0, M3);
      const x1 = v128.and(y1, M3);
      y0 = i16x8.shr_u(y0, 2);
      y1 = i16x8.shr_u(y1, 2);
      let v = v128.load(ap);
      c00 = i16x8.add(c00, i16x8.relaxed_dot_i8x16_i7x16_s(v, x0));
      c10 = i16x8.add(c10, i16x8.relaxed_dot_i8x16_i7x16_s(v, x1));
      v = v128.load(ap, 64);
      c01 = i16x8.add(c01, i16x8.relaxed_dot_i8x16_i7x16_s(v, x0));
      c11 = i16x8.add(c11, i16x8.relaxed_dot_i8x16_i7x16_s(v, x1));
      v = v128.load(ap, 128);
      c02 = i16x8.add(c02, i16x8.relaxed_dot_i8x16_i7x16_s(v, x0));
      c12 = i16x8.add(c12, i16x8.relaxed_dot_i8x16_i7x16_s(v, x1));
      ap += 16;
      f++;
    } while (f < 4);
  }
  return sum8(c00, c01, c02, c10, c11, c12, c00, c00);
}

@inline function sum8(a: v128, b: v128, c: v128, d: v128, e: v128, f: v128, g: v128, h: v128): i32 {
  const s = i16x8.add(i16x8.add(i16x8.add(a, b), i16x8.add(c, d)), i16x8.add(i16x8.add(e, f), i16x8.add(g, h)));
  return i16x8.extract_lane_s(s, 0);
}

/**
 * Streaming read of [buf, buf + bytes) with 16-byte loads (4 independent xor chains), `passes` times: the
 * memory bandwidth a matvec over weights larger than the caches (a decode step of a real model) can use.
 */
export function streamRead(passes: i32, buf: usize, bytes: usize): i32 {
  let x0 = i8x16.splat(0), x1 = i8x16.splat(0), x2 = i8x16.splat(0), x3 = i8x16.splat(0);
  for (let p = 0; p < passes; p++) {
    const end = buf + bytes;
    for (let q = buf; q < end; q += 64) {
      x0 = v128.xor(x0, v128.load(q));
      x1 = v128.xor(x1, v128.load(q, 16));
      x2 = v128.xor(x2, v128.load(q, 32));
      x3 = v128.xor(x3, v128.load(q, 48));
    }
  }
  return i8x16.extract_lane_s(v128.xor(v128.xor(x0, x1), v128.xor(x2, x3)), 0);
}

/**
 * The same bytes read as `streams` sequential streams at once (stream s over part s of the buffer, 16 bytes of
 * each in turn; streams even): the pattern of the decode kernels' far quads and the F16 head's eighths. Past the
 * caches one stream keeps too few lines in flight; several far apart let the hardware prefetcher fill the core's
 * share of the memory bandwidth (bench/README.md, "four far streams").
 */
export function streamReadFar(passes: i32, buf: usize, bytes: usize, streams: i32): i32 {
  let x0 = i8x16.splat(0), x1 = i8x16.splat(0);
  const part = bytes / <usize>streams;
  for (let p = 0; p < passes; p++) {
    for (let q: usize = 0; q < part; q += 16) {
      let a = buf + q;
      for (let s = 0; s < streams; s += 2) {
        x0 = v128.xor(x0, v128.load(a));
        x1 = v128.xor(x1, v128.load(a + part));
        a += part << 1;
      }
    }
  }
  return i8x16.extract_lane_s(v128.xor(x0, x1), 0);
}
