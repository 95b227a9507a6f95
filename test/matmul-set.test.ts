// The ternary matmul set (CpuKernels.matmulQuantizedSet: q/k/v or gate/up as one thread-pool call) against the
// separate matmulQuantized calls it replaces: bit for bit, on random ragged shapes of every ternary family, both
// wasm builds, 1 and 3 threads, every tile (Vec-LUT included: batches past a tile, rows of several panels); nothing
// written outside the outputs; mismatched inputs refused.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CpuKernels, type Matrix, type QuantizedActivations, type TernaryTile } from "../src/runtime/cpu/kernels.ts";
import type { MatrixType } from "../src/runtime/cpu/layout.ts";
import { packDltCodes, packI2_S, packTq1_0, packTq2_0 } from "../src/runtime/tensor-types/ternary-codes.ts";
import { f32ToF16Bits, roundF16 } from "../src/runtime/tensor-types/half.ts";
import { relaxedSimdHint, relaxedSimdSupported } from "../src/runtime/cpu/wasm/features.ts";
import { OptionError } from "../src/runtime/errors.ts";
import { rng } from "./helpers/random.ts";

type Family = "TQ2_0" | "TQ1_0" | "I2_S" | "DLT";
const FAMILIES: Family[] = ["TQ2_0", "TQ1_0", "I2_S", "DLT"];
const TILES: TernaryTile[] = ["auto", "rows4", "r1t4", "r2t4", "lut"];
/** Written around every output: a write outside its rows would change one. */
const GUARD = 12345.5;
const GUARD_FLOATS = 8;

function codes(r: () => number, len: number): Uint8Array {
  return Uint8Array.from({ length: len }, () => Math.floor(r() * 3));
}
function f16s(r: () => number, len: number, lo: number, hi: number): Float32Array {
  return Float32Array.from({ length: len }, () => roundF16(lo + r() * (hi - lo)));
}

/** A random m × k matrix of `type` (k valid for it), uploaded. */
function upload(K: CpuKernels, r: () => number, type: Family, m: number, k: number, group: number): Matrix {
  const c = codes(r, m * k);
  if (type === "TQ2_0") return K.uploadMatrix(type, m, k, packTq2_0(c, f16s(r, (m * k) / 256, 0.01, 2), m, k));
  if (type === "TQ1_0") return K.uploadMatrix(type, m, k, packTq1_0(c, f16s(r, (m * k) / 256, 0.01, 2), m, k));
  if (type === "I2_S") return K.uploadMatrix(type, m, k, packI2_S(c, 0.1 + r(), m, k));
  const G = Math.ceil(k / group);
  return K.uploadMatrix("DLT", m, k, packDltCodes(c, m, k), {
    alpha: Uint16Array.from(f16s(r, m * G, 0.01, 1), f32ToF16Bits),
    gamma: Uint16Array.from(f16s(r, m * G, -0.1, 0.1), f32ToF16Bits),
    groupSize: group,
  });
}

/** A row length the family accepts. */
function cols(r: () => number, type: Family): number {
  if (type === "TQ2_0" || type === "TQ1_0") return 256 * (1 + Math.floor(r() * 3));
  if (type === "I2_S") return 128 * (1 + Math.floor(r() * 5));
  return 1 + Math.floor(r() * 400); // DLT: any length
}

describe.each(["simd128", "relaxed"] as const)("%s ternary matmul set", (build) => {
  const made: CpuKernels[] = [];
  beforeAll(() => {
    if (build === "relaxed" && !relaxedSimdSupported()) throw new Error(`the relaxed-SIMD build cannot be tested: ${relaxedSimdHint()}`);
  });
  afterAll(() => {
    for (const K of made) K.dispose();
  });

  it.each([1, 3])("equals the separate matmuls bit for bit on random ragged shapes, %i thread(s), every tile", async (threads) => {
    const K = await CpuKernels.create({ simd: build, threads, parallelThreshold: 0 });
    made.push(K);
    expect(K.threads).toBe(threads);
    const r = rng(threads * 7919 + (build === "relaxed" ? 1 : 0));
    for (let round = 0; round < 24; round++) {
      const type = FAMILIES[round % FAMILIES.length]!;
      const k = cols(r, type);
      const group = [64, 128, 256][Math.floor(r() * 3)]!;
      const count = 2 + Math.floor(r() * 3);
      // ragged row counts (not multiples of 4) as well as whole quads
      const ws = Array.from({ length: count }, () => upload(K, r, type, 1 + Math.floor(r() * 45), k, group));
      // 37 tokens: two Vec-LUT tiles (each panel's tables shared by the set) and a tail by the multiply-add tiles
      const n = [1, 2, 5, 37][Math.floor(round / 4) % 4]!;
      const act = K.activationFor(ws[0]!)!;
      const a: QuantizedActivations = K.allocActivations(act.kind, k, n + 2, act.group);
      const x = K.heap.upload(Float32Array.from({ length: n * k }, () => (r() - 0.5) * 6));
      K.quantize(a, x, n);
      const outFloats = ws.map((w) => n * w.rows + 2 * GUARD_FLOATS);
      const setOuts = outFloats.map((f) => K.heap.alloc(f * 4));
      const oneOuts = outFloats.map((f) => K.heap.alloc(f * 4));
      for (const tile of TILES) {
        K.setTile(tile);
        for (let i = 0; i < count; i++) {
          K.heap.f32View(setOuts[i]!, outFloats[i]!).fill(GUARD);
          K.heap.f32View(oneOuts[i]!, outFloats[i]!).fill(GUARD);
          K.matmulQuantized(ws[i]!, a, oneOuts[i]! + GUARD_FLOATS * 4);
        }
        K.matmulQuantizedSet(
          ws,
          a,
          setOuts.map((o) => o + GUARD_FLOATS * 4),
        );
        for (let i = 0; i < count; i++) {
          const what = `${type} round ${round} tile ${tile} matrix ${i} (${ws[i]!.rows}×${k}, n ${n})`;
          const got = K.heap.f32View(setOuts[i]!, outFloats[i]!);
          expect(Array.from(got), what).toEqual(Array.from(K.heap.f32View(oneOuts[i]!, outFloats[i]!)));
          expect(got[0], `${what}: guard before`).toBe(GUARD);
          expect(got[outFloats[i]! - 1], `${what}: guard after`).toBe(GUARD);
          expect(got[GUARD_FLOATS], `${what}: first output written`).not.toBe(GUARD);
        }
      }
      K.setTile("auto");
      for (const p of [x, ...setOuts, ...oneOuts]) K.heap.free(p);
      K.freeActivations(a);
      for (const w of ws) K.freeMatrix(w);
    }
  });

  it("refuses matrices whose activations differ from the ones given, and a count mismatch", async () => {
    const K = await CpuKernels.create({ simd: build, threads: 1 });
    made.push(K);
    const r = rng(5);
    const types: MatrixType[] = ["TQ2_0", "I2_S"];
    const [tq, i2] = types.map((t) => upload(K, r, t as Family, 8, 256, 128));
    const a = K.allocActivations("q8k", 256, 1);
    const out = K.heap.alloc(8 * 4);
    expect(() => K.matmulQuantizedSet([tq!, i2!], a, [out, out])).toThrow(OptionError);
    expect(() => K.matmulQuantizedSet([tq!, tq!], a, [out])).toThrow(/2 matrices but 1 outputs/);
  });
});
