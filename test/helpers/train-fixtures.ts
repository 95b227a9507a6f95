// Tiny random models and a finite-difference checker for the training tests.
import { expect } from "vitest";
import type { ModelConfig } from "../../src/runtime/model/config.ts";
import { expectedTensors } from "../../src/runtime/model/tensors.ts";
import type { Vec } from "../../src/train/tensor.ts";
import { rng } from "./random.ts";

/**
 * llama-like: dim 72 (rows not a multiple of g = 64: groups of 64 + 8), ffn 100 (64 + 36), 4 query heads
 * sharing 2 kv heads of 18 dims. bitnet-like: the same with sub-norms, ReLU², neox RoPE, tied output.
 */
export function tinyConfig(kind: "llama" | "bitnet", overrides: Partial<ModelConfig> = {}): ModelConfig {
  const bitnet = kind === "bitnet";
  return {
    architecture: bitnet ? "bitnet-b1.58" : "llama",
    vocabSize: 32,
    dim: 72,
    layers: 2,
    heads: 4,
    kvHeads: 2,
    headDim: 18,
    ffnDim: 100,
    contextLength: 64,
    rmsEps: 1e-5,
    outputNormEps: 1e-5,
    rope: { base: 10000, freqScale: 1, dims: 18, layout: bitnet ? "neox" : "adjacent" },
    ffnActivation: bitnet ? "relu2" : "silu",
    subNorms: bitnet,
    tiedOutput: bitnet,
    activationQuant: "none",
    ...overrides,
  };
}

/** Every tensor the config needs, seeded: gains near 1, matrices ~ U(−1, 1)/sqrt(in) plus a per-row offset. */
export function tinyTensors(c: ModelConfig, seed: number): Map<string, Float32Array> {
  const r = rng(seed);
  const out = new Map<string, Float32Array>();
  for (const t of expectedTensors(c)) {
    const cols = t.dims[0]!; // every expected tensor has at least one dim
    const rows = t.dims[1] ?? 1;
    const v = new Float32Array(cols * rows);
    if (t.role === "norm") for (let i = 0; i < v.length; i++) v[i] = 0.8 + 0.4 * r();
    else {
      const s = 1 / Math.sqrt(cols);
      for (let row = 0; row < rows; row++) {
        const shift = (r() - 0.5) * 0.4 * s; // a non-zero mean per row: what γ is for
        for (let i = 0; i < cols; i++) v[row * cols + i] = (2 * r() - 1) * s + shift;
      }
    }
    out.set(t.name, v);
  }
  return out;
}

export function randomTokens(n: number, vocab: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => Math.floor(r() * vocab));
}

export function randomVec(n: number, seed: number, scale = 1): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => (2 * r() - 1) * scale);
}

/**
 * Central differences of `loss` with respect to `value[i]` for up to `samples` indices (all of them when the
 * tensor is small), compared with `analytic`. Everything is float64, so with h = 1e-5 the truncation error
 * is ~h²·f''' ≈ 1e-10 and the rounding error ~1e-16/h ≈ 1e-11: a relative tolerance of 1e-6 is loose for a
 * correct gradient and far tighter than any wrong term (which is O(1) relative).
 */
export function checkGradient(name: string, loss: () => number, value: Vec, analytic: Vec, samples = 12, seed = 1): void {
  const r = rng(seed);
  const idx = value.length <= samples ? [...value.keys()] : Array.from({ length: samples }, () => Math.floor(r() * value.length));
  const h = 1e-5;
  let checked = 0;
  for (const i of idx) {
    const keep = value[i]!;
    value[i] = keep + h;
    const up = loss();
    value[i] = keep - h;
    const down = loss();
    value[i] = keep;
    const numeric = (up - down) / (2 * h);
    const a = analytic[i]!;
    const err = Math.abs(a - numeric);
    const tol = 1e-6 * Math.max(Math.abs(a), Math.abs(numeric)) + 1e-9;
    if (err > tol) expect.fail(`${name}[${i}]: analytic ${a}, numeric ${numeric} (error ${err.toExponential(2)})`);
    checked++;
  }
  expect(checked).toBeGreaterThan(0);
}
