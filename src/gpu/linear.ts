// Ops of a linear layer y = W·x: the activation quantization of x (ternary weights) and the matmul, each
// with its bind groups built once. The matmul has a decode pipeline (one token per thread) and a prefill
// pipeline (`prefillTile` tokens per thread reusing each weight word), picked per step by n.
import type { KernelTuning } from "./device.ts";
import type { GpuArena, GpuOp, PipelineCache } from "./resources.ts";
import { bindGroup, simpleOp } from "./resources.ts";
import type { ActivationQuant, GpuFloat, GpuTernary } from "./weights.ts";
import { FLOAT_ROWS_PER_WORKGROUP, floatMatmulShader } from "./wgsl/float-matmul.ts";
import { quantizeShader } from "./wgsl/quantize.ts";
import type { ShaderSource } from "./wgsl/shader.ts";
import { TERNARY_ROWS_PER_WORKGROUP, ternaryMatmulShader } from "./wgsl/ternary-matmul.ts";

export interface OpEnv {
  arena: GpuArena;
  pipelines: PipelineCache;
  packedDot: boolean;
  tuning: KernelTuning;
  /** Tokens per thread of the prefill matmuls (default 8). */
  prefillTile?: number;
}

/** Where quantized activations live: q words [n][qWords(k)], d and Σx [n][groups]. */
export interface QuantScratch {
  q: GPUBuffer;
  dact: GPUBuffer;
  xs: GPUBuffer;
}

/** Packed i8x4 words per token for a row of k values (k padded to 128, as the CPU path). */
export const qWords = (k: number): number => Math.ceil(k / 128) * 32;

export interface OutputPlacement {
  /** Row stride of y per token (default: the matrix's rows). */
  yStride?: number;
  /** First column of y written (default 0). */
  yOffset?: number;
  /** y += W·x. */
  accumulate?: boolean;
}

export function quantScratch(arena: GpuArena, label: string, tokens: number, maxK: number, maxGroups: number): QuantScratch {
  return {
    q: arena.storage(`${label} q`, tokens * qWords(maxK) * 4),
    dact: arena.storage(`${label} d`, tokens * maxGroups * 4),
    xs: arena.storage(`${label} Σx`, tokens * maxGroups * 4),
  };
}

export async function quantizeOp(
  env: OpEnv,
  act: ActivationQuant,
  k: number,
  x: GPUBuffer,
  scratch: QuantScratch,
  step: GPUBuffer,
  xStride = k,
): Promise<GpuOp> {
  const groups = Math.ceil(k / act.group);
  const src = quantizeShader(act.mode, act.sums, env.tuning.reduce);
  const pipeline = await env.pipelines.get(src);
  const P = env.arena.uniform(src.label, [k, act.group, groups, qWords(k), xStride]);
  const group = bindGroup(env.arena.device, pipeline, src, { P, step, x, q: scratch.q, dact: scratch.dact, xs: scratch.xs });
  return simpleOp(src.label, pipeline, group, (n) => [groups, n]);
}

/** Two variants of one matmul (decode: tile 1; prefill: tile tn), sharing buffers. */
async function tiledOp(
  env: OpEnv,
  label: string,
  rowsPerWorkgroup: number,
  rows: number,
  make: (tn: number) => ShaderSource,
  buffers: Record<string, GPUBuffer>,
): Promise<GpuOp> {
  const tn = env.prefillTile ?? 8;
  const variants = await Promise.all(
    [1, tn].map(async (t) => {
      const src = make(t);
      const pipeline = await env.pipelines.get(src);
      return { tn: t, pipeline, group: bindGroup(env.arena.device, pipeline, src, buffers) };
    }),
  );
  const wx = Math.ceil(rows / rowsPerWorkgroup);
  return {
    label,
    encode(pass, n) {
      const v = n === 1 ? variants[0]! : variants[1]!;
      pass.setPipeline(v.pipeline);
      pass.setBindGroup(0, v.group);
      pass.dispatchWorkgroups(wx, Math.ceil(n / v.tn));
    },
  };
}

export async function ternaryMatmulOp(
  env: OpEnv,
  w: GpuTernary,
  scratch: QuantScratch,
  y: GPUBuffer,
  step: GPUBuffer,
  out: OutputPlacement = {},
): Promise<GpuOp> {
  const groups = Math.ceil(w.cols / w.act.group);
  const P = env.arena.uniform("ternary params", [w.rows, w.rowWords, w.act.group, groups, qWords(w.cols), out.yStride ?? w.rows, out.yOffset ?? 0]);
  const buffers: Record<string, GPUBuffer> = { P, step, codes: w.codes, scales: w.scales, q: scratch.q, dact: scratch.dact, y };
  if (w.shifts) {
    buffers.shifts = w.shifts;
    buffers.xs = scratch.xs;
  }
  const variant = {
    lanes: env.tuning.lanes,
    i2s: w.i2s,
    group64: w.act.group === 64,
    shift: !!w.shifts,
    accumulate: !!out.accumulate,
    packedDot: env.packedDot,
  };
  return tiledOp(env, `ternary ${w.rows}×${w.cols}`, TERNARY_ROWS_PER_WORKGROUP, w.rows, (tn) => ternaryMatmulShader({ ...variant, tn }), buffers);
}

/** One op per row chunk (a chunk is one binding). */
export async function floatMatmulOps(
  env: OpEnv,
  w: GpuFloat,
  x: GPUBuffer,
  y: GPUBuffer,
  step: GPUBuffer,
  out: OutputPlacement = {},
  xStride = w.cols,
): Promise<GpuOp[]> {
  return Promise.all(
    w.chunks.map((c) => {
      const P = env.arena.uniform("float params", [c.rows, w.cols, w.rowWords, out.yStride ?? w.rows, out.yOffset ?? 0, c.rowBase, xStride]);
      const buffers: Record<string, GPUBuffer> = { P, step, w: c.w, x, y };
      if (c.wscale) buffers.wscale = c.wscale;
      const make = (tn: number) => floatMatmulShader({ format: w.format, tn, lanes: env.tuning.lanes, accumulate: !!out.accumulate });
      return tiledOp(env, `float ${w.format} ${c.rows}×${w.cols}`, FLOAT_ROWS_PER_WORKGROUP, c.rows, make, buffers);
    }),
  );
}
