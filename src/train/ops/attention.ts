// Causal multi-head attention with grouped-query heads (query head h reads kv head h / (heads/kvHeads)),
// over a batch of independent sequences of seqLen tokens each; scores scaled by 1/sqrt(headDim).
// The softmax probabilities are cached (batch·heads·seqLen² values): the backward needs them, and
// recomputing them would cost as much as the forward.
// Backward per query t of head h: dp_j = dout_t·v_j, ds_j = p_j·(dp_j − Σ_i p_i·dp_i),
// dq_t = scale·Σ_j ds_j·k_j, dk_j += scale·ds_j·q_t, dv_j += p_j·dout_t.
import { type Vec, alloc, precisionOf } from "../tensor.ts";

export interface AttentionShape {
  /** Tokens in the batch (a multiple of seqLen). */
  n: number;
  seqLen: number;
  heads: number;
  kvHeads: number;
  headDim: number;
}

export function attentionForward(q: Vec, k: Vec, v: Vec, s: AttentionShape): { out: Vec; probs: Vec } {
  const { n, seqLen: T, heads: H, kvHeads: KV, headDim: hd } = s;
  const P = precisionOf(q);
  const out = alloc(P, n * H * hd);
  const probs = alloc(P, (n / T) * H * T * T);
  const scale = 1 / Math.sqrt(hd);
  const group = H / KV;
  const scores = new Float64Array(T);
  for (let b = 0; b < n / T; b++) {
    for (let h = 0; h < H; h++) {
      const kvh = (h / group) | 0;
      for (let t = 0; t < T; t++) {
        const qo = (b * T + t) * H * hd + h * hd;
        let max = -Infinity;
        for (let j = 0; j <= t; j++) {
          const ko = (b * T + j) * KV * hd + kvh * hd;
          let dot = 0;
          for (let i = 0; i < hd; i++) dot += q[qo + i]! * k[ko + i]!;
          scores[j] = dot * scale;
          if (scores[j]! > max) max = scores[j]!;
        }
        let z = 0;
        for (let j = 0; j <= t; j++) {
          scores[j] = Math.exp(scores[j]! - max);
          z += scores[j]!;
        }
        const po = ((b * H + h) * T + t) * T;
        for (let j = 0; j <= t; j++) {
          const p = scores[j]! / z;
          probs[po + j] = p;
          const vo = (b * T + j) * KV * hd + kvh * hd;
          for (let i = 0; i < hd; i++) out[qo + i]! += p * v[vo + i]!;
        }
      }
    }
  }
  return { out, probs };
}

export function attentionBackward(dout: Vec, q: Vec, k: Vec, v: Vec, probs: Vec, s: AttentionShape): { dq: Vec; dk: Vec; dv: Vec } {
  const { n, seqLen: T, heads: H, kvHeads: KV, headDim: hd } = s;
  const P = precisionOf(q);
  const dq = alloc(P, n * H * hd);
  const dk = alloc(P, n * KV * hd);
  const dv = alloc(P, n * KV * hd);
  const scale = 1 / Math.sqrt(hd);
  const group = H / KV;
  const dp = new Float64Array(T);
  for (let b = 0; b < n / T; b++) {
    for (let h = 0; h < H; h++) {
      const kvh = (h / group) | 0;
      for (let t = 0; t < T; t++) {
        const qo = (b * T + t) * H * hd + h * hd;
        const po = ((b * H + h) * T + t) * T;
        let pdp = 0;
        for (let j = 0; j <= t; j++) {
          const vo = (b * T + j) * KV * hd + kvh * hd;
          let d = 0;
          for (let i = 0; i < hd; i++) d += dout[qo + i]! * v[vo + i]!;
          dp[j] = d;
          pdp += probs[po + j]! * d;
          const p = probs[po + j]!;
          for (let i = 0; i < hd; i++) dv[vo + i]! += p * dout[qo + i]!;
        }
        for (let j = 0; j <= t; j++) {
          const ds = probs[po + j]! * (dp[j]! - pdp) * scale;
          if (ds === 0) continue;
          const ko = (b * T + j) * KV * hd + kvh * hd;
          for (let i = 0; i < hd; i++) {
            dq[qo + i]! += ds * k[ko + i]!;
            dk[ko + i]! += ds * q[qo + i]!;
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}
