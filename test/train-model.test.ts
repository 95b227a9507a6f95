// The training forward against the naive reference forward, and the whole backward (blocks, final norm,
// head, embedding, DLT α/γ, norm gains; CE + KL + OFF/MSE) against float64 finite differences.
import { describe, expect, it } from "vitest";
import type { ModelConfig } from "../src/runtime/model/config.ts";
import { type LossWeights, distillLoss } from "../src/train/loss.ts";
import {
  type BuildOptions,
  type TrainModel,
  beginStep,
  buildTrainModel,
  endStep,
  modelBackward,
  modelForward,
  modelLinears,
} from "../src/train/model.ts";
import { prepareLinear } from "../src/train/linear.ts";
import { ropeTable } from "../src/train/ops/rope.ts";
import { referenceLogits } from "./helpers/reference-forward.ts";
import { checkGradient, randomTokens, tinyConfig, tinyTensors } from "./helpers/train-fixtures.ts";

const SEQ = 5;

describe("training forward", () => {
  for (const [kind, quant] of [
    ["llama", "none"],
    ["bitnet", "int8-per-token"],
  ] as const) {
    it(`${kind} (${quant}): logits equal the reference forward's, f64 to 1e-9, f32 to 1e-4`, () => {
      const c = tinyConfig(kind, { activationQuant: quant });
      const w = tinyTensors(c, 1);
      const tokens = randomTokens(SEQ, c.vocabSize, 2);
      const want = referenceLogits(c, w, Array.from(tokens));
      for (const [precision, tol] of [
        ["f64", 1e-9],
        ["f32", 1e-4],
      ] as const) {
        const m = buildTrainModel(c, w, { precision });
        beginStep(m);
        const f = modelForward(m, tokens, ropeTable(c.rope, SEQ));
        let err = 0;
        for (let t = 0; t < SEQ; t++)
          for (let v = 0; v < c.vocabSize; v++) err = Math.max(err, Math.abs(f.logits![t * c.vocabSize + v]! - want[t]![v]!));
        expect(err, precision).toBeLessThan(tol);
      }
    });
  }

  it("a DLT student's forward is the float forward of its Ŵ = α·T + γ", () => {
    const c = tinyConfig("llama");
    const w = tinyTensors(c, 3);
    const s = buildTrainModel(c, w, { precision: "f64", dlt: { group: 64 } });
    beginStep(s);
    const what = new Map<string, ArrayLike<number>>(w);
    for (const l of modelLinears(s)) what.set(l.name, Float64Array.from(l.weight)); // the student's Ŵ as plain floats
    const tokens = randomTokens(SEQ, c.vocabSize, 4);
    const f = modelForward(s, tokens, ropeTable(c.rope, SEQ));
    const viaFloat = buildTrainModel(c, what, { precision: "f64" });
    const g = modelForward(viaFloat, tokens, ropeTable(c.rope, SEQ));
    let err = 0;
    for (let i = 0; i < f.logits!.length; i++) err = Math.max(err, Math.abs(f.logits![i]! - g.logits![i]!));
    expect(err).toBeLessThan(1e-12);
    // and the student really differs from its teacher
    const teacher = modelForward(buildTrainModel(c, w, { precision: "f64" }), tokens, ropeTable(c.rope, SEQ));
    let gap = 0;
    for (let i = 0; i < f.logits!.length; i++) gap = Math.max(gap, Math.abs(f.logits![i]! - teacher.logits![i]!));
    expect(gap).toBeGreaterThan(1e-3);
  });
});

/** Builds student and teacher, runs one analytic backward, then finite-differences every trainable param. */
function gradientCheck(c: ModelConfig, student: BuildOptions, weights: LossWeights, samples: number): TrainModel {
  const tensors = tinyTensors(c, 10);
  const teacher = buildTrainModel(c, student.dlt ? tensors : tinyTensors(c, 11), { precision: "f64" });
  const s = buildTrainModel(c, tensors, student);
  const tokens = randomTokens(2 * SEQ, c.vocabSize, 12);
  const targets = randomTokens(2 * SEQ, c.vocabSize, 13);
  targets[3] = -1; // an unlabeled position
  const rope = ropeTable(c.rope, SEQ);
  const t = modelForward(teacher, tokens, rope);
  const lossOnly = () => {
    for (const l of modelLinears(s)) prepareLinear(l);
    return distillLoss(modelForward(s, tokens, rope), t, targets, weights, c.dim, c.vocabSize).total;
  };
  beginStep(s);
  const f = modelForward(s, tokens, rope);
  const loss = distillLoss(f, t, targets, weights, c.dim, c.vocabSize);
  modelBackward(s, f, loss.dLogits, loss.dHidden);
  endStep(s);
  const grads = s.params.filter((p) => p.trainable).map((p) => [p, Float64Array.from(p.grad)] as const);
  expect(grads.length).toBeGreaterThan(0);
  for (const [p, g] of grads) {
    expect(
      g.some((x) => x !== 0),
      `${p.name} has a gradient`,
    ).toBe(true);
    checkGradient(p.name, lossOnly, p.value, g, samples, p.name.length);
  }
  return s;
}

describe("training backward (float64 finite differences)", () => {
  it("llama float model: every matrix, gain, the embedding and the head; CE + KL + OFF against another model", () => {
    gradientCheck(
      tinyConfig("llama"),
      { precision: "f64", train: { matrices: true, norms: true, embedding: true, head: true } },
      { off: 0.7, ce: 1, kl: 0.3 },
      4,
    );
  });

  it("llama DLT student (g = 64 on rows of 72 and 100): α, γ and gains; OFF + CE + KL against its float teacher", () => {
    gradientCheck(
      tinyConfig("llama"),
      { precision: "f64", dlt: { group: 64 }, train: { alpha: true, gamma: true, norms: true } },
      { off: 1, ce: 0.5, kl: 0.5 },
      5,
    );
  });

  it("bitnet DLT student (sub-norms, ReLU², neox RoPE, tied head): α, γ, gains, embedding; MSE feature loss + CE", () => {
    gradientCheck(
      tinyConfig("bitnet"),
      { precision: "f64", dlt: { group: 64, refine: true }, train: { alpha: true, gamma: true, norms: true, embedding: true } },
      { off: 1, ce: 1, kl: 0, feature: "mse" },
      4,
    );
  });

  it("OFF alone reaches only the blocks (the head and final norm get no gradient)", () => {
    const c = tinyConfig("llama", { layers: 1 });
    const s = buildTrainModel(c, tinyTensors(c, 10), { precision: "f64", dlt: { group: 64 }, train: { alpha: true, norms: true } });
    const t = buildTrainModel(c, tinyTensors(c, 10), { precision: "f64" });
    const tokens = randomTokens(SEQ, c.vocabSize, 1);
    const rope = ropeTable(c.rope, SEQ);
    beginStep(s);
    const f = modelForward(s, tokens, rope, false);
    const loss = distillLoss(f, modelForward(t, tokens, rope, false), null, { off: 1, ce: 0, kl: 0 }, c.dim, c.vocabSize);
    expect(loss.dLogits).toBeNull();
    modelBackward(s, f, loss.dLogits, loss.dHidden);
    endStep(s);
    expect(s.outputNorm.grad.every((g) => g === 0)).toBe(true);
    expect(s.blocks[0]!.attnNorm.grad.some((g) => g !== 0)).toBe(true);
  });
});

describe("full mode", () => {
  it("codes follow the latent weights at every step and the latent gradient is the STE-masked ∂L/∂Ŵ", () => {
    const c = tinyConfig("llama", { layers: 1 });
    const s = buildTrainModel(c, tinyTensors(c, 5), { precision: "f64", dlt: { group: 64 }, train: { matrices: true, alpha: true, gamma: true } });
    const q = s.blocks[0]!.q;
    if (q.kind !== "dlt") throw new Error("expected a DLT layer");
    // push one latent weight far past +1.5α: after beginStep its code is +1 and its gradient is stopped
    q.latent.value[0] = q.ternary.gamma[0]! + 10 * q.ternary.alpha[0]!;
    q.latent.value[1] = q.ternary.gamma[0]!; // exactly at γ: code 0, gradient passes
    beginStep(s);
    expect(q.ternary.codes[0]).toBe(1);
    expect(q.ternary.codes[1]).toBe(0);
    const tokens = randomTokens(SEQ, c.vocabSize, 2);
    const f = modelForward(s, tokens, ropeTable(c.rope, SEQ));
    const loss = distillLoss(f, null, randomTokens(SEQ, c.vocabSize, 3), { off: 0, ce: 1, kl: 0 }, c.dim, c.vocabSize);
    modelBackward(s, f, loss.dLogits, loss.dHidden);
    endStep(s);
    expect(q.latent.grad[0]).toBe(0);
    expect(q.gradWeight![0]).not.toBe(0);
    expect(q.latent.grad[1]).toBe(q.gradWeight![1]);
  });
});
