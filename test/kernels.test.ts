// The wasm kernels against their scalar references (src/runtime/cpu/reference), for BOTH builds: simd128 and
// relaxed SIMD. Integer paths (activation quantization, ternary dot products and their f32 epilogue) and the
// float matmuls (against a reference in the kernels' own order, unfused) must match bit for bit; the other float
// ops within tight tolerances of theirs. Last, the two builds against each other on random ragged shapes, every
// kernel family bit for bit (test/simd-builds.test.ts does the same for whole models). The relaxed suites fail
// (never skip) when the engine lacks relaxed SIMD: vitest.config.ts passes --experimental-wasm-relaxed-simd to
// Node < 22.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CpuKernels, type Matrix, type TernaryTile } from "../src/runtime/cpu/kernels.ts";
import { matrixLayout, type MatrixType } from "../src/runtime/cpu/layout.ts";
import {
  dltCodesFromTq2_0,
  packDltCodes,
  packI2_S,
  packTq1_0,
  packTq2_0,
  unpackDltCodes,
  unpackI2_S,
  unpackTq1_0Codes,
  unpackTq2_0,
} from "../src/runtime/tensor-types/ternary-codes.ts";
import { f16BitsToF32, f32ToF16Bits, roundF16 } from "../src/runtime/tensor-types/half.ts";
import { quantizeAbsmaxRef, quantizeQ8KRef, type RefActivations } from "../src/runtime/cpu/reference/quant.ts";
import { dltMatmulRef, i2sMatmulRef, ternaryExact, tqMatmulRef } from "../src/runtime/cpu/reference/ternary.ts";
import { dequantizeRef, floatMatmulKernelOrderRef, floatMatmulRef } from "../src/runtime/cpu/reference/float.ts";
import { gluRef, rmsNormRef, ropeRef, softmaxRef } from "../src/runtime/cpu/reference/ops.ts";
import { ropeAngles } from "../src/runtime/model/rope-angles.ts";
import { relaxedSimdHint, relaxedSimdSupported } from "../src/runtime/cpu/wasm/features.ts";
import { TensorTypeError, TernionError } from "../src/runtime/errors.ts";
import { rng } from "./helpers/random.ts";
import { linearOf } from "./helpers/kernels.ts";

// ── deterministic random data ──────────────────────────────────────────────────────────────────────────────
function randn(r: () => number): number {
  return Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
}
function randomX(r: () => number, len: number, scale = 1): Float32Array {
  const x = new Float32Array(len);
  for (let i = 0; i < len; i++) x[i] = randn(r) * scale;
  return x;
}
function randomCodes(r: () => number, len: number): Uint8Array {
  const c = new Uint8Array(len);
  for (let i = 0; i < len; i++) c[i] = Math.floor(r() * 3);
  return c;
}
function randomF16(r: () => number, len: number, lo: number, hi: number): Float32Array {
  const v = new Float32Array(len);
  for (let i = 0; i < len; i++) v[i] = roundF16(lo + r() * (hi - lo));
  return v;
}

/** Random F32 / F16 / Q8_0 bytes of an m × k matrix (k a multiple of 32 for Q8_0). */
function randomFloatMatrix(r: () => number, type: MatrixType, m: number, k: number): Uint8Array {
  if (type === "F32") return new Uint8Array(randomX(r, m * k).buffer);
  if (type === "F16") return new Uint8Array(Uint16Array.from(randomX(r, m * k), f32ToF16Bits).buffer);
  const data = new Uint8Array(((m * k) / 32) * 34);
  const dv = new DataView(data.buffer);
  for (let b = 0; b < (m * k) / 32; b++) {
    dv.setUint16(b * 34, f32ToF16Bits(0.01 + r() * 0.05), true);
    for (let j = 0; j < 32; j++) dv.setInt8(b * 34 + 2 + j, Math.floor(r() * 255) - 127);
  }
  return data;
}

/** Activations with awkward cases: zero blocks, ties, the largest magnitude appearing with both signs. */
function trickyX(r: () => number, n: number, k: number): Float32Array {
  const x = randomX(r, n * k);
  if (k >= 256) {
    x.fill(0, 0, 256); // an all-zero block (token 0, block 0)
  }
  if (n > 1 && k >= 256) {
    // token 1: -3 then +3 (max is the FIRST of largest magnitude, negative), and exact .5 ties of iscale·x
    const o = k;
    x[o + 5] = -3;
    x[o + 9] = 3;
    for (let i = 0; i < 8; i++) x[o + 20 + i] = ((i + 0.5) * 3) / 127;
  }
  return x;
}

function bits(a: ArrayLike<number>): number[] {
  return Array.from(a, (v) => (Object.is(v, -0) ? 0 : v));
}

const BUILDS = ["simd128", "relaxed"] as const;
const TILES: TernaryTile[] = ["auto", "rows4", "r1t4", "r2t4", "lut"];

describe.each(BUILDS)("%s kernels", (build) => {
  let K: CpuKernels;
  beforeAll(async () => {
    if (build === "relaxed" && !relaxedSimdSupported()) {
      throw new Error(`the relaxed-SIMD build cannot be tested: ${relaxedSimdHint()}`);
    }
    K = await CpuKernels.create({ simd: build, threads: 1 });
  });
  afterAll(() => K?.dispose());

  function withTiles(W: Matrix, x: Float32Array, n: number, expected: Float32Array): void {
    for (const t of TILES) {
      K.setTile(t);
      expect(bits(linearOf(K, W, x, n)), `tile ${t}`).toEqual(bits(expected));
    }
    K.setTile("auto");
  }
  function quantized(kind: "q8k" | "token" | "group", x: Float32Array, n: number, k: number, g?: number) {
    const a = K.allocActivations(kind, k, n + 3, g); // capacity > n: the token stride differs from n
    const xp = K.heap.upload(x);
    K.quantize(a, xp, n);
    const got = K.readActivations(a);
    K.heap.free(xp);
    K.freeActivations(a);
    return got;
  }
  function expectActs(got: ReturnType<typeof quantized>, ref: RefActivations) {
    expect(bits(got.q)).toEqual(bits(ref.q));
    if (got.q16) expect(bits(got.q16)).toEqual(bits(ref.q));
    expect(bits(got.d)).toEqual(bits(ref.d));
    expect(bits(got.s)).toEqual(bits(ref.s));
    if (ref.bsums) expect(bits(got.bsums!)).toEqual(bits(ref.bsums));
    if (ref.xs && got.xs) expect(bits(got.xs)).toEqual(bits(ref.xs));
  }

  it("runs the build it was asked for", () => {
    const s = K.stats();
    expect(s.simd).toBe(build);
    expect(s.threads).toBe(1);
    expect(s.tq1Repacked).toBe(true);
  });

  describe("activation quantization", () => {
    it.each([
      [1, 256],
      [2, 256],
      [3, 768],
      [7, 512],
    ])("Q8_K n=%i k=%i equals llama.cpp's quantize_row_q8_K_ref", (n, k) => {
      const x = trickyX(rng(n * 1000 + k), n, k);
      expectActs(quantized("q8k", x, n, k), quantizeQ8KRef(x, n, k));
    });

    it.each([
      [1, 128],
      [3, 384],
      [2, 2560],
      [5, 200],
    ])("per-token absmax n=%i k=%i", (n, k) => {
      const x = trickyX(rng(n * 7 + k), n, k);
      expectActs(quantized("token", x, n, k), quantizeAbsmaxRef(x, n, k, k));
    });

    it.each([
      [64, 64],
      [64, 172],
      [128, 172],
      [256, 172],
      [128, 300],
      [64, 1000],
      [256, 1000],
    ])("per-group absmax g=%i k=%i (with Σx)", (g, k) => {
      const n = 3;
      const x = trickyX(rng(g + k), n, k);
      expectActs(quantized("group", x, n, k, g), quantizeAbsmaxRef(x, n, k, g));
    });
  });

  describe("ternary matmul", () => {
    const tqShapes: Array<[number, number, number]> = [
      [1, 256, 1],
      [4, 256, 2],
      [5, 512, 3],
      [13, 256, 7],
      [33, 1280, 1],
      [7, 768, 9],
      [6, 256, 64],
      [3, 512, 17],
    ];
    it.each(tqShapes)("TQ2_0 m=%i k=%i n=%i equals the reference bit for bit, every tile", (m, k, n) => {
      const r = rng(m * 131 + k * 7 + n);
      const codes = randomCodes(r, m * k);
      const d = randomF16(r, (m * k) / 256, 0.01, 2);
      const W = K.uploadMatrix("TQ2_0", m, k, packTq2_0(codes, d, m, k));
      const x = trickyX(r, n, k);
      withTiles(W, x, n, tqMatmulRef(codes, d, m, k, quantizeQ8KRef(x, n, k)));
      K.freeMatrix(W);
    });

    it.each([
      [3, 256, 1],
      [9, 512, 5],
      [4, 1024, 12],
    ])("TQ1_0 m=%i k=%i n=%i (repacked) equals the reference", (m, k, n) => {
      const r = rng(m + k + n + 99);
      const codes = randomCodes(r, m * k);
      const d = randomF16(r, (m * k) / 256, 0.01, 2);
      const packed = packTq1_0(codes, d, m, k);
      expect(bits(unpackTq1_0Codes(packed, m, k))).toEqual(bits(codes)); // the packer is llama.cpp's encoding
      const W = K.uploadMatrix("TQ1_0", m, k, packed);
      expect(W.repackedFrom).toBe("TQ1_0");
      const x = trickyX(r, n, k);
      withTiles(W, x, n, tqMatmulRef(codes, d, m, k, quantizeQ8KRef(x, n, k)));
      K.freeMatrix(W);
    });

    it.each([
      [1, 128, 1],
      [5, 384, 2],
      [8, 2560, 3],
      [11, 256, 10],
    ])("I2_S m=%i k=%i n=%i equals the reference", (m, k, n) => {
      const r = rng(m * 3 + k + n);
      const codes = randomCodes(r, m * k);
      const data = packI2_S(codes, 0.37, m, k);
      const back = unpackI2_S(data, m, k);
      expect(bits(back.codes)).toEqual(bits(codes));
      const W = K.uploadMatrix("I2_S", m, k, data);
      expect(W.scale).toBeCloseTo(0.37, 6);
      const x = trickyX(r, n, k);
      withTiles(W, x, n, i2sMatmulRef(codes, W.scale, m, k, quantizeAbsmaxRef(x, n, k, k)));
      K.freeMatrix(W);
    });

    // The kernels accumulate 8-bit products in i16 lanes between flushes (the relaxed rows kernel keeps fields
    // 1 and 3 at 4× their value): all codes 2 against activations of magnitude 127 is the bound they must hold.
    it.each([
      [8, 4096, 1, 1],
      [8, 4096, 1, -1],
      [6, 2560, 5, 1],
      [6, 2560, 5, -1],
    ])("TQ2_0 and I2_S hold the i16 bound (all codes +1, |q| = 127) m=%i k=%i n=%i sign %i", (m, k, n, sign) => {
      const codes = new Uint8Array(m * k).fill(2);
      const x = new Float32Array(n * k).fill(sign * 0.5);
      const d = new Float32Array((m * k) / 256).fill(1);
      const W = K.uploadMatrix("TQ2_0", m, k, packTq2_0(codes, d, m, k));
      const yq = tqMatmulRef(codes, d, m, k, quantizeQ8KRef(x, n, k));
      expect(Math.abs(yq[0]!)).toBeGreaterThan(0.49 * k);
      withTiles(W, x, n, yq);
      K.freeMatrix(W);
      const W2 = K.uploadMatrix("I2_S", m, k, packI2_S(codes, 1, m, k));
      withTiles(W2, x, n, i2sMatmulRef(codes, W2.scale, m, k, quantizeAbsmaxRef(x, n, k, k)));
      K.freeMatrix(W2);
    });

    const dltShapes: Array<[number, number, number, number]> = [];
    for (const g of [64, 128, 256])
      for (const [m, k, n] of [
        [3, 64, 1],
        [5, 172, 2],
        [4, 200, 9],
        [9, 300, 3],
        [6, 1000, 1],
        [2, 256, 5],
      ])
        dltShapes.push([g, m!, k!, n!]);
    it.each(dltShapes)("DLT g=%i m=%i k=%i n=%i equals the reference", (g, m, k, n) => {
      const r = rng(g * 1000 + m * 10 + k + n);
      const codes = randomCodes(r, m * k);
      const G = Math.ceil(k / g);
      const alpha = randomF16(r, m * G, 0.01, 1);
      const gamma = randomF16(r, m * G, -0.1, 0.1);
      const packed = packDltCodes(codes, m, k);
      expect(bits(unpackDltCodes(packed, m, k))).toEqual(bits(codes));
      const W = K.uploadMatrix("DLT", m, k, packed, {
        alpha: Uint16Array.from(alpha, f32ToF16Bits),
        gamma: Uint16Array.from(gamma, f32ToF16Bits),
        groupSize: g,
      });
      const x = trickyX(r, n, k);
      withTiles(W, x, n, dltMatmulRef(codes, alpha, gamma, g, m, k, quantizeAbsmaxRef(x, n, k, g)));
      K.freeMatrix(W);
    });

    // One token over ≥ 16 rows takes the four-far-quads tile (both builds; quad t of each quarter of every 16-row
    // block, not DLT g = 64), the rest two- and one-quad tiles; 3 threads split the rows at multiples of 4 and
    // quarter their own. Row counts around multiples of 16, every family, against the references.
    it.each([16, 17, 20, 31, 33, 48, 52, 67])("one token, m=%i: every family equals its reference, on 1 and 3 threads", async (m) => {
      const K3 = await CpuKernels.create({ simd: build, threads: 3, parallelThreshold: 0 });
      try {
        const r = rng(m * 7 + 3);
        const check = (
          label: string,
          type: MatrixType,
          k: number,
          data: Uint8Array,
          x: Float32Array,
          want: (W: Matrix) => Float32Array,
          dlt?: Parameters<CpuKernels["uploadMatrix"]>[4],
        ) => {
          for (const [Kt, threads] of [
            [K, 1],
            [K3, 3],
          ] as const) {
            const W = Kt.uploadMatrix(type, m, k, data, dlt);
            expect(bits(linearOf(Kt, W, x, 1)), `${label}, ${threads} thread(s)`).toEqual(bits(want(W)));
            Kt.freeMatrix(W);
          }
        };
        {
          const k = 512;
          const codes = randomCodes(r, m * k);
          const d = randomF16(r, (m * k) / 256, 0.01, 2);
          const x = trickyX(r, 1, k);
          check("TQ2_0", "TQ2_0", k, packTq2_0(codes, d, m, k), x, () => tqMatmulRef(codes, d, m, k, quantizeQ8KRef(x, 1, k)));
        }
        {
          const k = 384;
          const codes = randomCodes(r, m * k);
          const x = trickyX(r, 1, k);
          check("I2_S", "I2_S", k, packI2_S(codes, 0.37, m, k), x, (W) => i2sMatmulRef(codes, W.scale, m, k, quantizeAbsmaxRef(x, 1, k, k)));
        }
        for (const [g, k] of [
          [64, 200],
          [128, 300],
          [256, 600],
        ] as const) {
          const codes = randomCodes(r, m * k);
          const G = Math.ceil(k / g);
          const alpha = randomF16(r, m * G, 0.01, 1);
          const gamma = randomF16(r, m * G, -0.1, 0.1);
          const x = trickyX(r, 1, k);
          const dlt = { alpha: Uint16Array.from(alpha, f32ToF16Bits), gamma: Uint16Array.from(gamma, f32ToF16Bits), groupSize: g };
          check(
            `DLT g=${g}`,
            "DLT",
            k,
            packDltCodes(codes, m, k),
            x,
            () => dltMatmulRef(codes, alpha, gamma, g, m, k, quantizeAbsmaxRef(x, 1, k, g)),
            dlt,
          );
        }
      } finally {
        K3.dispose();
      }
    });

    it("computes W·x up to the activation quantization error (TQ2_0 and DLT from the same TQ2_0 data)", () => {
      const r = rng(5);
      const m = 16,
        k = 1024,
        n = 3;
      const codes = randomCodes(r, m * k);
      const d = randomF16(r, (m * k) / 256, 0.5, 1.5);
      const tq = packTq2_0(codes, d, m, k);
      const x = randomX(r, n * k);
      const exact = ternaryExact(
        codes,
        (row, e) => d[row * (k / 256) + Math.floor(e / 256)]!,
        () => 0,
        m,
        k,
        x,
        n,
      );
      const y = linearOf(K, K.uploadMatrix("TQ2_0", m, k, tq), x, n);
      // the same weights as DLT (g = 256, α = d, γ = 0) through dltCodesFromTq2_0
      const { codes: c2, d: d2 } = unpackTq2_0(tq, m, k);
      expect(bits(c2)).toEqual(bits(codes));
      const Wd = K.uploadMatrix("DLT", m, k, dltCodesFromTq2_0(tq, m, k), {
        alpha: Uint16Array.from(d2, f32ToF16Bits),
        gamma: new Uint16Array(m * (k / 256)),
        groupSize: 256,
      });
      const yd = linearOf(K, Wd, x, n);
      for (let i = 0; i < n * m; i++) {
        const tol = 0.02 * Math.sqrt(k); // ~1/127 relative error per value, random signs
        expect(Math.abs(y[i]! - exact[i]!)).toBeLessThan(tol);
        expect(Math.abs(yd[i]! - exact[i]!)).toBeLessThan(tol);
      }
    });

    it("refuses shapes a type cannot hold, with typed errors", () => {
      const bad: Array<[MatrixType | number, number, string]> = [
        ["TQ2_0", 300, "BAD_TENSOR_SHAPE"],
        ["TQ1_0", 128, "BAD_TENSOR_SHAPE"],
        ["I2_S", 100, "BAD_TENSOR_SHAPE"],
        ["Q8_0", 48, "BAD_TENSOR_SHAPE"],
        [99, 256, "UNKNOWN_TENSOR_TYPE"],
      ];
      for (const [type, k, code] of bad) {
        let err: unknown;
        try {
          K.uploadMatrix(type, 4, k, new Uint8Array(1 << 16));
        } catch (e) {
          err = e;
        }
        expect(err, `${type} k=${k}`).toBeInstanceOf(TensorTypeError);
        expect((err as TensorTypeError).code).toBe(code);
      }
      expect(() => matrixLayout("DLT", 4, 256, 100)).toThrow(TensorTypeError);
      expect(() => K.uploadMatrix("TQ2_0", 4, 256, new Uint8Array(10))).toThrow(/needs 264 bytes/);
      expect(() => K.allocActivations("q8k", 300, 1)).toThrow(TensorTypeError);
    });
  });

  describe("float matmul", () => {
    const shapes: Array<[MatrixType, number, number, number]> = [
      ["F32", 1, 1, 1],
      ["F32", 5, 3, 2],
      ["F32", 8, 64, 1],
      ["F32", 13, 172, 5],
      ["F32", 6, 257, 9],
      ["F16", 4, 64, 1],
      ["F16", 9, 100, 3],
      ["F16", 12, 256, 4],
      ["Q8_0", 4, 32, 1],
      ["Q8_0", 7, 64, 2],
      ["Q8_0", 5, 256, 9],
    ];
    it.each(shapes)("%s m=%i k=%i n=%i within tolerance of f64", (type, m, k, n) => {
      const r = rng(m * 17 + k * 3 + n);
      let data: Uint8Array;
      if (type === "F32") data = new Uint8Array(randomX(r, m * k).buffer);
      else if (type === "F16") {
        const h = Uint16Array.from(randomX(r, m * k), f32ToF16Bits);
        h[0] = 0x0001; // smallest subnormal
        h[1] = 0x83ff; // largest negative subnormal
        data = new Uint8Array(h.buffer);
      } else {
        data = new Uint8Array(((m * k) / 32) * 34);
        const dv = new DataView(data.buffer);
        for (let b = 0; b < (m * k) / 32; b++) {
          dv.setUint16(b * 34, f32ToF16Bits(0.01 + r() * 0.05), true);
          for (let j = 0; j < 32; j++) dv.setInt8(b * 34 + 2 + j, Math.floor(r() * 255) - 127);
        }
      }
      const W = K.uploadMatrix(type, m, k, data);
      const x = randomX(r, n * k);
      const y = linearOf(K, W, x, n);
      const { out, mag } = floatMatmulRef(dequantizeRef(type as "F32" | "F16" | "Q8_0", data, m, k), m, k, x, n);
      for (let i = 0; i < n * m; i++) expect(Math.abs(y[i]! - out[i]!)).toBeLessThanOrEqual(2e-6 * mag[i]! * Math.sqrt(k) + 1e-30);
      K.freeMatrix(W);
    });

    it.each(shapes)("%s m=%i k=%i n=%i equals the kernel-order reference bit for bit (products and sums rounded apart)", (type, m, k, n) => {
      const r = rng(m * 29 + k * 5 + n);
      const data = randomFloatMatrix(r, type, m, k);
      const W = K.uploadMatrix(type, m, k, data);
      const x = randomX(r, n * k);
      expect(bits(linearOf(K, W, x, n))).toEqual(bits(floatMatmulKernelOrderRef(type as "F32" | "F16" | "Q8_0", data, m, k, x, n)));
      K.freeMatrix(W);
    });

    // The F16 matvec of a matrix without ±inf/NaN (k a multiple of 8) takes 8 rows a tile (row t of each eighth of a
    // thread's rows) and a last 4 rows as one tile, other k quarters; 3 threads split the rows at multiples of 4 and
    // take eighths (quarters) of their own.
    it.each([
      [8, 64],
      [12, 96],
      [20, 1536],
      [36, 264],
      [68, 40],
      [12, 100],
      [20, 1539],
      [68, 37],
    ])("F16 matvec m=%i k=%i equals the kernel-order reference, on 1 and 3 threads", async (m, k) => {
      const K3 = await CpuKernels.create({ simd: build, threads: 3, parallelThreshold: 0 });
      try {
        const r = rng(m * 41 + k);
        const data = randomFloatMatrix(r, "F16", m, k);
        const x = randomX(r, k);
        const want = bits(floatMatmulKernelOrderRef("F16", data, m, k, x, 1));
        for (const [Kt, threads] of [
          [K, 1],
          [K3, 3],
        ] as const) {
          const W = Kt.uploadMatrix("F16", m, k, data);
          expect(W.f16Finite).toBe(true);
          expect(bits(linearOf(Kt, W, x, 1)), `${threads} thread(s)`).toEqual(want);
          Kt.freeMatrix(W);
        }
      } finally {
        K3.dispose();
      }
    });

    it("converts every f16 exactly (subnormals, ±inf, NaN)", () => {
      const all = new Uint16Array(65536).map((_, i) => i);
      const W = K.uploadMatrix("F16", 65536, 1, new Uint8Array(all.buffer));
      const y = linearOf(K, W, Float32Array.of(1), 1);
      for (let i = 0; i < 65536; i++) {
        const want = f16BitsToF32(i);
        if (Number.isNaN(want)) expect(Number.isNaN(y[i]!)).toBe(true);
        else expect(y[i] === Math.fround(want), `f16 ${i.toString(16)}: ${y[i]} vs ${want}`).toBe(true); // ±0 alike (0 + −0 = 0)
      }
      K.freeMatrix(W);
    });

    // the F16 matvec skips its ±inf/NaN watch for a matrix that f16AllFinite cleared at upload
    it.each([1, 7, 8, 9, 61, 4096])("f16AllFinite finds a ±inf/NaN half anywhere in %i halves", (count) => {
      const h = new Uint16Array(count);
      // finite extremes: the largest normal (±65504), subnormals, ±0
      for (let i = 0; i < count; i++) h[i] = [0x7bff, 0xfbff, 0x0001, 0x8000, 0x3c00][i % 5]!;
      const p = K.heap.alloc(count * 2);
      try {
        K.heap.u8.set(new Uint8Array(h.buffer), p);
        expect(K.f16AllFinite(p, count)).toBe(true);
        for (const bad of [0x7c00, 0xfc00, 0x7e00, 0xffff, 0x7c01]) {
          for (const at of new Set([0, count >> 1, count - 1])) {
            K.heap.u8.set(new Uint8Array(Uint16Array.of(bad).buffer), p + at * 2);
            expect(K.f16AllFinite(p, count), `${bad.toString(16)} at ${at}`).toBe(false);
            K.heap.u8.set(new Uint8Array(Uint16Array.of(h[at]!).buffer), p + at * 2);
          }
        }
        // a half past the range is not looked at
        if (count > 1) {
          K.heap.u8.set(new Uint8Array(Uint16Array.of(0x7c00).buffer), p + (count - 1) * 2);
          expect(K.f16AllFinite(p, count - 1)).toBe(true);
        }
      } finally {
        K.heap.free(p);
      }
      const W = K.uploadMatrix("F16", 4, 2, new Uint8Array(Uint16Array.of(0x3c00, 0, 0, 0, 0, 0x7c00, 0, 0).buffer));
      expect(W.f16Finite).toBe(false);
      K.freeMatrix(W);
    });

    // the SIMD paths (4-row matvec with its ±inf/NaN watch, 1 row × 4 tokens, 1 × 1, the k & 4 quad): row i holds
    // half i at column i mod k, zeros elsewhere, and x = 1, so y[i] is exactly that half
    it.each([
      [8, 1],
      [12, 1],
      [16, 4],
      [12, 5],
    ])("converts every f16 exactly in the vector paths (k=%i, n=%i)", (k, n) => {
      const h = new Uint16Array(65536 * k);
      for (let i = 0; i < 65536; i++) h[i * k + (i % k)] = i;
      const W = K.uploadMatrix("F16", 65536, k, new Uint8Array(h.buffer));
      const y = linearOf(K, W, new Float32Array(n * k).fill(1), n);
      for (let t = 0; t < n; t++) {
        for (let i = 0; i < 65536; i++) {
          const want = f16BitsToF32(i);
          const got = y[t * 65536 + i]!;
          if (Number.isNaN(want)) expect(Number.isNaN(got), `f16 ${i.toString(16)} token ${t}`).toBe(true);
          else if (got !== Math.fround(want)) expect(got, `f16 ${i.toString(16)} token ${t}`).toBe(Math.fround(want));
        }
      }
      K.freeMatrix(W);
    });
  });

  describe("other ops", () => {
    function f32(ptr: number, len: number) {
      return K.heap.f32View(ptr, len).slice();
    }
    it.each([
      [1, 1],
      [3, 7],
      [2, 64],
      [4, 172],
    ])("rmsNorm n=%i k=%i", (n, k) => {
      const r = rng(n + k);
      const x = randomX(r, n * k, 3);
      const w = randomX(r, k);
      for (const withW of [false, true]) {
        const xp = K.heap.upload(x);
        const wp = withW ? K.heap.upload(w) : 0;
        K.rmsNorm(xp, wp, xp, n, k, 1e-5);
        const got = f32(xp, n * k);
        const ref = rmsNormRef(x, withW ? w : undefined, n, k, 1e-5);
        for (let i = 0; i < n * k; i++) expect(Math.abs(got[i]! - ref[i]!)).toBeLessThanOrEqual(1e-6 * Math.abs(ref[i]!) + 1e-7);
        K.heap.free(xp);
        if (wp) K.heap.free(wp);
      }
    });

    it.each([
      [false, 8, 8],
      [true, 8, 8],
      [false, 16, 8],
      [true, 64, 32],
    ])("rope neox=%s headDim=%i nRot=%i", (neox, headDim, nRot) => {
      const r = rng(headDim + nRot + (neox ? 1 : 0));
      const n = 5,
        heads = 3;
      const x = randomX(r, n * heads * headDim);
      const pos = [0, 1, 7, 100, 4000];
      const xp = K.heap.upload(x);
      K.rope(xp, n, heads, headDim, pos, { base: 10000, neox, nRot });
      const got = f32(xp, x.length);
      const ref = ropeRef(x, n, heads, headDim, pos, 10000, neox, nRot);
      for (let i = 0; i < x.length; i++) expect(Math.abs(got[i]! - ref[i]!)).toBeLessThanOrEqual(2e-6 * (Math.abs(ref[i]!) + 1));
      K.heap.free(xp);
    });

    // the kernel's vector lanes and its scalar tail compute a·c − b·s and a·s + b·c with each product rounded to f32
    // and then added: bit for bit that formula on the f32 angle table (ropeAngles), whatever the pairs' count
    it.each([
      [false, 6, 6],
      [true, 6, 6],
      [false, 12, 10],
      [true, 20, 14],
      [true, 96, 96],
    ])("rope neox=%s headDim=%i nRot=%i: the f32 formula bit for bit", (neox, headDim, nRot) => {
      const r = rng(headDim * 3 + nRot + (neox ? 7 : 0));
      const n = 3,
        heads = 2,
        half = nRot / 2;
      const x = randomX(r, n * heads * headDim, 4);
      // the same count at other positions right after: the kernels keep the last angle table and must see the change
      for (const pos of [
        [0, 5, 3000],
        [0, 5, 3001],
      ]) {
        const table = new Float32Array(n * half * 2);
        ropeAngles(table, 0, pos, n, nRot, 10000, 1);
        const want = Float32Array.from(x);
        const f = Math.fround;
        for (let t = 0; t < n; t++) {
          for (let h = 0; h < heads; h++) {
            for (let i = 0; i < half; i++) {
              const c = table[(t * half + i) * 2]!,
                s = table[(t * half + i) * 2 + 1]!;
              const o = (t * heads + h) * headDim;
              const ia = o + (neox ? i : 2 * i),
                ib = o + (neox ? i + half : 2 * i + 1);
              const a = x[ia]!,
                b = x[ib]!;
              want[ia] = f(f(a * c) - f(b * s));
              want[ib] = f(f(a * s) + f(b * c));
            }
          }
        }
        const xp = K.heap.upload(x);
        K.rope(xp, n, heads, headDim, pos, { base: 10000, neox, nRot });
        expect(Array.from(f32(xp, x.length))).toEqual(Array.from(want));
        K.heap.free(xp);
      }
    });

    it.each([1, 3, 4, 64, 301])("addInto count=%i: x + y in f32, bit for bit, nothing past the count", (count) => {
      const r = rng(count + 11);
      const x = randomX(r, count + 3, 5);
      const y = randomX(r, count + 3, 5);
      const xp = K.heap.upload(x);
      const yp = K.heap.upload(y);
      K.addInto(xp, yp, count);
      const want = Float32Array.from(x, (v, i) => (i < count ? Math.fround(v + y[i]!) : v));
      expect(Array.from(f32(xp, count + 3))).toEqual(Array.from(want));
      K.heap.free(xp);
      K.heap.free(yp);
    });

    it.each([
      [1, 1],
      [2, 3],
      [3, 4],
      [2, 17],
      [4, 100],
    ])("softmax rows=%i len=%i (with masked entries)", (rows, len) => {
      const r = rng(rows * 100 + len);
      const x = randomX(r, rows * len, 4);
      if (len > 2) x[1] = -Infinity;
      if (rows > 2) x.fill(-Infinity, 2 * len, 3 * len); // a fully masked row
      const xp = K.heap.upload(x);
      K.softmax(xp, rows, len, 0.7);
      const got = f32(xp, x.length);
      const ref = softmaxRef(x, rows, len, 0.7);
      for (let i = 0; i < x.length; i++) expect(Math.abs(got[i]! - ref[i]!)).toBeLessThanOrEqual(1e-6);
      K.heap.free(xp);
    });

    it.each([1, 5, 64, 1003])("swiglu and relu² count=%i", (count) => {
      const r = rng(count);
      const g = randomX(r, count, 4);
      g[0] = -100; // exp overflow side
      const u = randomX(r, count);
      for (const kind of ["silu", "relu2"] as const) {
        for (const withU of [false, true]) {
          const gp = K.heap.upload(g);
          const up = withU ? K.heap.upload(u) : 0;
          const op = K.heap.alloc(count * 4);
          if (kind === "silu") K.swiglu(gp, up, op, count);
          else K.relu2glu(gp, up, op, count);
          const got = f32(op, count);
          const ref = gluRef(kind, g, withU ? u : undefined);
          for (let i = 0; i < count; i++) expect(Math.abs(got[i]! - ref[i]!)).toBeLessThanOrEqual(3e-7 * Math.abs(ref[i]!) + 1e-30);
          for (const p of [gp, up, op]) if (p) K.heap.free(p);
        }
      }
    });
  });

  it("is unusable after dispose, with a typed error", async () => {
    const K2 = await CpuKernels.create({ simd: build, threads: 1 });
    K2.dispose();
    K2.dispose();
    expect(() => K2.allocActivations("token", 128, 1)).toThrow(TernionError);
  });
});

// ── the two builds against each other ────────────────────────────────────────────────────────────────────────
// Random shapes with ragged edges (rows not a multiple of 4, k not a multiple of 8 where the type allows, token
// counts across every tile), the same inputs through both builds: every output bit for bit equal.
describe("the simd128 and relaxed builds agree bit for bit", () => {
  const kernels = new Map<(typeof BUILDS)[number], CpuKernels>();
  beforeAll(async () => {
    if (!relaxedSimdSupported()) throw new Error(`the relaxed-SIMD build cannot be compared: ${relaxedSimdHint()}`);
    for (const build of BUILDS) kernels.set(build, await CpuKernels.create({ simd: build, threads: 1 }));
  });
  afterAll(() => {
    for (const K of kernels.values()) K.dispose();
  });

  const CASES = 10;
  const int = (r: () => number, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

  /** run(K) on each build; the outputs must agree bit for bit. */
  function agree(label: string, run: (K: CpuKernels) => ArrayLike<number>): void {
    const [a, b] = BUILDS.map((build) => bits(run(kernels.get(build)!)));
    expect(a!.length, label).toBeGreaterThan(0);
    expect(b, `${label}: relaxed vs simd128`).toEqual(a);
  }
  function linearOn(
    K: CpuKernels,
    type: MatrixType,
    m: number,
    k: number,
    data: Uint8Array,
    x: Float32Array,
    n: number,
    dlt?: Parameters<CpuKernels["uploadMatrix"]>[4],
  ) {
    const W = K.uploadMatrix(type, m, k, data, dlt);
    const xp = K.heap.upload(x);
    const out = K.heap.alloc(n * m * 4);
    K.linear(W, xp, n, out);
    const y = K.heap.f32View(out, n * m).slice();
    K.heap.free(xp);
    K.heap.free(out);
    K.freeMatrix(W);
    return y;
  }
  /** In-place op on an uploaded copy of x, read back. */
  function inPlace(K: CpuKernels, x: Float32Array, op: (ptr: number) => void): Float32Array {
    const xp = K.heap.upload(x);
    op(xp);
    const y = K.heap.f32View(xp, x.length).slice();
    K.heap.free(xp);
    return y;
  }

  it.each(["TQ2_0", "TQ1_0", "I2_S", "DLT"] as const)("ternary %s matmul, every tile", (type) => {
    const r = rng(type.length * 7919 + type.charCodeAt(0));
    for (let c = 0; c < CASES; c++) {
      const m = int(r, 1, 37);
      const n = int(r, 1, 11);
      const g = [64, 128, 256][int(r, 0, 2)]!;
      const k = type === "DLT" ? int(r, 1, 700) : type === "I2_S" ? 128 * int(r, 1, 6) : 256 * int(r, 1, 3);
      const codes = randomCodes(r, m * k);
      const scales = randomF16(r, Math.ceil((m * k) / 256), 0.01, 2);
      const G = Math.ceil(k / g);
      const dlt =
        type === "DLT"
          ? {
              alpha: Uint16Array.from(randomF16(r, m * G, 0.01, 1), f32ToF16Bits),
              gamma: Uint16Array.from(randomF16(r, m * G, -0.1, 0.1), f32ToF16Bits),
              groupSize: g,
            }
          : undefined;
      const data =
        type === "TQ2_0"
          ? packTq2_0(codes, scales, m, k)
          : type === "TQ1_0"
            ? packTq1_0(codes, scales, m, k)
            : type === "I2_S"
              ? packI2_S(codes, 0.37, m, k)
              : packDltCodes(codes, m, k);
      const x = trickyX(r, n, k);
      for (const tile of TILES) {
        agree(`${type} m=${m} k=${k} n=${n}${dlt ? ` g=${g}` : ""} tile ${tile}`, (K) => {
          K.setTile(tile);
          const y = linearOn(K, type, m, k, data, x, n, dlt);
          K.setTile("auto");
          return y;
        });
      }
    }
  });

  it.each(["F32", "F16", "Q8_0"] as const)("float %s matmul, and the kernel-order reference", (type) => {
    const r = rng(type.length * 31 + type.charCodeAt(1));
    for (let c = 0; c < CASES; c++) {
      const m = int(r, 1, 37);
      const n = int(r, 1, 11);
      const k = type === "Q8_0" ? 32 * int(r, 1, 12) : int(r, 1, 400);
      const data = randomFloatMatrix(r, type, m, k);
      const x = randomX(r, n * k, 1 + 8 * r());
      const ref = floatMatmulKernelOrderRef(type, data, m, k, x, n);
      agree(`${type} m=${m} k=${k} n=${n}`, (K) => {
        const y = linearOn(K, type, m, k, data, x, n);
        expect(bits(y), `${type} m=${m} k=${k} n=${n} against the reference`).toEqual(bits(ref));
        return y;
      });
    }
  });

  it.each(["q8k", "token", "group"] as const)("activation quantization (%s)", (kind) => {
    const r = rng(kind.length * 101);
    for (let c = 0; c < CASES; c++) {
      const n = int(r, 1, 9);
      const k = kind === "q8k" ? 256 * int(r, 1, 3) : int(r, 1, 600);
      const g = kind === "group" ? 16 * int(r, 1, 20) : undefined;
      const x = trickyX(r, n, k);
      agree(`${kind} n=${n} k=${k} g=${g}`, (K) => {
        const a = K.allocActivations(kind, k, n + 2, g);
        const xp = K.heap.upload(x);
        K.quantize(a, xp, n);
        const got = K.readActivations(a);
        K.heap.free(xp);
        K.freeActivations(a);
        return [...got.q, ...got.d, ...got.s, ...(got.xs ?? []), ...(got.bsums ?? [])];
      });
    }
  });

  // the relaxed build converts with the plain truncation after zeroing NaN lanes itself (quant.ts q4)
  it.each(["q8k", "token", "group"] as const)("activation quantization of NaN and ±inf (%s)", (kind) => {
    const r = rng(kind.length * 7);
    const k = 512;
    const n = 4;
    const x = randomX(r, n * k);
    x[3] = Number.NaN; // token 0: a NaN among finite values
    x[k + 17] = Number.POSITIVE_INFINITY; // token 1: +inf (its group's amax)
    x[k + 300] = Number.NEGATIVE_INFINITY;
    x.fill(Number.NaN, 2 * k, 2 * k + 256); // token 2: a whole block of NaN
    agree(`${kind} NaN/inf`, (K) => {
      const a = K.allocActivations(kind, k, n, kind === "group" ? 32 : undefined);
      const xp = K.heap.upload(x);
      K.quantize(a, xp, n);
      const got = K.readActivations(a);
      K.heap.free(xp);
      K.freeActivations(a);
      return [...got.q, ...got.s, ...(got.bsums ?? [])];
    });
  });

  it("rmsNorm, rope, softmax, SwiGLU, relu² and addInto", () => {
    const r = rng(2026);
    for (let c = 0; c < CASES; c++) {
      const n = int(r, 1, 9);
      const k = int(r, 1, 300);
      const x = randomX(r, n * k, 3);
      const w = randomX(r, k);
      agree(`rmsNorm n=${n} k=${k}`, (K) =>
        inPlace(K, x, (p) => {
          const wp = K.heap.upload(w);
          K.rmsNorm(p, wp, p, n, k, 1e-5);
          K.heap.free(wp);
        }),
      );
      const heads = int(r, 1, 4);
      const headDim = 2 * int(r, 1, 40);
      const nRot = 2 * int(r, 1, headDim / 2);
      const neox = r() < 0.5;
      const pos = Array.from({ length: n }, () => int(r, 0, 5000));
      const q = randomX(r, n * heads * headDim);
      agree(`rope n=${n} heads=${heads} headDim=${headDim} nRot=${nRot} neox=${neox}`, (K) =>
        inPlace(K, q, (p) => K.rope(p, n, heads, headDim, pos, { base: 10000, neox, nRot })),
      );
      const s = randomX(r, n * k, 4);
      if (k > 2) s[1] = -Infinity;
      agree(`softmax rows=${n} len=${k}`, (K) => inPlace(K, s, (p) => K.softmax(p, n, k, 0.7)));
      const u = randomX(r, n * k);
      agree(`addInto count=${n * k}`, (K) =>
        inPlace(K, x, (p) => {
          const up = K.heap.upload(u);
          K.addInto(p, up, n * k);
          K.heap.free(up);
        }),
      );
      for (const kind of ["swiglu", "relu2glu"] as const) {
        agree(`${kind} count=${n * k}`, (K) =>
          inPlace(K, x, (p) => {
            const up = K.heap.upload(u);
            K[kind](p, up, p, n * k);
            K.heap.free(up);
          }),
        );
      }
    }
  });
});
