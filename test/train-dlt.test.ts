// DLT ternarization and its straight-through gradients.
import { describe, expect, it } from "vitest";
import { dltDequantize, dltGroups, dltInit, dltRecode } from "../src/train/dlt.ts";
import { steBackward } from "../src/train/ste.ts";
import { dltLinear, finishLinear, prepareLinear } from "../src/train/linear.ts";
import { checkGradient, randomVec } from "./helpers/train-fixtures.ts";
import { rng } from "./helpers/random.ts";

/** The definition of docs/ARCHITECTURE.md section 4 for one group, written independently of dlt.ts. */
function initGroup(w: number[]): { t: number[]; alpha: number; gamma: number } {
  const gamma = w.reduce((a, b) => a + b, 0) / w.length;
  const dev = w.map((x) => x - gamma);
  const delta = 0.7 * (dev.reduce((a, b) => a + Math.abs(b), 0) / w.length);
  const t = dev.map((d) => (Math.abs(d) > delta ? Math.sign(d) : 0));
  const kept = dev.filter((_, i) => t[i] !== 0).map(Math.abs);
  return { t, alpha: kept.length ? kept.reduce((a, b) => a + b, 0) / kept.length : 0, gamma };
}

const sqErr = (w: ArrayLike<number>, what: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < w.length; i++) s += (w[i]! - what[i]!) ** 2;
  return s;
};

describe("DLT init", () => {
  it("follows the definition per group, including the short last group of a row (172 = 64 + 64 + 44)", () => {
    const rows = 3;
    const cols = 172;
    const w = randomVec(rows * cols, 7, 0.5).map((x, i) => x + (i % 5 === 0 ? 0.3 : 0)); // skewed groups
    const d = dltInit(w, { rows, cols, group: 64 }, "f64");
    expect(dltGroups({ rows, cols, group: 64 })).toBe(3);
    expect(d.alpha.length).toBe(9);
    for (let r = 0; r < rows; r++) {
      for (let g = 0; g < 3; g++) {
        const start = r * cols + g * 64;
        const len = Math.min(64, cols - g * 64);
        const want = initGroup(Array.from(w.subarray(start, start + len)));
        expect(Array.from(d.codes.subarray(start, start + len))).toEqual(want.t);
        expect(d.alpha[r * 3 + g]).toBeCloseTo(want.alpha, 14);
        expect(d.gamma[r * 3 + g]).toBeCloseTo(want.gamma, 14);
      }
    }
    expect(new Set(d.codes)).toEqual(new Set([-1, 0, 1]));
  });

  it("least-squares refinement never increases the reconstruction error, and lowers it on skewed data", () => {
    const shape = { rows: 8, cols: 200, group: 128 };
    const r = rng(3);
    const w = Float64Array.from({ length: 1600 }, () => (r() < 0.1 ? 3 : 1) * (r() - 0.3)); // asymmetric outliers
    const plain = dltInit(w, shape, "f64");
    const refined = dltInit(w, shape, "f64", true);
    expect(refined.codes).toEqual(plain.codes); // refinement keeps T
    const a = new Float64Array(1600);
    const b = new Float64Array(1600);
    dltDequantize(plain, shape, a);
    dltDequantize(refined, shape, b);
    for (let row = 0; row < 8; row++) {
      for (let g = 0; g < 2; g++) {
        const s = row * 200 + g * 128;
        const e = s + Math.min(128, 200 - g * 128);
        expect(sqErr(w.subarray(s, e), b.subarray(s, e))).toBeLessThanOrEqual(sqErr(w.subarray(s, e), a.subarray(s, e)) + 1e-12);
      }
    }
    expect(sqErr(w, b)).toBeLessThan(0.99 * sqErr(w, a)); // ≈ 0.98 on this data: a real, if modest, gain
  });

  it("a constant group gets T = 0, α = 0, Ŵ = γ = the constant; recode keeps it at 0", () => {
    const shape = { rows: 1, cols: 64, group: 64 };
    const w = new Float32Array(64).fill(0.25);
    const d = dltInit(w, shape, "f32", true);
    expect(Array.from(d.codes).every((c) => c === 0)).toBe(true);
    expect(d.alpha[0]).toBe(0);
    expect(d.gamma[0]).toBe(0.25);
    dltRecode(w, d, shape);
    const out = new Float32Array(64);
    dltDequantize(d, shape, out);
    expect(Array.from(out).every((v) => v === 0.25)).toBe(true);
  });

  it("rejects group sizes other than 64/128/256", () => {
    expect(() => dltInit(new Float32Array(96), { rows: 1, cols: 96, group: 32 }, "f32")).toThrow(/64, 128 or 256/);
  });
});

describe("DLT forward and full-mode recode", () => {
  it("Ŵ = α·T + γ and T = clip(round((w − γ)/α), −1, 1)", () => {
    const shape = { rows: 2, cols: 130, group: 128 };
    const w = randomVec(260, 11);
    const d = dltInit(w, shape, "f64");
    const moved = w.map((x, i) => x + (i % 7 === 0 ? 2 : 0)); // some latents move past the clip
    dltRecode(moved, d, shape);
    const what = new Float64Array(260);
    dltDequantize(d, shape, what);
    for (let i = 0; i < 260; i++) {
      const g = Math.floor(i / 130) * 2 + Math.floor((i % 130) / 128);
      const t = Math.max(-1, Math.min(1, Math.round((moved[i]! - d.gamma[g]!) / d.alpha[g]!)));
      expect(d.codes[i]).toBe(t + 0); // + 0: −0 → 0
      expect(what[i]).toBeCloseTo(d.alpha[g]! * t + d.gamma[g]!, 14);
    }
  });
});

describe("STE gradients", () => {
  it("∂L/∂α = Σ g·T and ∂L/∂γ = Σ g per group (checked by finite differences with the codes frozen)", () => {
    const shape = { rows: 3, cols: 72, group: 64 };
    const d = dltInit(randomVec(216, 5), shape, "f64");
    const c = randomVec(216, 6); // L = Σ c·Ŵ² / 2 → g = c·Ŵ
    const what = new Float64Array(216);
    const loss = () => {
      dltDequantize(d, shape, what);
      let s = 0;
      for (let i = 0; i < 216; i++) s += (c[i]! * what[i]! * what[i]!) / 2;
      return s;
    };
    loss();
    const g = what.map((x, i) => c[i]! * x);
    const ga = new Float64Array(6);
    const gg = new Float64Array(6);
    steBackward(g, d, shape, { alpha: ga, gamma: gg });
    checkGradient("alpha", loss, d.alpha, ga, 6);
    checkGradient("gamma", loss, d.gamma, gg, 6);
  });

  it("∂L/∂w passes g where |w − γ| ≤ 1.5·α and is 0 beyond (the clip)", () => {
    const shape = { rows: 2, cols: 64, group: 64 };
    const latent = randomVec(128, 8, 2);
    const d = dltInit(latent, shape, "f64");
    const g = randomVec(128, 9);
    const gl = new Float64Array(128);
    steBackward(g, d, shape, { latent: gl }, latent);
    let passed = 0;
    let stopped = 0;
    for (let i = 0; i < 128; i++) {
      const gi = Math.floor(i / 64);
      const inside = Math.abs(latent[i]! - d.gamma[gi]!) <= 1.5 * d.alpha[gi]!;
      expect(gl[i]).toBe(inside ? g[i] : 0);
      if (inside) passed++;
      else stopped++;
    }
    expect(passed).toBeGreaterThan(0);
    expect(stopped).toBeGreaterThan(0); // the test data reaches past the clip
  });

  it("a DLT layer maps ∂L/∂Ŵ to α, γ and latent only for the trained ones", () => {
    const w = randomVec(2 * 70, 12);
    const l = dltLinear("m", w, 2, 70, "f64", { group: 64, train: { alpha: true, gamma: false, latent: false } });
    prepareLinear(l);
    l.gradWeight!.fill(1);
    finishLinear(l);
    expect(l.gamma.grad.length).toBe(0);
    expect(l.latent.grad.length).toBe(0);
    // Σ T over each group
    for (let r = 0; r < 2; r++) {
      for (let g = 0; g < 2; g++) {
        let s = 0;
        for (let e = g * 64; e < Math.min(70, g * 64 + 64); e++) s += l.ternary.codes[r * 70 + e]!;
        expect(l.alpha.grad[r * 2 + g]).toBe(s);
      }
    }
  });
});
