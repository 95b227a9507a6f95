// A deliberately naive forward pass (plain loops in f64 over dequantized f32 weights) for tests only: it
// checks that a converted file means what the original model meant, by generating its reference text.
// It follows ModelConfig literally — norms, RoPE layout, gate activation, int8-per-token activations — and
// is far too slow for anything but tiny models.
import { readTensorData } from "../../src/runtime/gguf/reader.ts";
import type { ByteSource } from "../../src/runtime/gguf/source.ts";
import type { GgufHeader } from "../../src/runtime/gguf/types.ts";
import type { ModelConfig } from "../../src/runtime/model/config.ts";
import { tensorTypeTraits } from "../../src/runtime/tensor-types/table.ts";

export async function loadWeights(source: ByteSource, header: GgufHeader): Promise<Map<string, Float32Array>> {
  const weights = new Map<string, Float32Array>();
  for (const t of header.tensors) {
    const values = new Float32Array(t.dims.reduce((a, b) => a * b, 1));
    tensorTypeTraits(t.type).dequantize(await readTensorData(source, header, t), values);
    weights.set(t.name, values);
  }
  return weights;
}

/**
 * How int8-per-token activations are rounded. "f64": q = round(x / (max/127)) in f64, the exact rule the
 * training forward pass follows. "bitnet.cpp": its I2_S rule in its f32 arithmetic, q = nearest(x · f32(127 /
 * max)) with ties to even, as the CPU engine computes it; with "f64" a value on a .5 tie rounds the other way,
 * and one such code early in a sequence moves every later logit through the KV cache.
 */
export type ActivationRounding = "f64" | "bitnet.cpp";

/** The logits after each of `tokens` (fed at positions 0, 1, …). */
export function referenceLogits(
  c: ModelConfig,
  w: Map<string, Float32Array>,
  tokens: number[],
  rounding: ActivationRounding = "f64",
  sides?: ReadonlyMap<string, Float32Array>,
): Float64Array[] {
  const step = referenceModel(c, w, rounding, sides);
  return tokens.map((t, pos) => step(t, pos));
}

/** Greedy generation of `steps` tokens after `prompt` (token ids, BOS included by the caller). */
export function greedyTokens(c: ModelConfig, w: Map<string, Float32Array>, prompt: number[], steps: number): number[] {
  const step = referenceModel(c, w);
  let logits: Float64Array = new Float64Array(0);
  prompt.forEach((t, i) => (logits = step(t, i)));
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    let best = 0;
    for (let t = 1; t < logits.length; t++) if (logits[t]! > logits[best]!) best = t;
    out.push(best);
    logits = step(best, prompt.length + i);
  }
  return out;
}

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * A stateful decoder: step(token, pos) returns the logits; positions must come in order from 0. `sides`: dense
 * salient side matrices S [rows][cols] by matrix name, whose product S·x takes the unrounded input x (the format's
 * rule, model/salient-file.ts) and is added to the matrix's.
 */
function referenceModel(
  c: ModelConfig,
  w: Map<string, Float32Array>,
  rounding: ActivationRounding = "f64",
  sides?: ReadonlyMap<string, Float32Array>,
): (token: number, pos: number) => Float64Array {
  const get = (name: string) => {
    const t = w.get(name);
    if (!t) throw new Error(`missing tensor ${name}`);
    return t;
  };
  const hd = c.headDim;
  const keys: Float64Array[][] = Array.from({ length: c.layers }, () => []);
  const values: Float64Array[][] = Array.from({ length: c.layers }, () => []);

  const rmsNorm = (x: Float64Array, weight: Float32Array, eps: number) => {
    let ss = 0;
    for (const v of x) ss += v * v;
    const r = 1 / Math.sqrt(ss / x.length + eps);
    return x.map((v, i) => v * r * weight[i]!);
  };
  const linear = (name: string, x: Float64Array, rows: number) => {
    const m = get(name);
    const n = x.length;
    let input = x;
    let scale = 1;
    if (c.activationQuant === "int8-per-token") {
      let max = 0;
      for (const v of x) max = Math.max(max, Math.abs(v));
      if (rounding === "f64") {
        scale = max / 127;
        input = x.map((v) => Math.round(v / scale));
      } else {
        const iscale = Math.fround(127 / Math.fround(max));
        scale = Math.fround(Math.fround(max) / 127);
        input = x.map((v) => roundHalfEven(Math.fround(Math.fround(v) * iscale)));
      }
    }
    const y = new Float64Array(rows);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += m[r * n + i]! * input[i]!;
      y[r] = s * scale;
    }
    const side = sides?.get(name);
    if (side) {
      for (let r = 0; r < rows; r++) {
        let s = 0;
        for (let i = 0; i < n; i++) s += side[r * n + i]! * x[i]!;
        y[r]! += s;
      }
    }
    return y;
  };
  const rope = (v: Float64Array, pos: number, heads: number) => {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < c.rope.dims / 2; i++) {
        const angle = pos * c.rope.freqScale * c.rope.base ** ((-2 * i) / c.rope.dims);
        const [a, b] = c.rope.layout === "neox" ? [h * hd + i, h * hd + i + c.rope.dims / 2] : [h * hd + 2 * i, h * hd + 2 * i + 1];
        const x0 = v[a]!;
        const x1 = v[b]!;
        v[a] = x0 * Math.cos(angle) - x1 * Math.sin(angle);
        v[b] = x0 * Math.sin(angle) + x1 * Math.cos(angle);
      }
    }
  };

  const step = (token: number, pos: number): Float64Array => {
    const embd = get("token_embd.weight");
    let x = Float64Array.from(embd.subarray(token * c.dim, (token + 1) * c.dim));
    for (let l = 0; l < c.layers; l++) {
      const p = `blk.${l}.`;
      const h = rmsNorm(x, get(p + "attn_norm.weight"), c.rmsEps);
      const q = linear(p + "attn_q.weight", h, c.heads * hd);
      const k = linear(p + "attn_k.weight", h, c.kvHeads * hd);
      const v = linear(p + "attn_v.weight", h, c.kvHeads * hd);
      rope(q, pos, c.heads);
      rope(k, pos, c.kvHeads);
      keys[l]!.push(k);
      values[l]!.push(v);
      let att = new Float64Array(c.heads * hd);
      for (let head = 0; head < c.heads; head++) {
        const kvh = Math.floor(head / (c.heads / c.kvHeads));
        const scores = keys[l]!.map((kk) => {
          let s = 0;
          for (let i = 0; i < hd; i++) s += q[head * hd + i]! * kk[kvh * hd + i]!;
          return s / Math.sqrt(hd);
        });
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const z = e.reduce((a, b) => a + b, 0);
        e.forEach((wt, t) => {
          for (let i = 0; i < hd; i++) att[head * hd + i]! += (wt / z) * values[l]![t]![kvh * hd + i]!;
        });
      }
      if (c.subNorms) att = rmsNorm(att, get(p + "attn_sub_norm.weight"), c.rmsEps);
      const o = linear(p + "attn_output.weight", att, c.dim);
      x = x.map((xv, i) => xv + o[i]!);
      const f = rmsNorm(x, get(p + "ffn_norm.weight"), c.rmsEps);
      const gate = linear(p + "ffn_gate.weight", f, c.ffnDim);
      const up = linear(p + "ffn_up.weight", f, c.ffnDim);
      let m = gate.map((g, i) => (c.ffnActivation === "silu" ? g / (1 + Math.exp(-g)) : Math.max(g, 0) ** 2) * up[i]!);
      if (c.subNorms) m = rmsNorm(m, get(p + "ffn_sub_norm.weight"), c.rmsEps);
      const d = linear(p + "ffn_down.weight", m, c.dim);
      x = x.map((xv, i) => xv + d[i]!);
    }
    x = rmsNorm(x, get("output_norm.weight"), c.outputNormEps);
    const head = get(c.tiedOutput ? "token_embd.weight" : "output.weight");
    const logits = new Float64Array(c.vocabSize);
    for (let t = 0; t < c.vocabSize; t++) {
      let s = 0;
      for (let i = 0; i < c.dim; i++) s += head[t * c.dim + i]! * x[i]!;
      logits[t] = s;
    }
    return logits;
  };

  return step;
}
