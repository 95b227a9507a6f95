// The training matmul kernels (assembly/kernels/train.ts via src/train/kernels.ts) against their scalar
// references (src/train/matmul.ts), for both wasm builds, on random shapes with ragged edges (k not a
// multiple of 4 or 16, single rows and tokens); and bit-identical results across builds and thread counts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { relaxedSimdHint, relaxedSimdSupported } from "../src/runtime/cpu/wasm/features.ts";
import { TrainKernels } from "../src/train/kernels.ts";
import { matmulBackward, matmulBackwardScalar, matmulForward, matmulForwardScalar, useTrainKernels } from "../src/train/matmul.ts";
import { rng } from "./helpers/random.ts";

const SHAPES: [n: number, k: number, m: number][] = [
  [1, 1, 1],
  [1, 3, 5],
  [2, 17, 3],
  [5, 64, 64],
  [7, 172, 64],
  [3, 64, 172],
  [33, 45, 19],
  [16, 129, 31],
  [64, 72, 100],
];

function random(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => 2 * r() - 1);
}

/**
 * |got − want| ≤ 32·2⁻²⁴·Σ|terms|: the f32 kernels round each partial sum (the reference sums in f64), an
 * error that grows like √k·2⁻²⁴·Σ|terms| for these k ≤ 172; a wrong index or a dropped term is O(1) off.
 */
function expectClose(got: Float32Array, want: Float32Array, bound: Float64Array, what: string): void {
  for (let i = 0; i < want.length; i++) {
    const tol = 32 * bound[i]! * 2 ** -24 + 1e-30;
    if (!(Math.abs(got[i]! - want[i]!) <= tol)) expect.fail(`${what}[${i}]: ${got[i]} vs ${want[i]} (tolerance ${tol})`);
  }
}

function bytes(...arrays: Float32Array[]): string {
  return Buffer.concat(arrays.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))).toString("base64");
}

/** Forward and backward of every shape with the given kernels; returns all outputs. */
function runAll(K: TrainKernels): Float32Array[] {
  const outs: Float32Array[] = [];
  SHAPES.forEach(([n, k, m], s) => {
    const x = random(n * k, 10 + s);
    const w = random(m * k, 20 + s);
    const dy = random(n * m, 30 + s);
    dy[0] = 0; // the zero-skip path
    const y = new Float32Array(n * m);
    K.forward(y, x, w, n, k, m);
    const dx = random(n * k, 40 + s); // accumulates into existing values
    const dw = random(m * k, 50 + s);
    K.backward(dy, x, w, n, k, m, dx, dw);
    outs.push(y, dx, dw);
  });
  return outs;
}

const BUILDS = ["simd128", "relaxed"] as const;
const results = new Map<string, string>();

describe.each(BUILDS)("training matmul kernels, %s build", (build) => {
  let K: TrainKernels;
  beforeAll(async () => {
    if (build === "relaxed" && !relaxedSimdSupported()) throw new Error(`the relaxed-SIMD build cannot be tested: ${relaxedSimdHint()}`);
    K = await TrainKernels.create({ simd: build, threads: 1 });
  });
  afterAll(() => K?.dispose());

  it("runs the build it was asked for", () => expect(K.build).toBe(build));

  it.each(SHAPES)("n %i, k %i, m %i: forward, dx and dW match the scalar reference", (n, k, m) => {
    const s = SHAPES.findIndex((t) => t[0] === n && t[1] === k && t[2] === m);
    const x = random(n * k, 10 + s);
    const w = random(m * k, 20 + s);
    const dy = random(n * m, 30 + s);
    dy[0] = 0;
    const y = new Float32Array(n * m);
    const yRef = new Float32Array(n * m);
    K.forward(y, x, w, n, k, m);
    matmulForwardScalar(yRef, x, w, n, k, m);
    const yBound = new Float64Array(n * m);
    for (let t = 0; t < n; t++) for (let r = 0; r < m; r++) for (let i = 0; i < k; i++) yBound[t * m + r]! += Math.abs(x[t * k + i]! * w[r * k + i]!);
    expectClose(y, yRef, yBound, "y");

    const dx = random(n * k, 40 + s);
    const dw = random(m * k, 50 + s);
    const dxRef = dx.slice();
    const dwRef = dw.slice();
    const dxBound = Float64Array.from(dx, Math.abs);
    const dwBound = Float64Array.from(dw, Math.abs);
    for (let t = 0; t < n; t++)
      for (let r = 0; r < m; r++)
        for (let i = 0; i < k; i++) {
          dxBound[t * k + i]! += Math.abs(dy[t * m + r]! * w[r * k + i]!);
          dwBound[r * k + i]! += Math.abs(dy[t * m + r]! * x[t * k + i]!);
        }
    K.backward(dy, x, w, n, k, m, dx, dw);
    matmulBackwardScalar(dy, x, w, n, k, m, dxRef, dwRef);
    expectClose(dx, dxRef, dxBound, "dx");
    expectClose(dw, dwRef, dwBound, "dw");

    // Either output may be skipped.
    const dxOnly = random(n * k, 40 + s);
    K.backward(dy, x, w, n, k, m, dxOnly, null);
    expect(bytes(dxOnly)).toBe(bytes(dx));
  });

  it("gives the same bytes on 2 threads", async () => {
    const one = bytes(...runAll(K));
    const K2 = await TrainKernels.create({ simd: build, threads: 2 });
    try {
      expect(K2.threads).toBe(2);
      expect(bytes(...runAll(K2))).toBe(one);
    } finally {
      K2.dispose();
    }
    results.set(build, one);
  });
});

describe("training matmul dispatch", () => {
  it("both builds give the same bytes (no fused multiply-add)", () => {
    expect(results.size).toBe(2);
    expect(results.get("simd128")).toBe(results.get("relaxed"));
  });

  it("matmul.ts routes f32 to the installed kernels and f64 to the reference", async () => {
    const K = await TrainKernels.create({ threads: 1 });
    const previous = useTrainKernels(K);
    try {
      const [n, k, m] = [3, 45, 19];
      const x = random(n * k, 1);
      const w = random(m * k, 2);
      const y = new Float32Array(n * m);
      const direct = new Float32Array(n * m);
      matmulForward(y, x, w, n, k, m);
      K.forward(direct, x, w, n, k, m);
      expect(bytes(y)).toBe(bytes(direct));
      const y64 = new Float64Array(n * m);
      const ref64 = new Float64Array(n * m);
      matmulForward(y64, Float64Array.from(x), Float64Array.from(w), n, k, m);
      matmulForwardScalar(ref64, Float64Array.from(x), Float64Array.from(w), n, k, m);
      expect(y64).toEqual(ref64);
      const dy = random(n * m, 3);
      const dx = new Float64Array(n * k);
      matmulBackward(Float64Array.from(dy), Float64Array.from(x), Float64Array.from(w), n, k, m, dx, null);
      const dxRef = new Float64Array(n * k);
      matmulBackwardScalar(Float64Array.from(dy), Float64Array.from(x), Float64Array.from(w), n, k, m, dxRef, null);
      expect(dx).toEqual(dxRef);
    } finally {
      useTrainKernels(previous);
      K.dispose();
    }
  });
});
