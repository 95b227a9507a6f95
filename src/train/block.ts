// One decoder block of the llama / BitNet family, forward and backward, written as one readable pass in the
// order of the computation (llama2.c style). The forward returns a BlockCache holding every activation the
// backward needs, and nothing else: a schedule that keeps one block's cache at a time (blockwise) holds one
// block's activations; the full schedule keeps all of them.
//
//   xn  = rmsnorm(x)·attn_norm                 (int8 fake-quant of every matmul input when the config says so)
//   q, k, v = xn·Wqᵀ, xn·Wkᵀ, xn·Wvᵀ;  rope(q), rope(k)
//   att = causal GQA attention(q, k, v)        [→ rmsnorm·attn_sub_norm for bitnet]
//   h   = x + att·Woᵀ
//   hn  = rmsnorm(h)·ffn_norm
//   m   = act(hn·Wgateᵀ) ⊙ hn·Wupᵀ              [→ rmsnorm·ffn_sub_norm for bitnet]
//   out = h + m·Wdownᵀ
import { type BlockTensors, blockMatrices, blockNorms } from "../runtime/model/block.ts";
import type { ModelConfig } from "../runtime/model/config.ts";
import { type LinearWeight, linearBackward, linearForward, linearParams } from "./linear.ts";
import { fakeQuantInt8PerToken } from "./ops/act-quant.ts";
import { attentionBackward, attentionForward, type AttentionShape } from "./ops/attention.ts";
import { gatedBackward, gatedForward } from "./ops/gated-ffn.ts";
import { type RmsNormCache, rmsNormBackward, rmsNormForward } from "./ops/rmsnorm.ts";
import { type RopeTable, ropeApply } from "./ops/rope.ts";
import type { Param } from "./params.ts";
import { type Vec, alloc, precisionOf } from "./tensor.ts";

export type BlockConfig = Pick<
  ModelConfig,
  "dim" | "heads" | "kvHeads" | "headDim" | "ffnDim" | "rmsEps" | "rope" | "ffnActivation" | "subNorms" | "activationQuant"
>;

/** A block's parameters: norm gains and linear layers (float, or DLT in the student). */
export type BlockWeights = BlockTensors<Param, LinearWeight>;

/** The block's linear layers: q, k, v, o, gate, up, down. */
export function blockLinears(w: BlockWeights): LinearWeight[] {
  return blockMatrices(w);
}

/** The block's parameters in a fixed order: norms, then every linear's. */
export function blockParams(w: BlockWeights): Param[] {
  return [...blockNorms(w), ...blockLinears(w).flatMap(linearParams)];
}

/** A norm with its input, output and per-token scale. */
interface Norm {
  x: Vec;
  y: Vec;
  cache: RmsNormCache;
}

export interface BlockCache {
  n: number;
  x: Vec;
  attnNorm: Norm;
  /** Input of q/k/v (attnNorm.y, fake-quantized when the config says so). */
  qkvIn: Vec;
  /** After RoPE. */
  q: Vec;
  k: Vec;
  v: Vec;
  probs: Vec;
  att: Vec;
  attnSubNorm: Norm | null;
  oIn: Vec;
  h: Vec;
  ffnNorm: Norm;
  ffnIn: Vec;
  gate: Vec;
  up: Vec;
  m: Vec;
  ffnSubNorm: Norm | null;
  downIn: Vec;
  out: Vec;
}

/** x [n][dim] for n tokens = n/seqLen sequences of rope.seqLen positions each. */
export function blockForward(c: BlockConfig, w: BlockWeights, x: Vec, n: number, rope: RopeTable): BlockCache {
  const { dim, heads, kvHeads, headDim, ffnDim } = c;
  const quant = (v: Vec, k: number) => (c.activationQuant === "int8-per-token" ? fakeQuantInt8PerToken(v, n, k) : v);
  const norm = (v: Vec, gain: Param, d: number): Norm => {
    const { y, cache } = rmsNormForward(v, gain.value, n, d, c.rmsEps);
    return { x: v, y, cache };
  };
  const shape: AttentionShape = { n, seqLen: rope.seqLen, heads, kvHeads, headDim };

  // attention
  const attnNorm = norm(x, w.attnNorm, dim);
  const qkvIn = quant(attnNorm.y, dim);
  const q = linearForward(w.q, qkvIn, n);
  const k = linearForward(w.k, qkvIn, n);
  const v = linearForward(w.v, qkvIn, n);
  ropeApply(q, n, heads, headDim, rope);
  ropeApply(k, n, kvHeads, headDim, rope);
  const { out: att, probs } = attentionForward(q, k, v, shape);
  const attnSubNorm = w.attnSubNorm ? norm(att, w.attnSubNorm, heads * headDim) : null;
  const oIn = quant(attnSubNorm ? attnSubNorm.y : att, heads * headDim);
  const o = linearForward(w.o, oIn, n);
  const h = alloc(precisionOf(x), n * dim);
  for (let i = 0; i < h.length; i++) h[i] = x[i]! + o[i]!;

  // feed-forward
  const ffnNorm = norm(h, w.ffnNorm, dim);
  const ffnIn = quant(ffnNorm.y, dim);
  const gate = linearForward(w.gate, ffnIn, n);
  const up = linearForward(w.up, ffnIn, n);
  const m = gatedForward(gate, up, c.ffnActivation);
  const ffnSubNorm = w.ffnSubNorm ? norm(m, w.ffnSubNorm, ffnDim) : null;
  const downIn = quant(ffnSubNorm ? ffnSubNorm.y : m, ffnDim);
  const d = linearForward(w.down, downIn, n);
  const out = alloc(precisionOf(x), n * dim);
  for (let i = 0; i < out.length; i++) out[i] = h[i]! + d[i]!;

  return { n, x, attnNorm, qkvIn, q, k, v, probs, att, attnSubNorm, oIn, h, ffnNorm, ffnIn, gate, up, m, ffnSubNorm, downIn, out };
}

/**
 * Given ∂L/∂out, accumulates the gradients of the block's trainable parameters (∂L/∂Ŵ for the linears,
 * mapped to DLT parameters later by finishLinear) and returns ∂L/∂x (null when `needInputGrad` is false:
 * the first block of a schedule that does not train the embedding).
 */
export function blockBackward(c: BlockConfig, w: BlockWeights, s: BlockCache, dOut: Vec, rope: RopeTable, needInputGrad = true): Vec | null {
  const { dim, heads, kvHeads, headDim, ffnDim } = c;
  const n = s.n;
  const P = precisionOf(dOut);
  const qd = heads * headDim;
  const gradOf = (p: Param) => (p.trainable ? p.grad : null);
  const normBack = (dy: Vec, nm: Norm, gain: Param, d: number): Vec => {
    const dx = alloc(P, n * d);
    rmsNormBackward(dy, nm.x, gain.value, nm.cache, n, d, dx, gradOf(gain));
    return dx;
  };

  // feed-forward: out = h + down(m'); int8 fake-quant is the identity for gradients (STE)
  const dh: Vec = Float64Array.from(dOut); // the residual stream's gradient, summed in f64
  const dDownIn = alloc(P, n * ffnDim);
  linearBackward(w.down, dOut, s.downIn, n, dDownIn);
  const dm = s.ffnSubNorm ? normBack(dDownIn, s.ffnSubNorm, w.ffnSubNorm!, ffnDim) : dDownIn;
  const { dGate, dUp } = gatedBackward(dm, s.gate, s.up, c.ffnActivation);
  const dFfnIn = alloc(P, n * dim);
  linearBackward(w.gate, dGate, s.ffnIn, n, dFfnIn);
  linearBackward(w.up, dUp, s.ffnIn, n, dFfnIn);
  rmsNormBackward(dFfnIn, s.ffnNorm.x, w.ffnNorm.value, s.ffnNorm.cache, n, dim, dh, gradOf(w.ffnNorm));

  // attention: h = x + o(att')
  const dhv = toP(dh, P);
  const dOIn = alloc(P, n * qd);
  linearBackward(w.o, dhv, s.oIn, n, dOIn);
  const dAtt = s.attnSubNorm ? normBack(dOIn, s.attnSubNorm, w.attnSubNorm!, qd) : dOIn;
  const { dq, dk, dv } = attentionBackward(dAtt, s.q, s.k, s.v, s.probs, { n, seqLen: rope.seqLen, heads, kvHeads, headDim });
  ropeApply(dq, n, heads, headDim, rope, true);
  ropeApply(dk, n, kvHeads, headDim, rope, true);
  // ∂L/∂(q/k/v input) is needed for x, or at least for the attn_norm gain; else skip that product.
  const dQkvIn = needInputGrad || w.attnNorm.trainable ? alloc(P, n * dim) : null;
  linearBackward(w.q, dq, s.qkvIn, n, dQkvIn);
  linearBackward(w.k, dk, s.qkvIn, n, dQkvIn);
  linearBackward(w.v, dv, s.qkvIn, n, dQkvIn);
  if (!dQkvIn) return null;
  if (!needInputGrad) {
    rmsNormBackward(dQkvIn, s.attnNorm.x, w.attnNorm.value, s.attnNorm.cache, n, dim, alloc(P, n * dim), w.attnNorm.grad);
    return null;
  }
  const dx: Vec = Float64Array.from(dhv);
  rmsNormBackward(dQkvIn, s.attnNorm.x, w.attnNorm.value, s.attnNorm.cache, n, dim, dx, gradOf(w.attnNorm));
  return toP(dx, P);
}

/** `v` in precision P (a copy when it has to round). */
function toP(v: Vec, P: "f32" | "f64"): Vec {
  if (P === "f64") return v instanceof Float64Array ? v : Float64Array.from(v);
  return Float32Array.from(v);
}
