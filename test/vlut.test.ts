// The Vec-LUT matmul (assembly/kernels/ternary_lut.ts): its scalar reference (src/runtime/cpu/reference/ternary-lut.ts)
// against the multiply-add references, and the kernel ("lut" tile) against both, bit for bit, in both wasm builds
// and split over 2 threads: random shapes with ragged edges (rows not a multiple of 4, DLT rows not a multiple of
// 128, several panels of 256 weights) and token counts from 2 to past two tiles, odd ones included.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CpuKernels, defaultLutForm, LUT_MIN_TOKENS, LUT_TAIL_TOKENS } from "../src/runtime/cpu/kernels.ts";
import { LUT_TOKENS } from "../src/runtime/cpu/abi.ts";
import { packDltCodes, packI2_S, packTq1_0, packTq2_0 } from "../src/runtime/tensor-types/ternary-codes.ts";
import { f32ToF16Bits, roundF16 } from "../src/runtime/tensor-types/half.ts";
import { quantizeAbsmaxRef, quantizeQ8KRef, type RefActivations } from "../src/runtime/cpu/reference/quant.ts";
import { dltMatmulRef, i2sMatmulRef, tqMatmulRef } from "../src/runtime/cpu/reference/ternary.ts";
import { lutMatmulRef } from "../src/runtime/cpu/reference/ternary-lut.ts";
import { relaxedSimdHint, relaxedSimdSupported } from "../src/runtime/cpu/wasm/features.ts";
import { OptionError } from "../src/runtime/errors.ts";
import { rng } from "./helpers/random.ts";
import { linearOf } from "./helpers/kernels.ts";

type LutType = "TQ2_0" | "TQ1_0" | "I2_S" | "DLT";

function bits(a: ArrayLike<number>): number[] {
  return Array.from(a, (v) => (Object.is(v, -0) ? 0 : v));
}
const int = (r: () => number, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

/** Gaussian activations, with an all-zero token and a token of one large value (the quantization's edges). */
function activations(r: () => number, n: number, k: number): Float32Array {
  const x = new Float32Array(n * k);
  for (let i = 0; i < x.length; i++) x[i] = Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  x.fill(0, 0, k);
  if (n > 2) x[2 * k + (k >> 1)] = 40;
  return x;
}

/** A random case of a type: the packed bytes, the codes and scales the references take, and its activations. */
function randomCase(type: LutType, r: () => number, m: number, k: number, n: number, g = 128) {
  const codes = new Uint8Array(m * k);
  for (let i = 0; i < codes.length; i++) codes[i] = Math.floor(r() * 3);
  const x = activations(r, n, k);
  if (type === "I2_S") {
    const scale = 0.37;
    const a = quantizeAbsmaxRef(x, n, k, k);
    return { data: packI2_S(codes, scale, m, k), codes, x, a, ref: i2sMatmulRef(codes, scale, m, k, a), w: { kind: "i2s", scale } as const };
  }
  if (type === "DLT") {
    const G = Math.ceil(k / g);
    const alpha = Float32Array.from({ length: m * G }, () => roundF16(0.01 + r()));
    const gamma = Float32Array.from({ length: m * G }, () => roundF16(0.2 * r() - 0.1));
    const a = quantizeAbsmaxRef(x, n, k, g);
    const dlt = { alpha: Uint16Array.from(alpha, f32ToF16Bits), gamma: Uint16Array.from(gamma, f32ToF16Bits), groupSize: g };
    const ref = dltMatmulRef(codes, alpha, gamma, g, m, k, a);
    return { data: packDltCodes(codes, m, k), codes, x, a, ref, dlt, w: { kind: "dlt", alpha, gamma, g } as const };
  }
  const d = Float32Array.from({ length: (m * k) / 256 }, () => roundF16(0.01 + 2 * r()));
  const a = quantizeQ8KRef(x, n, k);
  const data = type === "TQ2_0" ? packTq2_0(codes, d, m, k) : packTq1_0(codes, d, m, k);
  return { data, codes, x, a, ref: tqMatmulRef(codes, d, m, k, a), w: { kind: "tq2", d } as const };
}

/** Row lengths: several 256-weight panels; DLT also not a multiple of 128. */
function randomK(type: LutType, r: () => number): number {
  if (type === "DLT") return int(r, 1, 1100);
  if (type === "I2_S") return 128 * int(r, 1, 10);
  return 256 * int(r, 1, 5);
}

const TOKENS = [2, 3, LUT_TOKENS - 1, LUT_TOKENS, LUT_TOKENS + 1, 2 * LUT_TOKENS + 5];

describe("the scalar Vec-LUT reference", () => {
  it.each(["TQ2_0", "I2_S", "DLT"] as const)("%s: the multiply-add reference's bits", (type) => {
    const r = rng(type.charCodeAt(0) * 101 + type.length);
    for (const n of TOKENS) {
      const m = int(r, 1, 9);
      const k = randomK(type, r);
      const g = [128, 256][int(r, 0, 1)]!;
      const c = randomCase(type, r, m, k, n, g);
      expect(bits(lutMatmulRef(c.codes, m, k, c.a, c.w)), `${type} m=${m} k=${k} n=${n} g=${g}`).toEqual(bits(c.ref));
    }
  });

  it("refuses DLT groups of 64 (a code byte's fields span two groups)", () => {
    const a: RefActivations = quantizeAbsmaxRef(new Float32Array(128), 1, 128, 64);
    const w = { kind: "dlt", alpha: new Float32Array(2), gamma: new Float32Array(2), g: 64 } as const;
    expect(() => lutMatmulRef(new Uint8Array(128), 1, 128, a, w)).toThrow(OptionError);
  });
});

// both sweep forms (LutForm: how a code byte finds its table row) in both builds
describe.each([
  ["simd128", 1, "map"],
  ["simd128", 1, "addresses"],
  ["relaxed", 1, "map"],
  ["relaxed", 1, "addresses"],
  ["relaxed", 2, "map"],
  ["relaxed", 2, "addresses"],
] as const)("the Vec-LUT kernel, %s build, %i thread(s), form %s", (build, threads, lutForm) => {
  let K: CpuKernels;
  beforeAll(async () => {
    if (build === "relaxed" && !relaxedSimdSupported()) throw new Error(`the relaxed-SIMD build cannot be tested: ${relaxedSimdHint()}`);
    // parallelThreshold 0: even the small test shapes are split over the threads
    K = await CpuKernels.create({ simd: build, threads, tile: "lut", lutForm, parallelThreshold: 0 });
  });

  it("runs the requested form", () => {
    expect(K.stats().lutForm).toBe(lutForm);
  });
  afterAll(() => K?.dispose());

  it("runs the requested threads", () => {
    expect(K.threads).toBe(threads);
  });

  it.each(["TQ2_0", "TQ1_0", "I2_S", "DLT"] as const)("%s equals the references bit for bit", (type) => {
    const r = rng(type.charCodeAt(1) * 7 + type.length * 13 + threads);
    for (const n of TOKENS) {
      const m = int(r, 1, 41);
      const k = randomK(type, r);
      const g = [128, 256][int(r, 0, 1)]!;
      const c = randomCase(type, r, m, k, n, g);
      const W = K.uploadMatrix(type, m, k, c.data, c.dlt);
      const label = `${type} m=${m} k=${k} n=${n}${c.dlt ? ` g=${g}` : ""}`;
      const y = bits(linearOf(K, W, c.x, n));
      expect(y, `${label}: kernel vs multiply-add reference`).toEqual(bits(c.ref));
      expect(y, `${label}: kernel vs Vec-LUT reference`).toEqual(bits(lutMatmulRef(c.codes, m, k, c.a, c.w)));
      // the multiply-add kernel on the same weights: the tiles agree with each other too
      K.setTile("r2t4");
      expect(bits(linearOf(K, W, c.x, n)), `${label}: r2t4 tile`).toEqual(y);
      K.setTile("lut");
      K.freeMatrix(W);
    }
  });

  it("a large matrix (several panels and row quads past the touch-ahead) against the multiply-add tiles", () => {
    const r = rng(4242 + threads);
    const [m, k, n] = [203, 1536, 2 * LUT_TOKENS + 3];
    const c = randomCase("TQ2_0", r, m, k, n);
    const W = K.uploadMatrix("TQ2_0", m, k, c.data);
    const y = bits(linearOf(K, W, c.x, n));
    expect(y).toEqual(bits(c.ref));
    K.freeMatrix(W);
  });

  it.each(["I2_S", "TQ2_0", "DLT"] as const)(
    "%s: auto takes the Vec-LUT matmul from LUT_MIN_TOKENS tokens per thread, a short tail by multiply-adds, same bits",
    async (type) => {
      const A = await CpuKernels.create({ simd: build, threads, lutForm, parallelThreshold: 0 });
      try {
        const [m, k] = type === "DLT" ? [13, 300] : [12, 512];
        const min = LUT_MIN_TOKENS * threads;
        // below the minimum; exactly it; a 3-token tail (multiply-adds); a tail of LUT_TAIL_TOKENS (a tile of its own)
        for (const n of [min - 1, min, min + 3, min + LUT_TAIL_TOKENS]) {
          const c = randomCase(type, rng(n * 31 + type.length), m, k, n);
          const W = A.uploadMatrix(type, m, k, c.data, c.dlt);
          const xp = A.heap.upload(c.x);
          const out = A.heap.alloc(n * m * 4);
          A.linear(W, xp, n, out);
          expect(bits(A.heap.f32View(out, n * m)), `n=${n}`).toEqual(bits(c.ref));
          const lut = A.stats().lutScratchBytes;
          if (n < min) expect(lut, `n=${n}: the multiply-add tiles only`).toBe(0);
          else expect(lut, `n=${n}: the Vec-LUT matmul`).toBeGreaterThan(0);
          A.heap.free(xp);
          A.heap.free(out);
          A.freeMatrix(W);
        }
      } finally {
        A.dispose();
      }
    },
  );
});

// A hostile file's code bytes may hold the never-written code 3, which the multiply-add kernels read as +2 (as
// llama.cpp does) and the Vec-LUT tables cannot hold: such a matrix stays on the multiply-add tiles, in a batch as in
// decode, so every path gives the same numbers.
it.each(["TQ2_0", "I2_S", "DLT"] as const)("%s with code-3 fields: no Vec-LUT, the multiply-add tiles' bits", async (type) => {
  const [m, k, n] = [9, 512, 2 * LUT_TOKENS + 1];
  const r = rng(33 + type.length);
  const c = randomCase(type, r, m, k, n);
  const data = c.data.slice();
  const valid = c.data.slice();
  // one code byte of row 0 made 0xff (four fields of 3): TQ2_0 in its first block's codes, I2_S and DLT in the codes
  data[5] = 0xff;
  const K = await CpuKernels.create({ threads: 1, parallelThreshold: 0 });
  try {
    const bad = K.uploadMatrix(type, m, k, data, c.dlt);
    const good = K.uploadMatrix(type, m, k, valid, c.dlt);
    expect(bad.code3).toBe(true);
    expect(good.code3).toBe(false);
    const ys: number[][] = [];
    for (const tile of ["auto", "lut", "r2t4"] as const) {
      K.setTile(tile);
      ys.push(bits(linearOf(K, bad, c.x, n)));
    }
    expect(ys[0], "auto").toEqual(ys[2]);
    expect(ys[1], "lut").toEqual(ys[2]);
    expect(K.stats().lutScratchBytes, "the Vec-LUT matmul never ran").toBe(0);
    // and the valid matrix does take it
    K.setTile("auto");
    linearOf(K, good, c.x, n);
    expect(K.stats().lutScratchBytes).toBeGreaterThan(0);
    K.freeMatrix(bad);
    K.freeMatrix(good);
  } finally {
    K.dispose();
  }
});

it("picks the sweep form by the runtime's V8: map on V8 11 (Node 20), addresses on newer ones and where none is told", () => {
  expect(defaultLutForm("11.3.244.8-node.33")).toBe("map");
  expect(defaultLutForm("10.2.154.26-node.28")).toBe("map");
  expect(defaultLutForm("12.4.254.21-node.33")).toBe("addresses");
  expect(defaultLutForm("15.0.245.2")).toBe("addresses");
  expect(defaultLutForm("")).toBe("addresses");
  // this process: Node 20 here (its V8 11.3)
  expect(defaultLutForm()).toBe(Number.parseInt(process.versions.v8, 10) <= 11 ? "map" : "addresses");
});
