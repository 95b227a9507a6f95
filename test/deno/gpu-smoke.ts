// Run by test/gpu-deno.test.ts under Deno: its built-in WebGPU (navigator.gpu, here on Mesa's lavapipe)
// runs the Q8_K quantization and the TQ2_0 matmul of src/gpu on a random 37×512 matrix for 3 tokens, and
// prints one JSON line comparing the result with the CPU reference.
import { acquireGpu } from "../../src/gpu/device.ts";
import { quantizeOp, quantScratch, ternaryMatmulOp } from "../../src/gpu/linear.ts";
import { GpuArena, PipelineCache, readBuffer } from "../../src/gpu/resources.ts";
import { hostMatrix, uploadMatrix, type GpuTernary } from "../../src/gpu/weights.ts";
import { packTq2_0, unpackTq2_0 } from "../../src/runtime/tensor-types/ternary-codes.ts";
import { quantizeQ8KRef } from "../../src/runtime/cpu/reference/quant.ts";
import { tqMatmulRef } from "../../src/runtime/cpu/reference/ternary.ts";
import { GgmlType } from "../../src/runtime/tensor-types/table.ts";
import { rng } from "../helpers/random.ts";

const gpu = await acquireGpu();
const [m, k, n] = [37, 512, 3];
const rand = rng(7);
const codes = Uint8Array.from({ length: m * k }, () => Math.floor(rand() * 3));
const packed = packTq2_0(
  codes,
  Float32Array.from({ length: (m * k) / 256 }, () => 0.01 + rand() * 0.05),
  m,
  k,
);
const x = Float32Array.from({ length: n * k }, () => rand() * 2 - 1);

const env = { arena: new GpuArena(gpu), pipelines: new PipelineCache(gpu.device), packedDot: gpu.packedDot, tuning: gpu.tuning };
const w = uploadMatrix(env.arena, "w", hostMatrix(GgmlType.TQ2_0, packed, m, k)) as GpuTernary;
const scratch = quantScratch(env.arena, "x", n, k, k / 256);
const xb = env.arena.upload("x", x);
const y = env.arena.storage("y", n * m * 4);
const step = env.arena.uniform("step", [0, n, 0, 0]);
const ops = [await quantizeOp(env, w.act, k, xb, scratch, step), await ternaryMatmulOp(env, w, scratch, y, step)];
const enc = gpu.device.createCommandEncoder();
const pass = enc.beginComputePass();
for (const op of ops) op.encode(pass, n);
pass.end();
gpu.device.queue.submit([enc.finish()]);
const got = new Float32Array(await readBuffer(gpu, y, n * m * 4));
const want = tqMatmulRef(codes, unpackTq2_0(packed, m, k).d, m, k, quantizeQ8KRef(x, n, k));
let maxErr = 0;
let maxAbs = 0;
for (let i = 0; i < want.length; i++) {
  maxErr = Math.max(maxErr, Math.abs(got[i]! - want[i]!));
  maxAbs = Math.max(maxAbs, Math.abs(want[i]!));
}
console.log(JSON.stringify({ adapter: gpu.adapterName, packedDot: gpu.packedDot, lanes: gpu.tuning.lanes, maxErr, maxAbs }));
env.arena.destroy();
gpu.destroy();
