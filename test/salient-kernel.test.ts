// The salient side matrix's product (assembly/kernels/salient.ts) against its scalar reference
// (src/runtime/cpu/reference/salient.ts) bit for bit, on both wasm builds and on 1 and 2 threads, over random
// shapes with ragged edges: empty rows, full rows, no entries at all, row lengths that are a multiple of nothing,
// one token and several, rows not a multiple of 4. And the projection: a ternary matrix with a side matrix gives
// its own product plus S·x of the f32 input, in one thread-pool call (ternSalientMatmul) on 1 and 2 threads.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SALIENT_OFFSET_COLS } from "../src/runtime/cpu/abi.ts";
import { CpuKernels } from "../src/runtime/cpu/kernels.ts";
import { Projector } from "../src/runtime/cpu/projection.ts";
import { salientMatmulRef } from "../src/runtime/cpu/reference/salient.ts";
import { salientBytes, salientBytesOf, salientMatmul, setSalientInput, uploadSalient } from "../src/runtime/cpu/salient.ts";
import { relaxedSimdHint, relaxedSimdSupported } from "../src/runtime/cpu/wasm/features.ts";
import { denseSalient, type SalientMatrixData } from "../src/runtime/model/salient-file.ts";
import { GgmlType, tensorTypeTraits } from "../src/runtime/tensor-types/table.ts";
import { rng } from "./helpers/random.ts";
import { randomSalient } from "./helpers/salient.ts";

const BUILDS = ["simd128", "relaxed"] as const;

function randomX(seed: number, len: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: len }, () => (r() * 2 - 1) * 3);
}

interface Case {
  name: string;
  rows: number;
  cols: number;
  n: number;
  s: SalientMatrixData;
}

const CASES: Case[] = [];
for (const [rows, cols, share, n, seed] of [
  [1, 1, 1, 1, 1],
  [5, 3, 0.5, 1, 2],
  [7, 13, 0.3, 3, 3],
  [33, 257, 0.05, 1, 4],
  [33, 257, 0.05, 5, 5],
  [64, 1000, 0.01, 2, 6],
  [130, 4097, 0.02, 1, 7],
  [130, 4097, 0.02, 7, 8],
  [9, 65536, 0.001, 2, 9],
] as const) {
  const s = randomSalient(rows, cols, { share, seed, emptyRows: rows > 2 ? [0, rows - 2] : [], fullRows: rows > 4 ? [3] : [] });
  CASES.push({ name: `${rows}×${cols} ${s.idx.length} entries n=${n}`, rows, cols, n, s });
}
// no entries at all
CASES.push({ name: "no entries", rows: 6, cols: 40, n: 2, s: randomSalient(6, 40, { share: 0, seed: 10 }) });
// rows of binomial lengths (each position salient on its own, as picking by magnitude gives), over several row groups
for (const [rows, cols, n, seed] of [
  [200, 1536, 1, 11],
  [67, 700, 3, 12],
] as const) {
  const s = randomSalient(rows, cols, { share: 0.02, seed, rowLengths: "binomial", emptyRows: [5, 64] });
  CASES.push({ name: `${rows}×${cols} ${s.idx.length} entries, binomial rows, n=${n}`, rows, cols, n, s });
}
// columns stored as byte offsets up to SALIENT_OFFSET_COLS (a full row reaches offset 65532), as columns past it;
// one token (read from the kernel's copy of x, or not) and several
for (const [cols, n, seed] of [
  [SALIENT_OFFSET_COLS, 1, 13],
  [SALIENT_OFFSET_COLS, 3, 14],
  [SALIENT_OFFSET_COLS + 1, 1, 15],
  [65536, 1, 16],
] as const) {
  const s = randomSalient(70, cols, { share: 0.002, seed, fullRows: [3, 66], emptyRows: [0, 64] });
  CASES.push({ name: `70×${cols} ${s.idx.length} entries (two full rows) n=${n}`, rows: 70, cols, n, s });
}

describe.each(BUILDS)("salient matmul, %s build", (build) => {
  const kernels = new Map<number, CpuKernels>();
  beforeAll(async () => {
    if (build === "relaxed" && !relaxedSimdSupported()) throw new Error(`the relaxed-SIMD build cannot be tested: ${relaxedSimdHint()}`);
    for (const threads of [1, 2]) kernels.set(threads, await CpuKernels.create({ simd: build, threads, parallelThreshold: 0 }));
  });
  afterAll(() => {
    for (const K of kernels.values()) K.dispose();
  });

  /**
   * out = before + S·x on the kernels, read back: through salientMatmul, or with `align` straight through the pool,
   * its shares cut at multiples of align rows.
   */
  function run(K: CpuKernels, s: SalientMatrixData, x: Float32Array, n: number, before: Float32Array, align?: number): Float32Array {
    const side = uploadSalient(K, s);
    const xp = K.heap.upload(x);
    const out = K.heap.upload(before);
    if (align === undefined) salientMatmul(K, side, xp, n, out);
    else {
      setSalientInput(K, side, xp, n);
      K.dispatch("salientMatmul", [side.desc, n, out, s.rows * 4], s.rows, align, 1 << 30);
    }
    const got = K.heap.f32View(out, before.length).slice();
    for (const p of [xp, out, side.ptr]) K.heap.free(p);
    return got;
  }

  it.each(CASES)("$name: equal to the scalar reference bit for bit, added to what out holds, on 1 and 2 threads", ({ rows, cols, n, s }) => {
    const x = randomX(rows * 31 + cols, n * cols);
    const before = randomX(cols * 17 + n, n * rows);
    const want = before.slice();
    salientMatmulRef(s, x, n, want);
    for (const [threads, K] of kernels) {
      expect(new Uint32Array(run(K, s, x, n, before).buffer), `${threads} threads`).toEqual(new Uint32Array(want.buffer));
    }
  });

  // A thread whose share cuts a row group computes the group's tiles and adds only its own rows: shares cut at every
  // row (align 1) and at odd multiples (align 3, 5) give the reference's bits, where adding a tile's other rows too
  // would add them twice.
  it.each([1, 3, 5])("shares cut inside row groups (at multiples of %i rows) give the same bits", (align) => {
    const K = kernels.get(2)!;
    for (const c of [CASES[7]!, CASES[10]!, CASES[11]!]) {
      const { rows, cols, n, s } = c;
      const x = randomX(rows + align, n * cols);
      const before = randomX(cols + align, n * rows);
      const want = before.slice();
      salientMatmulRef(s, x, n, want);
      expect(new Uint32Array(run(K, s, x, n, before, align).buffer), `${c.name}`).toEqual(new Uint32Array(want.buffer));
    }
  });

  // A tile with fewer than four rows (group 0 has 61 rows with entries) has lanes without a row; their offset (0xff) from
  // the group's first row would be row 255, which is empty and holds −0: the kernel must not touch it, alone or with
  // shares cut anywhere.
  it("a tile's lanes without a row write nothing (row 255 keeps its −0)", () => {
    const rows = 330,
      cols = 300,
      n = 2;
    const s = randomSalient(rows, cols, { share: 0.05, seed: 21, emptyRows: [1, 2, 3, 255] });
    const x = randomX(22, n * cols);
    const before = randomX(23, n * rows);
    for (let t = 0; t < n; t++) before[t * rows + 255] = -0;
    const want = before.slice();
    salientMatmulRef(s, x, n, want);
    for (const [threads, K] of kernels) {
      for (const align of [1, 64]) {
        const got = run(K, s, x, n, before, align);
        for (let t = 0; t < n; t++) expect(Object.is(got[t * rows + 255], -0), `token ${t}, ${threads} threads, align ${align}`).toBe(true);
        expect(new Uint32Array(got.buffer), `${threads} threads, align ${align}`).toEqual(new Uint32Array(want.buffer));
      }
    }
  });

  // An empty row is in no tile and is left as it is, whatever the split: −0 stays −0 and an infinite scale is not
  // multiplied by 0 (which would write +0 and NaN).
  it("leaves an empty row untouched (−0 and an infinite scale), on 1 and 2 threads", () => {
    const rows = 37,
      cols = 50,
      n = 2;
    const s = randomSalient(rows, cols, { share: 0.2, seed: 11, emptyRows: [1, 9, 18, 20, 36] });
    for (const r of [1, 9, 18, 20, 36]) s.scale[r] = r % 2 ? Number.POSITIVE_INFINITY : Number.NaN;
    const x = randomX(5, n * cols);
    const before = randomX(6, n * rows);
    for (const r of [1, 9, 18, 20, 36]) for (let t = 0; t < n; t++) before[t * rows + r] = -0;
    const want = before.slice();
    salientMatmulRef(s, x, n, want);
    for (const [threads, K] of kernels) {
      const got = run(K, s, x, n, before);
      for (const r of [1, 9, 18, 20, 36])
        for (let t = 0; t < n; t++) expect(Object.is(got[t * rows + r], -0), `row ${r} token ${t}, ${threads} threads`).toBe(true);
      expect(new Uint32Array(got.buffer), `${threads} threads`).toEqual(new Uint32Array(want.buffer));
    }
  });

  it("the reference is S·x: within rounding of a dense product in f64", () => {
    const { rows, cols, n, s } = CASES[6]!;
    const x = randomX(99, n * cols);
    const got = new Float32Array(n * rows);
    salientMatmulRef(s, x, n, got);
    const dense = denseSalient(s);
    for (let t = 0; t < n; t++) {
      for (let r = 0; r < rows; r++) {
        let want = 0;
        for (let c = 0; c < cols; c++) want += dense[r * cols + c]! * x[t * cols + c]!;
        expect(got[t * rows + r]).toBeCloseTo(want, 3);
      }
    }
  });
});

// Row starts of side matrices whose tiles pad the most or least: what the memory plan's bound without row lengths
// (salientBytes) must cover, and what the upload allocates (salientBytesOf, what the plan uses with them).
describe("a side matrix's wasm bytes", () => {
  const shapes: Array<[string, number, number, (r: number) => number]> = [
    ["one full row a group, the rest one entry", 300, 700, (r) => (r % 64 === 5 ? 700 : 1)],
    ["one entry a group", 300, 700, (r) => (r % 64 === 0 ? 1 : 0)],
    ["one long row, the rest empty", 130, 4097, (r) => (r === 77 ? 4097 : 0)],
    ["lengths falling by one", 256, 100, (r) => 64 - (r % 64)],
    ["every row alike", 200, 1536, () => 15],
    ["no entries", 70, 10, () => 0],
  ];
  it.each(shapes)("%s: the bound covers the tiles, and the upload takes exactly their bytes", async (_name, rows, cols, len) => {
    const rowStart = new Int32Array(rows + 1);
    for (let r = 0; r < rows; r++) rowStart[r + 1] = rowStart[r]! + len(r);
    const nnz = rowStart[rows]!;
    const exact = salientBytesOf(rows, rowStart);
    expect(salientBytes(rows, cols, nnz)).toBeGreaterThanOrEqual(exact);
    const r = rng(rows + cols);
    const idx = new Uint16Array(nnz);
    for (let row = 0; row < rows; row++) {
      // len(row) distinct increasing columns: every column when the row is full, else spread out
      const n = rowStart[row + 1]! - rowStart[row]!;
      for (let e = 0; e < n; e++) idx[rowStart[row]! + e] = Math.floor((e * cols) / n);
    }
    const s: SalientMatrixData = {
      rows,
      cols,
      rowStart,
      idx,
      val: Int8Array.from(idx, () => 1 + Math.floor(r() * 100)),
      scale: new Float32Array(rows).fill(0.5),
    };
    const K = await CpuKernels.create({ threads: 1 });
    try {
      const before = K.heap.used;
      const side = uploadSalient(K, s);
      expect(K.heap.used - before).toBe(exact);
      K.heap.free(side.ptr);
    } finally {
      K.dispose();
    }
  });
  it("the bound is the tiles' bytes at their most: 4 slots an entry when one entry is all a group holds", () => {
    const rows = 640;
    const rowStart = Int32Array.from({ length: rows + 1 }, (_, r) => Math.ceil(r / 64));
    expect(salientBytes(rows, 1000, rowStart[rows]!)).toBeLessThan(salientBytesOf(rows, rowStart) + 64 * 4 + 16 * 10);
  });
});

describe.each([1, 2])("projection with a side matrix, %i threads", (threads) => {
  let K: CpuKernels;
  beforeAll(async () => {
    K = await CpuKernels.create({ threads, parallelThreshold: 0 });
  });
  afterAll(() => K?.dispose());

  // n = 20 and 37: the first 16 or 32 tokens by the Vec-LUT matmul, the side matrix's product in a call of its own,
  // and the rest (4, 5) by the multiply-add tiles with the side matrix in their call
  it.each([
    ["TQ2_0", 1],
    ["TQ2_0", 3],
    ["I2_S", 2],
    ["TQ2_0", 20],
    ["I2_S", 37],
  ] as const)("a %s matrix with a side matrix (n = %i) gives its ternary product plus S·x of the unquantized input", (type, n) => {
    const rows = 14;
    const cols = 512;
    const r = rng(5 + n);
    const w = Float32Array.from({ length: rows * cols }, () => (Math.floor(r() * 3) - 1) * 0.02);
    const ggml = type === "TQ2_0" ? GgmlType.TQ2_0 : GgmlType.I2_S;
    const plain = K.uploadMatrix(type, rows, cols, tensorTypeTraits(ggml).quantize(w));
    const s = randomSalient(rows, cols, { share: 0.02, seed: 6, emptyRows: [4, 12, 13] });
    const withSide = { ...plain, salient: uploadSalient(K, s) };
    const x = randomX(7, n * cols);
    const xp = K.heap.upload(x);
    const outPlain = K.heap.alloc(n * rows * 4);
    const outSide = K.heap.alloc(n * rows * 4);
    const proj = new Projector(K, "none", n);
    proj.project(xp, n, [plain], [outPlain], 0);
    proj.project(xp, n, [withSide], [outSide], 0);
    const want = K.heap.f32View(outPlain, n * rows).slice();
    salientMatmulRef(s, x, n, want);
    const got = K.heap.f32View(outSide, n * rows).slice();
    expect(new Uint32Array(got.buffer)).toEqual(new Uint32Array(want.buffer));
    // and the side product is no rounding-level change
    expect(Math.max(...got.map((v, i) => Math.abs(v - K.heap.f32View(outPlain, n * rows)[i]!)))).toBeGreaterThan(0.05);
    // the quantized product alone refuses a matrix with a side matrix when the f32 input is missing
    expect(() =>
      K.matmulQuantized(withSide, K.allocActivations(K.activationFor(plain)!.kind, cols, n, K.activationFor(plain)!.group), outSide),
    ).toThrow(/salient side matrix/);
    // a side matrix of another shape is refused, alone and in a set, before anything runs
    for (const [sr, sc] of [
      [rows + 1, cols],
      [rows, cols - 1],
    ] as const) {
      const wrong = { ...plain, salient: uploadSalient(K, randomSalient(sr, sc, { share: 0.02, seed: 8 })) };
      expect(() => proj.project(xp, n, [wrong], [outSide], 0)).toThrow(/has a salient side matrix of/);
      expect(() => proj.project(xp, n, [plain, wrong], [outPlain, outSide], 0)).toThrow(/has a salient side matrix of/);
      K.heap.free(wrong.salient.ptr);
    }
    proj.free();
  });

  it.each([
    ["TQ2_0", 1],
    ["TQ2_0", 3],
    ["I2_S", 1],
    ["I2_S", 20],
    ["TQ2_0", 37],
  ] as const)(
    "%s matrices that share an input, some with side matrices, run as one set (n = %i): each output bit for bit its matrix's alone",
    (type, n) => {
      const cols = 512;
      const ggml = type === "TQ2_0" ? GgmlType.TQ2_0 : GgmlType.I2_S;
      // rows not a multiple of 4; the second matrix has no side matrix
      const shapes = [
        { rows: 14, side: true },
        { rows: 9, side: false },
        { rows: 21, side: true },
        // several row groups: the set's 722 rows are cut at row groups on 2 threads
        { rows: 530, side: true },
      ];
      const ws = shapes.map(({ rows, side }, i) => {
        const r = rng(40 + i);
        const w = Float32Array.from({ length: rows * cols }, () => (Math.floor(r() * 3) - 1) * 0.02);
        const m = K.uploadMatrix(type, rows, cols, tensorTypeTraits(ggml).quantize(w));
        return side ? { ...m, salient: uploadSalient(K, randomSalient(rows, cols, { share: 0.02, seed: 50 + i, emptyRows: [1] })) } : m;
      });
      const x = randomX(8 + n, n * cols);
      const xp = K.heap.upload(x);
      const act = K.activationFor(ws[0]!)!;
      const a = K.allocActivations(act.kind, cols, n, act.group);
      K.quantize(a, xp, n);
      const alone = ws.map((w) => {
        const out = K.heap.alloc(n * w.rows * 4);
        K.matmulQuantized(w, a, out, w.rows, xp);
        return K.heap.f32View(out, n * w.rows).slice();
      });
      // the set reads the same values at another address, and the first copy is spoiled: a side matrix that kept the
      // input of the calls above would give other sums
      const xp2 = K.heap.upload(x);
      K.heap.f32View(xp, n * cols).fill(1e3);
      // a one-token product of another input in between leaves that input in the kernel's copy of x: a set that does
      // not copy its own would read it
      const other = uploadSalient(K, randomSalient(8, cols, { share: 0.5, seed: 61 }));
      const otherX = K.heap.upload(randomX(62, cols).map((v) => v * 100));
      const otherOut = K.heap.alloc(8 * 4);
      // and a several-token product leaves its input's token quads in their scratch
      const otherXs = K.heap.upload(randomX(63, n * cols).map((v) => v * 100));
      const otherOuts = K.heap.alloc(n * 8 * 4);
      const spoilCopy = () => {
        salientMatmul(K, other, otherX, 1, otherOut);
        if (n > 1) salientMatmul(K, other, otherXs, n, otherOuts);
      };
      const outs = ws.map((w) => K.heap.alloc(n * w.rows * 4));
      spoilCopy();
      K.matmulQuantizedSet(ws, a, outs, xp2);
      for (let i = 0; i < ws.length; i++) {
        const got = K.heap.f32View(outs[i]!, n * ws[i]!.rows).slice();
        expect(new Uint32Array(got.buffer), `matrix ${i}`).toEqual(new Uint32Array(alone[i]!.buffer));
      }
      // the first three alone (192 rows): on 2 threads the set is cut at row quads, inside their row groups
      for (let i = 0; i < 3; i++) K.heap.f32View(outs[i]!, n * ws[i]!.rows).fill(Number.NaN);
      spoilCopy();
      K.matmulQuantizedSet(ws.slice(0, 3), a, outs.slice(0, 3), xp2);
      for (let i = 0; i < 3; i++) {
        const got = K.heap.f32View(outs[i]!, n * ws[i]!.rows).slice();
        expect(new Uint32Array(got.buffer), `matrix ${i} of three`).toEqual(new Uint32Array(alone[i]!.buffer));
      }
      // the projection takes them as one set too, with the same results
      const proj = new Projector(K, "none", n);
      const projected = ws.map((w) => K.heap.alloc(n * w.rows * 4));
      K.heap.f32View(xp, n * cols).set(x);
      K.heap.f32View(xp2, n * cols).fill(1e3);
      spoilCopy();
      proj.project(xp, n, ws, projected, 0);
      for (let i = 0; i < ws.length; i++) {
        const got = K.heap.f32View(projected[i]!, n * ws[i]!.rows).slice();
        expect(new Uint32Array(got.buffer), `projected matrix ${i}`).toEqual(new Uint32Array(alone[i]!.buffer));
      }
      // without the f32 input the set refuses, naming the matrix
      expect(() => K.matmulQuantizedSet(ws, a, outs)).toThrow(new RegExp(`${type} 14×512 has a salient side matrix`));
      proj.free();
      K.freeActivations(a);
    },
  );
});
