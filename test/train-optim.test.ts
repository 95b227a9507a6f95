// AdamW, the learning-rate schedule and global-norm clipping.
import { describe, expect, it } from "vitest";
import { adamwStep, createAdamState } from "../src/train/adamw.ts";
import { learningRate } from "../src/train/schedule.ts";
import { clipGradNorm } from "../src/train/grad-clip.ts";
import { makeParam } from "../src/train/params.ts";

describe("AdamW", () => {
  it("matches the textbook update with bias correction over several steps", () => {
    const p = makeParam("w", Float64Array.from([0.5, -1, 2]), true, true);
    const s = createAdamState([p]);
    const [b1, b2, eps, wd, lr] = [0.8, 0.99, 1e-8, 0.1, 0.01];
    const w = [0.5, -1, 2];
    const m = [0, 0, 0];
    const v = [0, 0, 0];
    const grads = [
      [0.1, -0.2, 0.3],
      [1, 0, -1],
      [-0.5, 0.5, 0.25],
    ];
    grads.forEach((g, step) => {
      p.grad.set(g);
      adamwStep([p], s, lr, { beta1: b1, beta2: b2, eps, weightDecay: wd });
      const t = step + 1;
      for (let i = 0; i < 3; i++) {
        m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
        v[i] = b2 * v[i]! + (1 - b2) * g[i]! ** 2;
        const mh = m[i]! / (1 - b1 ** t);
        const vh = v[i]! / (1 - b2 ** t);
        w[i] = w[i]! - lr * wd * w[i]! - (lr * mh) / (Math.sqrt(vh) + eps);
      }
      for (let i = 0; i < 3; i++) expect(p.value[i]).toBeCloseTo(w[i]!, 14);
    });
    expect(s.t).toBe(3);
  });

  it("weight decay is decoupled (p·(1 − lr·λ) with a zero gradient) and only for `decay` parameters", () => {
    const decayed = makeParam("latent", Float64Array.from([2, -4]), true, true);
    const kept = makeParam("alpha", Float64Array.from([2, -4]), true, false);
    const s = createAdamState([decayed, kept]);
    adamwStep([decayed, kept], s, 0.1, { weightDecay: 0.5 });
    expect(Array.from(decayed.value)).toEqual([2 * 0.95, -4 * 0.95]);
    expect(Array.from(kept.value)).toEqual([2, -4]);
  });

  it("first step moves every weight by lr·sign(g) (Adam's unit first step), whatever the gradient scale", () => {
    const p = makeParam("w", new Float32Array(4), true);
    p.grad.set([1e-3, -5, 1e3, -1e-2]);
    adamwStep([p], createAdamState([p]), 0.01, { eps: 0 });
    expect(Array.from(p.value)).toEqual(Array.from(Float32Array.from([-0.01, 0.01, -0.01, 0.01])));
  });
});

describe("cosine schedule with warm-up", () => {
  const s = { lr: 1e-3, steps: 110, warmup: 10, minLr: 1e-4 };
  it("ramps linearly, peaks at lr, decays by a cosine to minLr", () => {
    expect(learningRate(s, 0)).toBeCloseTo(1e-4, 15);
    expect(learningRate(s, 4)).toBeCloseTo(5e-4, 15);
    expect(learningRate(s, 9)).toBeCloseTo(1e-3, 15);
    expect(learningRate(s, 10)).toBeCloseTo(1e-3, 15);
    expect(learningRate(s, 60)).toBeCloseTo(5.5e-4, 15); // half way: the mean of lr and minLr
    expect(learningRate(s, 110)).toBeCloseTo(1e-4, 15);
    expect(learningRate(s, 500)).toBeCloseTo(1e-4, 15);
    for (let t = 11; t <= 110; t++) expect(learningRate(s, t)).toBeLessThan(learningRate(s, t - 1));
  });
  it("defaults: no warm-up, minLr = lr/10", () => {
    expect(learningRate({ lr: 1, steps: 10 }, 0)).toBe(1);
    expect(learningRate({ lr: 1, steps: 10 }, 10)).toBeCloseTo(0.1, 15);
  });
});

describe("global-norm clipping", () => {
  it("scales all trainable gradients together to maxNorm, leaves small ones and frozen params alone", () => {
    const a = makeParam("a", new Float64Array(2), true);
    const b = makeParam("b", new Float64Array(1), true);
    const frozen = makeParam("f", new Float64Array(1), false);
    a.grad.set([3, 0]);
    b.grad.set([4]);
    expect(clipGradNorm([a, b, frozen], 10)).toBe(5);
    expect(Array.from(a.grad)).toEqual([3, 0]);
    expect(clipGradNorm([a, b, frozen], 1)).toBe(5);
    expect(a.grad[0]).toBeCloseTo(0.6, 15);
    expect(a.grad[1]).toBe(0);
    expect(b.grad[0]).toBeCloseTo(0.8, 15);
    expect(clipGradNorm([a, b], 0)).toBeCloseTo(1, 15); // 0: measure only
  });
});
