import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { OptionError } from "../src/runtime/errors.ts";
import { Sampler } from "../src/runtime/sampling/sampler.ts";
import { resolveSamplingOptions, type SamplingOptions } from "../src/runtime/sampling/options.ts";
import { Xoshiro128 } from "../src/runtime/sampling/prng.ts";
import { topKIndices } from "../src/runtime/sampling/select.ts";
import { rng } from "./helpers/random.ts";

// xoshiro128** written again from the reference C code, on BigInt, as an independent oracle.
function referenceXoshiro(state: [number, number, number, number]): () => number {
  const s = state.map(BigInt);
  const M = 0xffff_ffffn;
  const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (32n - k))) & M;
  return () => {
    const result = (rotl((s[1]! * 5n) & M, 7n) * 9n) & M;
    const t = (s[1]! << 9n) & M;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11n);
    return Number(result);
  };
}

/** A seeded float source for building test logits (independent of the code under test). */

function randomLogits(n: number, seed: number, scale = 4): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() - 0.5) * 2 * scale);
}

/** llama.cpp's chain written the slow, obvious way: full sort, full softmax. */
function naiveCandidates(logits: Float32Array, o: Required<Omit<SamplingOptions, "seed">>, history: number[]): number[] {
  const work = Float64Array.from(logits);
  const recent = o.repeatLastN < 0 ? history : o.repeatLastN === 0 ? [] : history.slice(-o.repeatLastN);
  const counts = new Map<number, number>();
  for (const t of recent) counts.set(t, (counts.get(t) ?? 0) + 1);
  for (const [t, c] of counts) {
    const l = work[t]! <= 0 ? work[t]! * o.repeatPenalty : work[t]! / o.repeatPenalty;
    work[t] = Math.fround(Math.fround(l) - c * o.frequencyPenalty - o.presencePenalty);
  }
  let ids = Array.from(work.keys()).sort((a, b) => work[b]! - work[a]! || a - b);
  if (o.temperature === 0) return [ids[0]!];
  if (o.topK > 0) ids = ids.slice(0, o.topK);
  if (o.topP < 1) {
    const max = work[ids[0]!]!;
    const z = ids.reduce((s, t) => s + Math.exp(work[t]! - max), 0);
    let acc = 0;
    let keep = ids.length;
    for (let i = 0; i < ids.length; i++) {
      acc += Math.exp(work[ids[i]!]! - max) / z;
      if (acc >= o.topP) {
        keep = i + 1;
        break;
      }
    }
    ids = ids.slice(0, keep);
  }
  if (o.minP > 0) {
    const max = Math.max(...ids.map((t) => work[t]!));
    ids = ids.filter((t) => work[t]! >= max + Math.log(o.minP));
  }
  return ids;
}

const ALL_OFF = { temperature: 1, topK: 0, topP: 1, minP: 0, repeatPenalty: 1, frequencyPenalty: 0, presencePenalty: 0, repeatLastN: 64 };

describe("Xoshiro128 (xoshiro128**)", () => {
  it("matches the reference algorithm word for word", () => {
    for (const state of [
      [1, 2, 3, 4],
      [0xdeadbeef, 0x01234567, 0x89abcdef, 0xffffffff],
    ] as [number, number, number, number][]) {
      const ours = Xoshiro128.fromState(state);
      const ref = referenceXoshiro(state);
      for (let i = 0; i < 1000; i++) expect(ours.nextU32()).toBe(ref());
    }
    // The first output from state {1, 2, 3, 4} by hand: rotl(2·5, 7)·9 = 11520.
    expect(Xoshiro128.fromState([1, 2, 3, 4]).nextU32()).toBe(11520);
  });

  it("is a function of the seed alone, and floats lie in [0, 1)", () => {
    const a = new Xoshiro128(42);
    const b = new Xoshiro128(42);
    const c = new Xoshiro128(43);
    const xs = Array.from({ length: 100 }, () => a.nextFloat());
    expect(Array.from({ length: 100 }, () => b.nextFloat())).toEqual(xs);
    expect(Array.from({ length: 100 }, () => c.nextFloat())).not.toEqual(xs);
    for (const x of xs) expect(x >= 0 && x < 1).toBe(true);
  });
});

describe("topKIndices", () => {
  it("equals a full sort (value descending, then index) on random inputs with many ties", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 1, maxLength: 300 }), fc.nat(), (xs, k0) => {
        const values = Float32Array.from(xs);
        const k = k0 % (values.length + 1);
        const expected = Array.from(values.keys())
          .sort((a, b) => values[b]! - values[a]! || a - b)
          .slice(0, k);
        expect(Array.from(topKIndices(values, k))).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  it("agrees with a full sort for large k too (the packed-key path), with ±0 and ±∞", () => {
    const special = [0, -0, Infinity, -Infinity, 1e-30, -1e-30, 3.4e38, -3.4e38];
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constantFrom(...special)), { minLength: 600, maxLength: 3000 }),
        fc.integer({ min: 513, max: 3000 }),
        (xs, k0) => {
          const values = Float32Array.from(xs);
          const k = Math.min(k0, values.length);
          const expected = Array.from(values.keys()).sort((a, b) => (values[a] === values[b]! ? a - b : values[a]! > values[b]! ? -1 : 1));
          expect(Array.from(topKIndices(values, k))).toEqual(expected.slice(0, k));
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe("sampling options", () => {
  it.each([
    [{ temperature: -0.1 }, "temperature"],
    [{ temperature: Number.NaN }, "temperature"],
    [{ topP: 0 }, "topP"],
    [{ topP: 1.5 }, "topP"],
    [{ topK: -1 }, "topK"],
    [{ topK: 2.5 }, "topK"],
    [{ minP: 2 }, "minP"],
    [{ repeatPenalty: 0 }, "repeatPenalty"],
    [{ repeatLastN: -2 }, "repeatLastN"],
    [{ frequencyPenalty: Infinity }, "frequencyPenalty"],
    [{ seed: -1 }, "seed"],
    [{ seed: 2 ** 32 }, "seed"],
    [{ top_p: 0.5 } as SamplingOptions, "top_p"],
  ])("%o is an OptionError naming %s", (options, name) => {
    expect(() => new Sampler(options)).toThrow(OptionError);
    expect(() => new Sampler(options)).toThrow(name);
  });

  it("fills llama.cpp's defaults and keeps given values", () => {
    const o = resolveSamplingOptions({ topK: 10, seed: 7 });
    expect(o).toMatchObject({ temperature: 0.8, topK: 10, topP: 0.95, minP: 0.05, repeatPenalty: 1, repeatLastN: 64, seed: 7 });
    expect(Number.isInteger(resolveSamplingOptions().seed)).toBe(true);
  });
});

describe("Sampler", () => {
  it("is greedy at temperature 0 (lowest id on ties)", () => {
    const s = new Sampler({ temperature: 0 });
    expect(s.sample(Float32Array.from([0.5, 3, -1, 3]))).toBe(1);
    const logits = randomLogits(5000, 1);
    let best = 0;
    for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
    expect(s.sample(logits)).toBe(best);
  });

  it("applies repetition, frequency and presence penalties as llama.cpp over the last N tokens", () => {
    const logits = Float32Array.from([2, -2, 1, 0.5, 0]);
    const s = new Sampler({ ...ALL_OFF, repeatPenalty: 2, frequencyPenalty: 0.1, presencePenalty: 0.5, repeatLastN: 4 });
    for (const t of [3, 0, 1, 0, 4]) s.accept(t); // the window keeps 0, 1, 0, 4 (3 has left it)
    const { ids, logits: out } = s.candidates(logits);
    const byId = new Map(Array.from(ids, (t, i) => [t, out[i]]));
    expect(byId.get(0)).toBeCloseTo(2 / 2 - 2 * 0.1 - 0.5, 6); // positive: divided; seen twice
    expect(byId.get(1)).toBeCloseTo(-2 * 2 - 0.1 - 0.5, 6); // negative: multiplied
    expect(byId.get(2)).toBe(1);
    expect(byId.get(3)).toBe(0.5); // outside the window
    expect(byId.get(4)).toBeCloseTo(0 * 2 - 0.1 - 0.5, 6); // zero counts as "not positive"
  });

  it("keeps exactly the candidates of llama.cpp's top-k → top-p → min-p chain", () => {
    const cases: Partial<typeof ALL_OFF>[] = [
      { topK: 40 },
      { topK: 1 },
      { topP: 0.9 },
      { topP: 0.3 },
      { minP: 0.05 },
      { topK: 100, topP: 0.8, minP: 0.02 },
      { topK: 0, topP: 0.95, minP: 0.05 },
      { topP: 0.999 },
      { temperature: 0, topK: 5 },
    ];
    for (const [i, c] of cases.entries()) {
      const options = { ...ALL_OFF, ...c, repeatPenalty: 1.3, frequencyPenalty: 0.05 };
      for (const [n, scale] of [
        [1000, 3],
        [32000, 8],
      ] as const) {
        const logits = randomLogits(n, 100 + i, scale);
        const history = Array.from({ length: 30 }, (_, j) => (j * 7919) % n);
        const s = new Sampler({ ...options, seed: 1 });
        for (const t of history) s.accept(t);
        const got = Array.from(s.candidates(logits).ids).sort((a, b) => a - b);
        const want = naiveCandidates(logits, options, history).sort((a, b) => a - b);
        expect(got, `case ${JSON.stringify(c)} n=${n}`).toEqual(want);
      }
    }
  });

  it("draws with the softmax probabilities at the given temperature", () => {
    const logits = Float32Array.from([1, 0, -1, 2]);
    for (const temperature of [1, 0.5, 2]) {
      const s = new Sampler({ ...ALL_OFF, temperature, repeatLastN: 0, seed: 1234 });
      const n = 40000;
      const counts = [0, 0, 0, 0];
      for (let i = 0; i < n; i++) counts[s.sample(logits)]!++;
      const e = Array.from(logits, (l) => Math.exp(l / temperature));
      const z = e.reduce((a, b) => a + b);
      // 4 standard deviations of a binomial proportion at n = 40000 is below 0.01.
      counts.forEach((c, t) => expect(Math.abs(c / n - e[t]! / z)).toBeLessThan(0.01));
    }
  });

  it("gives the same tokens for the same seed, and other tokens for another seed", () => {
    const run = (seed: number) => {
      const s = new Sampler({ seed, temperature: 1.2, topK: 50, repeatPenalty: 1.1 });
      const out: number[] = [];
      for (let i = 0; i < 64; i++) out.push(s.sample(randomLogits(2000, i, 2)));
      return out;
    };
    expect(run(99)).toEqual(run(99));
    expect(run(99)).not.toEqual(run(100));
    const s = new Sampler({ seed: 99, temperature: 1.2, topK: 50, repeatPenalty: 1.1 });
    const first = Array.from({ length: 8 }, (_, i) => s.sample(randomLogits(2000, i, 2)));
    s.reset();
    expect(Array.from({ length: 8 }, (_, i) => s.sample(randomLogits(2000, i, 2)))).toEqual(first);
  });

  it("refuses NaN or ±∞ logits (a broken model) instead of choosing among the rest", () => {
    const s = new Sampler({ ...ALL_OFF, seed: 3 });
    for (const bad of [Number.NaN, -Infinity, Infinity]) {
      expect(() => s.sample(Float32Array.from([0.2, bad, 0.1]))).toThrow(expect.objectContaining({ code: "NON_FINITE_LOGITS" }));
    }
  });
});
