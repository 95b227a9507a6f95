// The KL term at a temperature τ (loss-kl.ts, `finetune --kl-temperature`): τ²·KL(softmax(t/τ) ‖ softmax(s/τ)),
// its gradient τ·(p_s − p_t)/n against f64 central differences, τ = 1 bit for bit the plain KL, the option's
// validation, and a resume that must agree on τ.
import { describe, expect, it } from "vitest";
import { OptionError } from "../src/runtime/errors.ts";
import { writeGgufToBytes } from "../src/runtime/gguf/writer.ts";
import { type CheckpointStore, type FinetuneRunInput, resolveFinetuneOptions, runFinetune } from "../src/train/finetune-run.ts";
import { klTeacherStudent } from "../src/train/loss-kl.ts";
import { type Vec, alloc, precisionOf } from "../src/train/tensor.ts";
import { checkGradient, randomVec } from "./helpers/train-fixtures.ts";
import { keepingStep, offering, stories260KRun } from "./helpers/finetune-runs.ts";

const [n, V] = [3, 11];

/** The KL term as it was before it had a temperature: τ = 1 must give these bytes. */
function plainKl(student: Vec, teacher: Vec, n: number, vocab: number, scale = 1): { loss: number; grad: Vec } {
  const grad = alloc(precisionOf(student), n * vocab);
  const ls = new Float64Array(vocab);
  const lt = new Float64Array(vocab);
  const logSoftmax = (x: Vec, o: number, out: Float64Array) => {
    let max = -Infinity;
    for (let i = 0; i < vocab; i++) if (x[o + i]! > max) max = x[o + i]!;
    let z = 0;
    for (let i = 0; i < vocab; i++) z += Math.exp(x[o + i]! - max);
    const lz = Math.log(z) + max;
    for (let i = 0; i < vocab; i++) out[i] = x[o + i]! - lz;
  };
  let loss = 0;
  for (let t = 0; t < n; t++) {
    const o = t * vocab;
    logSoftmax(student, o, ls);
    logSoftmax(teacher, o, lt);
    for (let i = 0; i < vocab; i++) {
      const pt = Math.exp(lt[i]!);
      loss += pt * (lt[i]! - ls[i]!);
      grad[o + i] = (scale * (Math.exp(ls[i]!) - pt)) / n;
    }
  }
  return { loss: loss / n, grad };
}

const softmax = (x: Vec, o: number, tau: number) => {
  const e = Array.from(x.subarray(o, o + V), (v) => Math.exp(v / tau));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
};

describe("KL(teacher ‖ student) at temperature τ", () => {
  for (const tau of [1, 2, 0.5]) {
    it(`τ = ${tau}: the gradient is that of the loss (f64 central differences)`, () => {
      const s = randomVec(n * V, 31, 3);
      const t = randomVec(n * V, 32, 3);
      const { grad } = klTeacherStudent(s, t, n, V, 0.7, tau);
      checkGradient("student", () => 0.7 * klTeacherStudent(s, t, n, V, 1, tau).loss, s, grad, 33);
    });
  }

  it("is τ²·Σ p_t·log(p_t / p_s) of the softened softmaxes, and its gradient τ·(p_s − p_t)/n", () => {
    const s = randomVec(n * V, 33, 3);
    const t = randomVec(n * V, 34, 3);
    for (const tau of [2, 4]) {
      let want = 0;
      for (let row = 0; row < n; row++) {
        const [ps, pt] = [softmax(s, row * V, tau), softmax(t, row * V, tau)];
        want += (tau * tau * pt.reduce((sum, p, i) => sum + p * Math.log(p / ps[i]!), 0)) / n;
      }
      const { loss, grad } = klTeacherStudent(s, t, n, V, 1, tau);
      expect(loss).toBeCloseTo(want, 12);
      for (let row = 0; row < n; row++) {
        const [ps, pt] = [softmax(s, row * V, tau), softmax(t, row * V, tau)];
        for (let i = 0; i < V; i++) expect(grad[row * V + i]).toBeCloseTo((tau * (ps[i]! - pt[i]!)) / n, 14);
      }
    }
    // a softer teacher: the term's unscaled KL shrinks as τ grows
    const at = (tau: number) => klTeacherStudent(s, t, n, V, 1, tau).loss / (tau * tau);
    expect(at(4)).toBeLessThan(at(2));
    expect(at(2)).toBeLessThan(at(1));
  });

  it("τ = 1 is the plain KL bit for bit, in f64 and f32", () => {
    for (const make of [(v: Float64Array) => v, (v: Float64Array) => Float32Array.from(v)]) {
      const s = make(randomVec(n * V, 35, 4));
      const t = make(randomVec(n * V, 36, 4));
      const want = plainKl(s, t, n, V, 1.5);
      for (const got of [klTeacherStudent(s, t, n, V, 1.5, 1), klTeacherStudent(s, t, n, V, 1.5)]) {
        expect(Object.is(got.loss, want.loss)).toBe(true);
        expect(got.grad.constructor).toBe(want.grad.constructor);
        expect(Buffer.from(got.grad.buffer).equals(Buffer.from(want.grad.buffer))).toBe(true);
      }
    }
  });
});

describe("finetune's klTemperature", () => {
  const base = { steps: 4, dataText: "x", mode: "full" as const, kl: 1 };

  it("must be a positive finite number, and other than 1 only with a KL term (OptionError naming it)", () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => resolveFinetuneOptions({ ...base, klTemperature: bad }, 64)).toThrow(OptionError);
      expect(() => resolveFinetuneOptions({ ...base, klTemperature: bad }, 64)).toThrow(/klTemperature must be a positive number/);
    }
    expect(() => resolveFinetuneOptions({ ...base, kl: 0, klTemperature: 2 }, 64)).toThrow(/klTemperature 2 needs a KL term/);
    expect(resolveFinetuneOptions({ ...base, kl: 0, klTemperature: 1 }, 64).loss.klTemperature).toBeUndefined();
  });

  it("is recorded in the run's options when not 1, and τ = 1 leaves the options as they were without it", () => {
    const plain = resolveFinetuneOptions(base, 64);
    expect(JSON.stringify(resolveFinetuneOptions({ ...base, klTemperature: 1 }, 64))).toBe(JSON.stringify(plain));
    expect(plain.loss).toEqual({ off: 1, ce: 1, kl: 1, feature: "off" });
    expect(resolveFinetuneOptions({ ...base, klTemperature: 2 }, 64).loss).toEqual({ off: 1, ce: 1, kl: 1, feature: "off", klTemperature: 2 });
  });
});

describe("runFinetune with a KL temperature (stories260K, in memory)", () => {
  const input = (o: Partial<FinetuneRunInput>, store: CheckpointStore) => stories260KRun({ kl: 1, klTemperature: 2, ...o }, store);
  const none: CheckpointStore = { name: "none", load: async () => [], save: async () => {} };

  it("trains on it, resumes to the bytes of a straight run, and refuses a resume at another τ by name", async () => {
    const recording = keepingStep(3);
    const straight = await writeGgufToBytes((await runFinetune(input({}, recording))).student);
    const atOne = await writeGgufToBytes((await runFinetune(input({ klTemperature: undefined }, none))).student);
    expect(Buffer.from(straight).equals(Buffer.from(atOne))).toBe(false);

    const offered = offering(recording.kept());
    const resumed = await writeGgufToBytes((await runFinetune(input({ resume: true }, offered))).student);
    expect(Buffer.from(resumed).equals(Buffer.from(straight))).toBe(true);
    for (const [change, named] of [
      [{ klTemperature: 4 }, /loss \{.*"klTemperature":2\} there, \{.*"klTemperature":4\} here/],
      [{ klTemperature: undefined }, /loss \{.*"klTemperature":2\} there, \{"off":1,"ce":1,"kl":1,"feature":"off"\} here/],
    ] as const) {
      await expect(runFinetune(input({ ...change, resume: true }, offered))).rejects.toMatchObject({
        code: "BAD_CHECKPOINT",
        message: expect.stringMatching(named),
      });
    }
  });
});
