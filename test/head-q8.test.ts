// The int8 output head (assembly/kernels/head_q8.ts, CpuKernels.matmulInt8Head): bit for bit the scalar reference
// in the kernel's order, on random shapes with ragged edges (rows not a multiple of 4, rows shorter than a
// 128-chunk or ending inside one, several tokens), in both wasm builds and on two threads; and close to the exact
// product of the dequantized weights and activations.
import { afterAll, describe, expect, it } from "vitest";
import { CpuKernels } from "../src/runtime/cpu/kernels.ts";
import { int8HeadRef } from "../src/runtime/cpu/reference/head-q8.ts";
import { GgmlType, tensorTypeTraits } from "../src/runtime/tensor-types/table.ts";
import { rng } from "./helpers/random.ts";

const made: CpuKernels[] = [];
afterAll(() => made.forEach((k) => k.dispose()));

function randn(r: () => number): number {
  return Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
}

const Q8_0 = tensorTypeTraits(GgmlType.Q8_0);

describe.each([
  ["relaxed", 1],
  ["simd128", 1],
  ["relaxed", 2],
  ["relaxed", 3],
] as const)("int8 head (%s, %i threads)", (simd, threads) => {
  it.each([
    [1, 32, 1],
    [7, 96, 1],
    [13, 160, 3],
    [64, 256, 2],
    [37, 1536, 1],
    [5, 416, 5],
    // 8-row tiles (row t of each eighth) and a last 4-row tile, whole and split over the threads
    [20, 64, 1],
    [44, 96, 2],
    [72, 32, 1],
  ])("%i rows × %i, %i tokens", async (m, k, n) => {
    const K = await CpuKernels.create({ simd, threads, parallelThreshold: 0 });
    made.push(K);
    const r = rng(m * 131 + k + n);
    const weights = Float32Array.from({ length: m * k }, () => randn(r) * 0.05);
    const wBytes = Q8_0.quantize(weights);
    const W = K.uploadMatrix("Q8_0", m, k, wBytes);
    // one token of all zeros (its scales are 0), one with a large outlier
    const x = Float32Array.from({ length: n * k }, () => randn(r));
    if (n > 1) x.fill(0, k, 2 * k);
    x[3] = 40;
    const a = K.allocActivations("group", k, n + 2, 32);
    K.quantize(a, K.heap.upload(x), n);
    const out = K.heap.alloc(n * m * 4);
    K.matmulInt8Head(W, a, out);
    const got = K.heap.f32View(out, n * m).slice();
    const acts = K.readActivations(a);
    // readActivations gives kp values per token (k rounded up to 128); the reference takes k
    const q = Int8Array.from({ length: n * k }, (_, e) => acts.q[Math.floor(e / k) * a.kp + (e % k)]!);
    const want = int8HeadRef(wBytes, m, k, q, acts.d, n);
    expect(Array.from(new Uint32Array(got.buffer))).toEqual(Array.from(new Uint32Array(want.buffer)));
    // the quantization error only: against the f64 product of the dequantized weights and activations
    const wd = new Float32Array(m * k);
    Q8_0.dequantize(wBytes, wd);
    for (let t = 0; t < n; t++) {
      for (let row = 0; row < m; row++) {
        let exact = 0;
        let mag = 0;
        for (let i = 0; i < k; i++) {
          const xi = q[t * k + i]! * acts.d[t * (k / 32) + Math.floor(i / 32)]!;
          exact += wd[row * k + i]! * xi;
          mag += Math.abs(wd[row * k + i]! * xi);
        }
        expect(Math.abs(got[t * m + row]! - exact)).toBeLessThanOrEqual(1e-5 * mag + 1e-30);
      }
    }
  });

  it("refuses weights or activations that do not fit", async () => {
    const K = await CpuKernels.create({ simd, threads });
    made.push(K);
    const W = K.uploadMatrix("Q8_0", 4, 64, Q8_0.quantize(new Float32Array(256)));
    const F = K.uploadMatrix("F32", 4, 64, new Uint8Array(1024));
    const a = K.allocActivations("group", 64, 1, 32);
    const b = K.allocActivations("group", 64, 1, 64);
    expect(() => K.matmulInt8Head(F, a, K.heap.alloc(16))).toThrow(/the int8 head needs Q8_0 weights, got F32/);
    expect(() => K.matmulInt8Head(W, b, K.heap.alloc(16))).toThrow(/activations \(group, k 64, group 64\) do not fit the int8 head 4×64/);
  });
});
