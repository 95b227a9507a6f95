// The attention kernels (assembly/kernels/attention.ts) against the scalar reference, on random shapes:
// GQA groups, head sizes with and without a SIMD tail, batches that start mid-cache, f32, f16 and q8_0 caches,
// both wasm builds, one and two threads.
import { afterAll, describe, expect, it } from "vitest";
import { attend, kvRowBytes, storeKv, type KvType } from "../src/runtime/cpu/attention.ts";
import { CpuKernels } from "../src/runtime/cpu/kernels.ts";
import { attentionRef, q8KvRef } from "../src/runtime/cpu/reference/attention.ts";
import { f16BitsToF32, f32ToF16Bits } from "../src/runtime/tensor-types/half.ts";
import { rng } from "./helpers/random.ts";

const made: CpuKernels[] = [];
afterAll(() => made.forEach((k) => k.dispose()));

function randn(r: () => number): number {
  return Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
}

/** The values of `rows` q8_0 cache rows of hd elements at byte address p: f32(code) · the block's scale. */
function readQ8Cache(u8: Uint8Array, p: number, rows: number, hd: number): number[] {
  const rowBytes = kvRowBytes("q8_0", hd);
  const view = new DataView(u8.buffer, u8.byteOffset);
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    const row = p + r * rowBytes;
    for (let i = 0; i < hd; i++) {
      const scale = view.getFloat32(row + Math.ceil(hd / 4) * 4 + (i >> 5) * 4, true);
      out.push(Math.fround(view.getInt8(row + i) * scale));
    }
  }
  return out;
}

type Odd = "none" | "inf-key" | "nan-value" | "big-query";

/**
 * Random keys and values (len positions of kvw values, each through `round`) and n·heads·hd queries, with one odd
 * value planted: an infinite key that query head 0 meets with a positive component (a score of +inf: NaN through the
 * softmax), a NaN value, or a query of 2^16 or more.
 */
function oddInputs(r: () => number, len: number, kvw: number, queries: number, odd: Odd, round = (x: number) => x) {
  const kAll = Float32Array.from({ length: len * kvw }, () => round(randn(r)));
  const vAll = Float32Array.from({ length: len * kvw }, () => round(randn(r)));
  const q = Float32Array.from({ length: queries }, () => randn(r) * 2);
  if (odd === "inf-key") (kAll[3 * kvw + 5] = Infinity), (q[5] = 1.5);
  if (odd === "nan-value") vAll[(len - 2) * kvw + 1] = NaN;
  if (odd === "big-query") q[7] = 70000;
  return { kAll, vAll, q };
}

/** The bits of attention of n queries at pos0… over a cache of `type` (3 positions of room) holding k and v. */
function attendBits(
  K: CpuKernels,
  type: KvType,
  k: Float32Array,
  v: Float32Array,
  q: Float32Array,
  shape: { heads: number; kvHeads: number; headDim: number },
  n: number,
  pos0: number,
): number[] {
  const h = K.heap;
  const len = pos0 + n;
  const rowBytes = kvRowBytes(type, shape.headDim);
  const capacity = len + 3;
  const cache = { k: h.alloc(capacity * shape.kvHeads * rowBytes), v: h.alloc(capacity * shape.kvHeads * rowBytes), capacity };
  const s = { ...shape, type };
  storeKv(K, cache, h.upload(k), h.upload(v), len, 0, s);
  const width = n * shape.heads * shape.headDim;
  const out = h.alloc(width * 4);
  attend(K, cache, h.upload(q), out, h.alloc(n * shape.heads * len * 4), n, pos0, s);
  return Array.from(new Uint32Array(h.f32View(out, width).slice().buffer));
}

const cases: Array<[heads: number, kvHeads: number, hd: number, pos0: number, n: number]> = [
  [8, 4, 8, 0, 1],
  [8, 4, 8, 0, 7],
  [4, 4, 6, 5, 3],
  [6, 2, 64, 17, 1],
  [2, 1, 128, 3, 9],
  [5, 5, 13, 40, 2],
  // one query per unit (decode without GQA), and groups of 4 whose chunks of four queries span tokens
  [3, 3, 16, 10, 1],
  [8, 2, 20, 6, 6],
];

describe.each([
  ["relaxed", 1],
  ["simd128", 1],
  ["relaxed", 2],
] as const)("attention (%s, %i threads)", (simd, threads) => {
  for (const type of ["f32", "f16", "q8_0"] as KvType[]) {
    it.each(cases)(`${type} cache: heads %i/%i, head size %i, pos0 %i, n %i`, async (heads, kvHeads, hd, pos0, n) => {
      const K = await CpuKernels.create({ simd, threads, parallelThreshold: 0 });
      made.push(K);
      const r = rng(heads * 1000 + hd * 10 + pos0 + n);
      const len = pos0 + n;
      const kvw = kvHeads * hd;
      const rowBytes = kvRowBytes(type, hd);
      const kAll = Float32Array.from({ length: len * kvw }, () => randn(r));
      const vAll = Float32Array.from({ length: len * kvw }, () => randn(r));
      const q = Float32Array.from({ length: n * heads * hd }, () => randn(r) * 2);
      const h = K.heap;
      // room for more positions than are used: the heads' blocks are `capacity` rows apart
      const capacity = len + 5;
      const cache = { k: h.alloc(capacity * kvHeads * rowBytes), v: h.alloc(capacity * kvHeads * rowBytes), capacity };
      // the earlier positions through one store, the batch through a second one (as prefill then decode)
      const kp = h.upload(kAll);
      const vp = h.upload(vAll);
      if (pos0 > 0) storeKv(K, cache, kp, vp, pos0, 0, { heads, kvHeads, headDim: hd, type });
      storeKv(K, cache, kp + pos0 * kvw * 4, vp + pos0 * kvw * 4, n, pos0, { heads, kvHeads, headDim: hd, type });
      const round = (x: Float32Array) => (type === "f16" ? x.map((v) => f16BitsToF32(f32ToF16Bits(v))) : type === "q8_0" ? q8KvRef(x, hd).values : x);
      // the stored cache is exactly the (rounded) input, head-major: head g's position j at row g·capacity + j
      const all =
        type === "f16"
          ? Array.from(h.u16.subarray(cache.k >> 1, (cache.k >> 1) + capacity * kvw), f16BitsToF32)
          : type === "q8_0"
            ? readQ8Cache(h.u8, cache.k, kvHeads * capacity, hd)
            : Array.from(h.f32View(cache.k, capacity * kvw));
      const stored = Array.from({ length: len * kvw }, (_, e) => {
        const j = Math.floor(e / kvw);
        const g = Math.floor((e % kvw) / hd);
        return all[(g * capacity + j) * hd + (e % hd)];
      });
      expect(stored).toEqual(Array.from(round(kAll)));
      const qp = h.upload(q);
      const out = h.alloc(n * heads * hd * 4);
      const scores = h.alloc(n * heads * len * 4);
      attend(K, cache, qp, out, scores, n, pos0, { heads, kvHeads, headDim: hd, type });
      const want = attentionRef(q, round(kAll), round(vAll), n, pos0, heads, kvHeads, hd);
      const got = h.f32View(out, n * heads * hd);
      let err = 0;
      for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i]! - want[i]!));
      expect(err).toBeLessThan(2e-5);
    });
  }
});

// An f16 cache and an f32 cache holding the same (rounded) values give the same bits: the f16 kernels compute the
// very products and sums of the f32 ones, whichever way they convert the halves (attendOneHalves and, for batches,
// attendFourHalves rescale them, and fall back to the exact converter on ±inf/NaN halves and queries of 2^16 or more).
describe.each([
  ["relaxed", 1],
  ["simd128", 1],
  ["relaxed", 2],
] as const)("f16 cache = f32 cache of the rounded values, bit for bit (%s, %i threads)", (simd, threads) => {
  const shapes: Array<[heads: number, kvHeads: number, hd: number, pos0: number, n: number, odd: Odd]> = [
    [16, 16, 96, 199, 1, "none"],
    [4, 4, 64, 130, 1, "none"],
    [3, 3, 8, 6, 1, "none"],
    [5, 5, 40, 2, 1, "none"],
    [4, 4, 12, 33, 1, "none"],
    [8, 2, 32, 17, 3, "none"],
    [4, 4, 64, 21, 1, "inf-key"],
    [4, 4, 64, 21, 1, "nan-value"],
    [4, 4, 64, 21, 1, "big-query"],
    // batches (prefill: four queries at a time, attendFourHalves; a ragged last group of 1–3)
    [16, 16, 96, 0, 9, "none"],
    [4, 4, 64, 10, 7, "none"],
    [2, 2, 8, 3, 6, "none"],
    [8, 2, 32, 17, 6, "none"],
    [4, 4, 64, 21, 5, "inf-key"],
    [4, 4, 64, 21, 5, "nan-value"],
    [4, 4, 64, 21, 5, "big-query"],
  ];
  it.each(shapes)("heads %i/%i, head size %i, pos0 %i, n %i, %s", async (heads, kvHeads, hd, pos0, n, odd) => {
    const K = await CpuKernels.create({ simd, threads, parallelThreshold: 0 });
    made.push(K);
    const r = rng(heads * 7 + hd * 3 + pos0 + n);
    const round = (x: number) => f16BitsToF32(f32ToF16Bits(x));
    const { kAll, vAll, q } = oddInputs(r, pos0 + n, kvHeads * hd, n * heads * hd, odd, round);
    const shape = { heads, kvHeads, headDim: hd };
    const outs = (["f16", "f32"] as KvType[]).map((type) => attendBits(K, type, kAll, vAll, q, shape, n, pos0));
    expect(outs[0]).toEqual(outs[1]);
  });
});

// A q8_0 cache and an f32 cache holding its dequantized values give the same bits: attendOneQ8 (head sizes that are
// multiples of 8) and the generic paths compute the f32 kernels' products and sums, each element f32(code) · scale.
describe.each([
  ["relaxed", 1],
  ["simd128", 1],
  ["relaxed", 2],
] as const)("q8_0 cache = f32 cache of the dequantized values, bit for bit (%s, %i threads)", (simd, threads) => {
  const shapes: Array<[heads: number, kvHeads: number, hd: number, pos0: number, n: number, odd: Exclude<Odd, "big-query">]> = [
    [16, 16, 96, 199, 1, "none"],
    [4, 4, 64, 130, 1, "none"],
    [3, 3, 8, 6, 1, "none"],
    [5, 5, 40, 2, 1, "none"],
    [4, 4, 72, 33, 1, "none"],
    [4, 4, 12, 33, 1, "none"],
    [4, 4, 13, 9, 1, "none"],
    [8, 2, 32, 17, 3, "none"],
    [6, 3, 40, 5, 6, "none"],
    [4, 4, 64, 21, 1, "inf-key"],
    [4, 4, 64, 21, 1, "nan-value"],
  ];
  it.each(shapes)("heads %i/%i, head size %i, pos0 %i, n %i, %s", async (heads, kvHeads, hd, pos0, n, odd) => {
    const K = await CpuKernels.create({ simd, threads, parallelThreshold: 0 });
    made.push(K);
    const r = rng(heads * 11 + hd * 5 + pos0 + n);
    const { kAll, vAll, q } = oddInputs(r, pos0 + n, kvHeads * hd, n * heads * hd, odd);
    const shape = { heads, kvHeads, headDim: hd };
    const outs = [
      attendBits(K, "q8_0", kAll, vAll, q, shape, n, pos0),
      attendBits(K, "f32", q8KvRef(kAll, hd).values, q8KvRef(vAll, hd).values, q, shape, n, pos0),
    ];
    if (odd === "none") expect(outs[0]!.some((b) => (b & 0x7f800000) === 0x7f800000)).toBe(false);
    else expect(outs[0]!.some((b) => (b & 0x7f800000) === 0x7f800000)).toBe(true);
    expect(outs[0]).toEqual(outs[1]);
  });
});

describe.each([
  ["relaxed", 1],
  ["simd128", 2],
] as const)("q8_0 cache store (%s, %i threads)", (simd, threads) => {
  it("stores the reference's codes and scales: ragged blocks, zero blocks, ties, ±inf and NaN", async () => {
    const K = await CpuKernels.create({ simd, threads, parallelThreshold: 0 });
    made.push(K);
    const r = rng(7);
    const hd = 45; // one whole block and a ragged one of 13
    const kvHeads = 3;
    const n = 5;
    const x = Float32Array.from({ length: n * kvHeads * hd }, () => randn(r) * 2 ** Math.floor(r() * 20 - 10));
    // whole blocks (vectorized) and ragged ones (scalar): row 1 an all-zero first block; row 2 ties (±k + 1/2 against
    // a max of 127); NaN in row 4's ragged block and row 5's whole one; -inf in row 7's whole block
    x.fill(0, hd, hd + 32);
    for (let i = 0; i < 32; i++) x[2 * hd + i] = i === 0 ? 127 : i - 16 + 0.5;
    x[4 * hd + 33] = NaN;
    x[5 * hd + 3] = NaN;
    x[7 * hd + 2] = -Infinity;
    const capacity = n + 2;
    const rowBytes = kvRowBytes("q8_0", hd);
    const cache = K.heap.alloc(kvHeads * capacity * rowBytes);
    const xp = K.heap.upload(x);
    storeKv(K, { k: cache, v: K.heap.alloc(kvHeads * capacity * rowBytes), capacity }, xp, xp, n, 2, {
      heads: kvHeads,
      kvHeads,
      headDim: hd,
      type: "q8_0",
    });
    const want = q8KvRef(x, hd);
    const view = new DataView(K.heap.u8.buffer);
    for (let t = 0; t < n; t++) {
      for (let g = 0; g < kvHeads; g++) {
        const row = cache + (g * capacity + 2 + t) * rowBytes;
        const src = t * kvHeads + g;
        const codes = Array.from({ length: hd }, (_, i) => view.getInt8(row + i));
        expect(codes).toEqual(Array.from(want.codes.subarray(src * hd, (src + 1) * hd)));
        const scales = [0, 1].map((b) => view.getFloat32(row + 48 + b * 4, true));
        expect(scales).toEqual(Array.from(want.scales.subarray(src * 2, src * 2 + 2)));
      }
    }
    // the reference's values: NaN for the non-finite blocks, ties to even
    expect(Number.isNaN(want.values[4 * hd + 40]!)).toBe(true);
    expect(Number.isNaN(want.values[7 * hd + 20]!)).toBe(true);
    expect(Number.isNaN(want.values[5 * hd + 31]!)).toBe(true);
    expect(Array.from(want.codes.subarray(2 * hd + 1, 2 * hd + 4))).toEqual([-14, -14, -12]);
  });
});

describe.each(["relaxed", "simd128"] as const)("f16 cache store (%s)", (simd) => {
  it("rounds every kind of value as the scalar reference does: zeros, subnormals, ties, overflow, inf, NaN", async () => {
    const K = await CpuKernels.create({ simd, threads: 1 });
    made.push(K);
    const r = rng(99);
    const f = (bits: number) => new Float32Array(new Uint32Array([bits >>> 0]).buffer)[0]!;
    const special = [
      0,
      -0,
      1,
      -1,
      65504,
      -65504,
      65519.99,
      65520,
      65536,
      1e6,
      -1e6,
      Infinity,
      -Infinity,
      NaN,
      2 ** -14,
      -(2 ** -14),
      2 ** -15,
      2 ** -24,
      2 ** -25,
      2 ** -26,
      1e-10,
      -1e-10,
      f(0x3f801000),
      f(0x3f803000),
      f(0x3f800fff),
      f(0x477fefff),
      f(0x477ff000),
      f(0x387fffff),
      f(0x38800000),
    ];
    // Groups of 8 that are all normal (the vector path), groups with one odd value (the scalar path), a tail.
    // Ties and near-ties of the mantissa rounding, and the largest value that still rounds below infinity, in a
    // group of 8 normal halves (the vector path).
    const ties = [f(0x3f801000), f(0x3f803000), f(0x3f800fff), f(0x3f802fff), f(0x3f805000), -f(0x3f801000), f(0x477fefff), f(0x387ff000 + 0x800000)];
    const values: number[] = [...ties];
    for (let g = 0; g < 40; g++) {
      for (let i = 0; i < 8; i++) values.push((r() - 0.5) * 2 ** Math.floor(r() * 40 - 20));
      if (g % 3 === 0) values[values.length - 1 - (g % 8)] = special[g % special.length]!;
    }
    values.push(...special);
    const x = Float32Array.from(values);
    const width = x.length; // one token of `width` values
    const cache = K.heap.alloc(width * 2);
    const xp = K.heap.upload(x);
    storeKv(K, { k: cache, v: K.heap.alloc(width * 2), capacity: 1 }, xp, xp, 1, 0, { heads: 1, kvHeads: 1, headDim: width, type: "f16" });
    const got = Array.from(K.heap.u16.subarray(cache >> 1, (cache >> 1) + width));
    const want = Array.from(x, (v) => f32ToF16Bits(v));
    // NaN: any quiet-NaN pattern of the right sign will do
    for (let i = 0; i < width; i++)
      if (Number.isNaN(x[i]!)) expect((got[i]! & 0x7c00) === 0x7c00 && (got[i]! & 0x3ff) !== 0).toBe(true), (got[i] = want[i]!);
    expect(got).toEqual(want);
  });
});
