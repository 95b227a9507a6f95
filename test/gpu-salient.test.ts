// Salient side matrices on WebGPU (src/gpu/salient.ts, src/gpu/wgsl/salient-matmul.ts), on SwiftShader: the op alone
// against the CPU path's scalar reference on ragged shapes (empty and full rows, rows not a multiple of the
// workgroup, one token and several, an output placed at an offset and stride and added to), and whole synthetic
// models with side matrices (synthetic I2_S and TQ2_0, the shipped DLT student) against the CPU engine, within the tolerance of the other GPU tests; without their
// side matrices the same models are far from it.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GpuContext } from "../src/gpu/device.ts";
import type { OpEnv } from "../src/gpu/linear.ts";
import { GpuModel } from "../src/gpu/model.ts";
import { GpuArena, PipelineCache, readBuffer } from "../src/gpu/resources.ts";
import { salientMatmulOp, uploadSalient } from "../src/gpu/salient.ts";
import { CpuModel } from "../src/runtime/cpu/model.ts";
import { salientMatmulRef } from "../src/runtime/cpu/reference/salient.ts";
import { bytesSource } from "../src/runtime/gguf/sources.ts";
import { readGgufHeader } from "../src/runtime/gguf/reader.ts";
import { type GgufWriteInput, ggufInputFromSource, writeGgufToBytes } from "../src/runtime/gguf/writer.ts";
import { stepBuffer, testGpu } from "./helpers/gpu.ts";
import { lacks } from "./helpers/optional-deps.ts";
import { rng } from "./helpers/random.ts";
import { randomSalient, SALIENT_SHAPES, withRandomSalient } from "./helpers/salient.ts";
import { syntheticModel } from "./helpers/synthetic-model.ts";

let gpu: GpuContext;
let env: OpEnv;
beforeAll(async () => {
  if (lacks("webgpu")) return;
  gpu = await testGpu();
  env = { arena: new GpuArena(gpu), pipelines: new PipelineCache(gpu.device), packedDot: gpu.packedDot, tuning: gpu.tuning };
});
afterAll(() => env?.arena.destroy());

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i]! - b[i]!));
  return e;
}

describe.skipIf(lacks("webgpu"))("salient matmul op", () => {
  it.each([
    [1, 7, 0.5, 1],
    [5, 40, 0.2, 3],
    [130, 1000, 0.02, 1],
    [67, 4097, 0.01, 5],
    [9, 65536, 0.001, 2],
  ] as const)("%i rows × %i columns, %f salient, %i tokens: the CPU reference's S·x added to y", async (rows, cols, share, n) => {
    const s = randomSalient(rows, cols, { share, seed: rows + cols, emptyRows: rows > 2 ? [1] : [], fullRows: rows > 4 ? [4] : [] });
    const r = rng(cols);
    const x = Float32Array.from({ length: n * cols }, () => r() * 2 - 1);
    // y of 2 extra columns per token, the product placed at column 1: the other columns stay as they were
    const yStride = rows + 2;
    const y0 = Float32Array.from({ length: n * yStride }, () => r());
    const want = new Float32Array(n * rows);
    salientMatmulRef(s, x, n, want);
    const side = uploadSalient(env.arena, "test", s);
    const xb = env.arena.upload("x", x);
    const yb = env.arena.upload("y", y0);
    const op = await salientMatmulOp(env, side, xb, yb, stepBuffer(gpu, 0, n), { yStride, yOffset: 1 });
    const enc = gpu.device.createCommandEncoder();
    const pass = enc.beginComputePass();
    op.encode(pass, n);
    pass.end();
    gpu.device.queue.submit([enc.finish()]);
    const got = new Float32Array(await readBuffer(gpu, yb, n * yStride * 4));
    for (let t = 0; t < n; t++) {
      expect(got[t * yStride]).toBe(y0[t * yStride]);
      expect(got[t * yStride + rows + 1]).toBe(y0[t * yStride + rows + 1]);
      for (let row = 0; row < rows; row++) {
        const expected = y0[t * yStride + 1 + row]! + want[t * rows + row]!;
        expect(Math.abs(got[t * yStride + 1 + row]! - expected)).toBeLessThan(1e-4 * (1 + Math.abs(expected)));
      }
    }
  });
});

/** The shipped DLT student (rows of 64 and 172), and the synthetic I2_S and TQ2_0 models, as write inputs. */
const MODELS: [string, () => Promise<{ input: GgufWriteInput; magnitude: number }>][] = [
  ...Object.entries(SALIENT_SHAPES).map(
    ([name, shape]) =>
      [name, async () => ({ input: syntheticModel(shape), magnitude: 4 / Math.sqrt(shape.dim * 0.5) })] as [
        string,
        () => Promise<{ input: GgufWriteInput; magnitude: number }>,
      ],
  ),
  [
    "DLT student",
    async () => {
      const file = new Uint8Array(readFileSync(fileURLToPath(new URL("../models/stories260K-ternary.gguf", import.meta.url))));
      return { input: ggufInputFromSource(bytesSource(file), await readGgufHeader(bytesSource(file))), magnitude: 0.2 };
    },
  ],
];

describe.skipIf(lacks("webgpu"))("models with side matrices", () => {
  it.each(MODELS)("%s: GPU logits equal the CPU engine's; without the side matrices they do not", async (name, make) => {
    const { input: plain, magnitude } = await make();
    const bytes = await writeGgufToBytes(withRandomSalient(plain, 0.02, 7, magnitude).model);
    const plainBytes = await writeGgufToBytes(plain);
    const prompt = [1, 17, 250, 42, 99, 7, 123, 5, 260, 33];
    const cpu = await CpuModel.load(bytesSource(bytes), { threads: 1, kvType: "f32", contextLength: 32 });
    const gm = await GpuModel.load(gpu, bytesSource(bytes), { contextLength: 32, maxBatch: 4 });
    const gmPlain = await GpuModel.load(gpu, bytesSource(plainBytes), { contextLength: 32, maxBatch: 4 });
    try {
      const want = cpu.eval(prompt)!;
      const got = await gm.forward(prompt, 0);
      const gotPlain = await gmPlain.forward(prompt, 0);
      const err = maxAbsDiff(got, want);
      const scale = Math.max(...Array.from(want, Math.abs));
      const plainErr = maxAbsDiff(gotPlain, want);
      console.log(
        `${name}: max |GPU − CPU| logit ${err.toExponential(2)} (logits up to ${scale.toFixed(2)}); without the side matrices ${plainErr.toExponential(2)}`,
      );
      expect(err).toBeLessThan(1e-3 * Math.max(1, scale));
      expect(plainErr).toBeGreaterThan(100 * 1e-3 * Math.max(1, scale));
    } finally {
      gm.dispose();
      gmPlain.dispose();
      cpu.dispose();
    }
  });
});
