// The GPU model's buffers besides its weights, allocated once at load: the KV cache, the activations of a
// step of up to `batch` tokens (f32 rows), the step uniforms, the logits with their readback, the RoPE table,
// and one quantization scratch per kind of quantized activation the ternary matrices take.
import type { ModelConfig } from "../runtime/model/config.ts";
import { type QuantScratch, quantScratch } from "./linear.ts";
import type { GpuArena } from "./resources.ts";
import { ropeTable } from "./rope-table.ts";
import type { ActivationQuant, GpuMatrix } from "./weights.ts";

export interface KvCacheBuffers {
  /** f32 [contextLength][kvHeads·headDim] per layer. */
  k: GPUBuffer[];
  v: GPUBuffer[];
}

export function allocateKvCache(arena: GpuArena, c: ModelConfig, contextLength: number): KvCacheBuffers {
  const kvDim = c.kvHeads * c.headDim;
  const kv: KvCacheBuffers = { k: [], v: [] };
  for (let l = 0; l < c.layers; l++) {
    kv.k.push(arena.storage(`k cache ${l}`, contextLength * kvDim * 4));
    kv.v.push(arena.storage(`v cache ${l}`, contextLength * kvDim * 4));
  }
  return kv;
}

export interface Activations {
  /** Uniform {pos0, n}: where the step starts and how many tokens it has. */
  step: GPUBuffer;
  /** Uniform {0, 1}: the head's one-token step. */
  stepOne: GPUBuffer;
  /** u32 token ids of the step. */
  tokens: GPUBuffer;
  /** The residual stream. */
  x: GPUBuffer;
  /** A norm's output, the input of q/k/v and of gate/up. */
  h: GPUBuffer;
  q: GPUBuffer;
  k: GPUBuffer;
  v: GPUBuffer;
  /** The attention's output. */
  att: GPUBuffer;
  /** A sub-norm's output (bitnet), wide enough for both. */
  sub: GPUBuffer;
  /** The gate, then the gated product act(gate) ⊙ up. */
  gate: GPUBuffer;
  up: GPUBuffer;
  /** The last token's final norm. */
  xf: GPUBuffer;
  logits: GPUBuffer;
  /** The greedy token's id. */
  result: GPUBuffer;
  /** Mappable copy of the logits or the id. */
  readback: GPUBuffer;
  /** cos/sin per position and rotated pair (./rope-table.ts). */
  ropeTable: GPUBuffer;
}

export function allocateActivations(arena: GpuArena, c: ModelConfig, batch: number, contextLength: number): Activations {
  const { dim, ffnDim } = c;
  const qDim = c.heads * c.headDim;
  const kvDim = c.kvHeads * c.headDim;
  const f32 = (label: string, len: number) => arena.storage(label, len * 4);
  return {
    step: arena.buffer("step", 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST),
    stepOne: arena.uniform("step (one token)", [0, 1, 0, 0]),
    tokens: arena.storage("tokens", batch * 4),
    x: f32("x", batch * dim),
    h: f32("h", batch * dim),
    q: f32("q", batch * qDim),
    k: f32("k", batch * kvDim),
    v: f32("v", batch * kvDim),
    att: f32("attention", batch * qDim),
    sub: f32("sub-norm", batch * Math.max(qDim, ffnDim)),
    gate: f32("gate", batch * ffnDim),
    up: f32("up", batch * ffnDim),
    xf: f32("final norm", dim),
    logits: f32("logits", c.vocabSize),
    result: arena.storage("argmax", 4),
    readback: arena.buffer("readback", c.vocabSize * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST),
    ropeTable: arena.upload("rope table", ropeTable(contextLength, c.rope.dims, c.rope.base, c.rope.freqScale)),
  };
}

/** The scratch key of a ternary matrix's input: matrices that quantize their input alike share one scratch. */
export const actKey = (a: ActivationQuant, k: number) =>
  `${a.mode}:${a.sums ? "sums" : ""}:${a.group === k && a.mode === "absmax" && !a.sums ? "token" : a.group}`;

/** One quantization scratch per activation kind of the ternary `matrices`, sized for the largest input that uses it. */
export function allocateQuantScratch(arena: GpuArena, matrices: readonly GpuMatrix[], batch: number): Map<string, QuantScratch> {
  const need = new Map<string, { maxK: number; maxGroups: number }>();
  for (const m of matrices) {
    if (m.kind !== "ternary") continue;
    const key = actKey(m.act, m.cols);
    const s = need.get(key) ?? { maxK: 0, maxGroups: 0 };
    s.maxK = Math.max(s.maxK, m.cols);
    s.maxGroups = Math.max(s.maxGroups, Math.ceil(m.cols / m.act.group));
    need.set(key, s);
  }
  const scratch = new Map<string, QuantScratch>();
  for (const [key, s] of need) scratch.set(key, quantScratch(arena, key, batch, s.maxK, s.maxGroups));
  return scratch;
}
