// Every backward of the training ops against float64 finite differences (see checkGradient for the
// tolerance), on tiny random shapes.
import { describe, expect, it } from "vitest";
import { matmulBackward, matmulForward } from "../src/train/matmul.ts";
import { rmsNormBackward, rmsNormForward } from "../src/train/ops/rmsnorm.ts";
import { ropeApply, ropeTable } from "../src/train/ops/rope.ts";
import { attentionBackward, attentionForward } from "../src/train/ops/attention.ts";
import { gatedBackward, gatedForward } from "../src/train/ops/gated-ffn.ts";
import { embeddingBackward, embeddingForward } from "../src/train/ops/embedding.ts";
import { fakeQuantInt8PerToken } from "../src/train/ops/act-quant.ts";
import { crossEntropy } from "../src/train/loss-ce.ts";
import { klTeacherStudent } from "../src/train/loss-kl.ts";
import { offLoss } from "../src/train/loss-off.ts";
import { mseLoss } from "../src/train/loss-mse.ts";
import type { Vec } from "../src/train/tensor.ts";
import { checkGradient, randomVec } from "./helpers/train-fixtures.ts";

const dot = (a: Vec, b: Vec) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
};

describe("matmul", () => {
  it("dx and dW of y = x·Wᵀ", () => {
    const [n, k, m] = [3, 70, 5];
    const x = randomVec(n * k, 1);
    const w = randomVec(m * k, 2);
    const c = randomVec(n * m, 3);
    const y = new Float64Array(n * m);
    const loss = () => (matmulForward(y, x, w, n, k, m), dot(y, c));
    const dx = new Float64Array(n * k);
    const dw = new Float64Array(m * k);
    matmulBackward(c, x, w, n, k, m, dx, dw);
    checkGradient("x", loss, x, dx);
    checkGradient("w", loss, w, dw);
  });
});

describe("RMSNorm", () => {
  it("dx and d(gain)", () => {
    const [n, d] = [3, 20];
    const x = randomVec(n * d, 4, 2);
    const w = randomVec(d, 5).map((v) => 1 + 0.3 * v);
    const c = randomVec(n * d, 6);
    const loss = () => dot(rmsNormForward(x, w, n, d, 1e-5).y, c);
    const { cache } = rmsNormForward(x, w, n, d, 1e-5);
    const dx = new Float64Array(n * d);
    const dw = new Float64Array(d);
    rmsNormBackward(c, x, w, cache, n, d, dx, dw);
    checkGradient("x", loss, x, dx, 20);
    checkGradient("gain", loss, w, dw, 20);
  });
});

describe("RoPE", () => {
  const rope = { base: 10000, freqScale: 0.5, dims: 6, layout: "adjacent" as const };

  it("rotates pair i of position p by p·freqScale·base^(−2i/dims), in both layouts", () => {
    for (const layout of ["adjacent", "neox"] as const) {
      const table = ropeTable({ ...rope, layout }, 4);
      const [heads, hd] = [1, 8]; // dims 6 < headDim 8: the last 2 dims stay put
      for (const i of [0, 2]) {
        const v = new Float64Array(4 * heads * hd);
        const a = layout === "neox" ? i : 2 * i;
        const b = layout === "neox" ? i + 3 : 2 * i + 1;
        for (let t = 0; t < 4; t++) v[t * hd + a] = 1;
        for (let t = 0; t < 4; t++) v[t * hd + 7] = 5;
        ropeApply(v, 4, heads, hd, table);
        const p = 3;
        const angle = p * 0.5 * 10000 ** ((-2 * i) / 6);
        expect(v[p * hd + a]).toBeCloseTo(Math.cos(angle), 14);
        expect(v[p * hd + b]).toBeCloseTo(Math.sin(angle), 14);
        expect(v[p * hd + 7]).toBe(5);
      }
    }
  });

  it("the backward (inverse rotation) is the transpose, and positions restart every seqLen tokens", () => {
    const table = ropeTable({ ...rope, dims: 8, layout: "neox" }, 3);
    const [n, heads, hd] = [6, 2, 8];
    const a = randomVec(n * heads * hd, 7);
    const b = randomVec(n * heads * hd, 8);
    const ra = Float64Array.from(a);
    ropeApply(ra, n, heads, hd, table);
    const rtb = Float64Array.from(b);
    ropeApply(rtb, n, heads, hd, table, true);
    expect(dot(ra, b)).toBeCloseTo(dot(a, rtb), 12);
    // token 3 is position 0 of the second sequence: unrotated
    for (let i = 0; i < heads * hd; i++) expect(ra[3 * heads * hd + i]).toBe(a[3 * heads * hd + i]);
    // and the backward matches finite differences of L = c·rope(x)
    const c = randomVec(n * heads * hd, 9);
    const x = randomVec(n * heads * hd, 10);
    const loss = () => {
      const y = Float64Array.from(x);
      ropeApply(y, n, heads, hd, table);
      return dot(y, c);
    };
    const dx = Float64Array.from(c);
    ropeApply(dx, n, heads, hd, table, true);
    checkGradient("x", loss, x, dx, 20);
  });
});

describe("causal GQA attention", () => {
  const s = { n: 8, seqLen: 4, heads: 4, kvHeads: 2, headDim: 6 };
  const q = randomVec(s.n * 24, 11);
  const k = randomVec(s.n * 12, 12);
  const v = randomVec(s.n * 12, 13);
  const c = randomVec(s.n * 24, 14);

  it("dq, dk, dv", () => {
    const loss = () => dot(attentionForward(q, k, v, s).out, c);
    const { probs } = attentionForward(q, k, v, s);
    const { dq, dk, dv } = attentionBackward(c, q, k, v, probs, s);
    checkGradient("q", loss, q, dq, 20);
    checkGradient("k", loss, k, dk, 20);
    checkGradient("v", loss, v, dv, 20);
  });

  it("is causal within a sequence and sequences do not see each other", () => {
    const base = attentionForward(q, k, v, s).out;
    const k2 = Float64Array.from(k);
    const v2 = Float64Array.from(v);
    for (let i = 0; i < 12; i++) {
      k2[2 * 12 + i]! += 1; // token 2 (sequence 0)
      v2[2 * 12 + i]! += 1;
    }
    const moved = attentionForward(q, k2, v2, s).out;
    const changed = (t: number) => moved.subarray(t * 24, t * 24 + 24).some((x, i) => x !== base[t * 24 + i]);
    expect([0, 1, 2, 3, 4, 5, 6, 7].map(changed)).toEqual([false, false, true, true, false, false, false, false]);
  });
});

describe("gated FFN", () => {
  for (const act of ["silu", "relu2"] as const) {
    it(`${act}: d(gate), d(up)`, () => {
      const gate = randomVec(30, 15, 3);
      const up = randomVec(30, 16);
      const c = randomVec(30, 17);
      const loss = () => dot(gatedForward(gate, up, act), c);
      const { dGate, dUp } = gatedBackward(c, gate, up, act);
      checkGradient("gate", loss, gate, dGate, 30);
      checkGradient("up", loss, up, dUp, 30);
    });
  }
});

describe("embedding and int8 fake quantization", () => {
  it("the embedding backward scatters every token's gradient into its row", () => {
    const table = randomVec(5 * 3, 18);
    const tokens = [4, 1, 4];
    const c = randomVec(9, 19);
    const loss = () => dot(embeddingForward(table, tokens, 3), c);
    const d = new Float64Array(15);
    embeddingBackward(c, tokens, 3, d);
    checkGradient("table", loss, table, d, 15);
    expect(() => embeddingForward(table, [5], 3)).toThrow(/vocabulary/);
  });

  it("int8-per-token: 255 levels of max|x|/127 per token, zero rows stay zero", () => {
    const x = Float64Array.from([0.5, -1, 0.25, 0.001, 0, 0, 0, 0]);
    const y = fakeQuantInt8PerToken(x, 2, 4);
    const a = 1 / 127;
    expect(Array.from(y.subarray(0, 4))).toEqual([64 * a, -1, 32 * a, 0]);
    expect(Array.from(y.subarray(4))).toEqual([0, 0, 0, 0]);
  });
});

describe("losses", () => {
  const [n, V, d] = [4, 7, 10];

  it("cross-entropy: value, gradient, ignored targets", () => {
    const logits = randomVec(n * V, 20, 2);
    const targets = [3, -1, 0, 6];
    const { loss, grad } = crossEntropy(logits, targets, V, 0.5);
    let want = 0;
    for (const t of [0, 2, 3]) {
      const row = Array.from(logits.subarray(t * V, t * V + V));
      want += Math.log(row.reduce((s, x) => s + Math.exp(x), 0)) - row[targets[t]!]!;
    }
    expect(loss).toBeCloseTo(want / 3, 12);
    expect(Array.from(grad.subarray(V, 2 * V)).every((g) => g === 0)).toBe(true);
    checkGradient("logits", () => 0.5 * crossEntropy(logits, targets, V).loss, logits, grad, 28);
  });

  it("KL(teacher ‖ student): ≥ 0, 0 for equal logits (up to a shift), gradient", () => {
    const s = randomVec(n * V, 21, 2);
    const t = randomVec(n * V, 22, 2);
    expect(
      klTeacherStudent(
        s,
        s.map((x) => x + 3),
        n,
        V,
      ).loss,
    ).toBeCloseTo(0, 12);
    const { loss, grad } = klTeacherStudent(s, t, n, V, 2);
    expect(loss).toBeGreaterThan(0);
    checkGradient("student", () => 2 * klTeacherStudent(s, t, n, V).loss, s, grad, 28);
  });

  it("KL(teacher ‖ student) is the definition, mean over tokens of Σ p_t·log(p_t / p_s), in that direction", () => {
    // a gradient check cannot tell the direction: KL(student ‖ teacher) with its own gradient passes it too
    const s = randomVec(n * V, 25, 3);
    const t = randomVec(n * V, 26, 3);
    const softmax = (x: Vec, o: number) => {
      const e = Array.from(x.subarray(o, o + V), Math.exp);
      const z = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / z);
    };
    const kl = (p: number[], q: number[]) => p.reduce((sum, pi, i) => sum + pi * Math.log(pi / q[i]!), 0);
    let teacherFirst = 0;
    let studentFirst = 0;
    for (let row = 0; row < n; row++) {
      teacherFirst += kl(softmax(t, row * V), softmax(s, row * V)) / n;
      studentFirst += kl(softmax(s, row * V), softmax(t, row * V)) / n;
    }
    expect(Math.abs(teacherFirst - studentFirst)).toBeGreaterThan(0.05);
    expect(klTeacherStudent(s, t, n, V).loss).toBeCloseTo(teacherFirst, 12);
    // its gradient with respect to the student's logits is (p_s − p_t) / n
    const { grad } = klTeacherStudent(s, t, n, V);
    for (let row = 0; row < n; row++) {
      const [ps, pt] = [softmax(s, row * V), softmax(t, row * V)];
      for (let i = 0; i < V; i++) expect(grad[row * V + i]).toBeCloseTo((ps[i]! - pt[i]!) / n, 14);
    }
  });

  it("OFF: 1 − cos per token averaged, scale-invariant, gradient", () => {
    const hs = randomVec(n * d, 23);
    const ht = randomVec(n * d, 24);
    expect(
      offLoss(
        ht.map((x) => 3 * x),
        ht,
        n,
        d,
      ).loss,
    ).toBeCloseTo(0, 14);
    expect(
      offLoss(
        ht.map((x) => -x),
        ht,
        n,
        d,
      ).loss,
    ).toBeCloseTo(2, 14);
    const { loss, grad } = offLoss(hs, ht, n, d, 0.7);
    let want = 0;
    for (let t = 0; t < n; t++) {
      const a = hs.subarray(t * d, t * d + d);
      const b = ht.subarray(t * d, t * d + d);
      want += 1 - dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b));
    }
    expect(loss).toBeCloseTo(want / n, 14);
    checkGradient("hs", () => 0.7 * offLoss(hs, ht, n, d).loss, hs, grad, 40);
  });

  it("MSE (the ablation): value and gradient", () => {
    const hs = randomVec(n * d, 25);
    const ht = randomVec(n * d, 26);
    const { loss, grad } = mseLoss(hs, ht, n, d);
    expect(loss).toBeCloseTo(hs.reduce((s, x, i) => s + (x - ht[i]!) ** 2, 0) / (n * d), 14);
    checkGradient("hs", () => mseLoss(hs, ht, n, d).loss, hs, grad, 40);
  });
});
