// A salient side matrix on the GPU (runtime/model/salient-file.ts): CSR row starts, the entries packed one per u32
// word (column | value << 16) and the row scales, and the op that adds S·x to a ternary matmul's output
// (./wgsl/salient-matmul.ts). x is the f32 input of the matrix, which the quantize op leaves untouched.
import type { SalientMatrixData } from "../runtime/model/salient-file.ts";
import type { OpEnv, OutputPlacement } from "./linear.ts";
import type { GpuArena, GpuOp } from "./resources.ts";
import { bindGroup, simpleOp } from "./resources.ts";
import { SALIENT_ROWS_PER_WORKGROUP, salientMatmulShader } from "./wgsl/salient-matmul.ts";

export interface GpuSalient {
  rows: number;
  cols: number;
  nnz: number;
  rowStart: GPUBuffer;
  entries: GPUBuffer;
  scale: GPUBuffer;
}

/** The entries as the shader reads them: column in bits 0–15, the i8 value in bits 16–23. */
export function packSalientEntries(s: SalientMatrixData): Uint32Array {
  return Uint32Array.from(s.idx, (c, e) => c | ((s.val[e]! & 0xff) << 16));
}

export function uploadSalient(arena: GpuArena, label: string, s: SalientMatrixData): GpuSalient {
  return {
    rows: s.rows,
    cols: s.cols,
    nnz: s.idx.length,
    rowStart: arena.upload(`${label} salient rows`, s.rowStart),
    // a buffer of at least one word: a binding may not be empty
    entries: arena.upload(`${label} salient entries`, s.idx.length ? packSalientEntries(s) : new Uint32Array(1)),
    scale: arena.upload(`${label} salient scales`, s.scale),
  };
}

/** y[t][yOffset + r] += (S·x[t])[r] for the step's tokens; x: f32 [n][xStride]. */
export async function salientMatmulOp(
  env: OpEnv,
  s: GpuSalient,
  x: GPUBuffer,
  y: GPUBuffer,
  step: GPUBuffer,
  out: OutputPlacement = {},
  xStride = s.cols,
): Promise<GpuOp> {
  const src = salientMatmulShader();
  const pipeline = await env.pipelines.get(src);
  const P = env.arena.uniform("salient params", [s.rows, s.cols, xStride, out.yStride ?? s.rows, out.yOffset ?? 0]);
  const group = bindGroup(env.arena.device, pipeline, src, { P, step, rows: s.rowStart, entries: s.entries, scale: s.scale, x, y });
  return simpleOp(src.label, pipeline, group, (n) => [Math.ceil(s.rows / SALIENT_ROWS_PER_WORKGROUP), n]);
}
