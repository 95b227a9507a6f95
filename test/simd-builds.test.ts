// The simd128 and relaxed-SIMD builds, 1 and 2 threads, and any prefill batch compute the same bits for whole
// models (issue 15, finding 7: a seed must give the same text on every machine): the logits of a few hundred
// tokens (a batched prefill, then one token at a time), the perplexity of a text, and 36 seeded sampled
// generations, on the float stories260K, the shipped ternary (DLT) default model, and synthetic TQ2_0, TQ1_0 and
// I2_S models. test/kernels.test.ts compares the kernels themselves, build against build, on random ragged shapes.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { CpuModel } from "../src/runtime/cpu/model.ts";
import { CpuLanguageModel } from "../src/runtime/cpu/language-model.ts";
import type { SimdBuild } from "../src/runtime/cpu/wasm/loader.ts";
import { relaxedSimdHint, relaxedSimdSupported } from "../src/runtime/cpu/wasm/features.ts";
import { bytesSource } from "../src/runtime/gguf/sources.ts";
import { readGgufHeader } from "../src/runtime/gguf/reader.ts";
import { writeGgufToBytes } from "../src/runtime/gguf/writer.ts";
import { perplexity } from "../src/runtime/model/perplexity.ts";
import { GgmlType } from "../src/runtime/tensor-types/table.ts";
import { generate } from "../src/engine/generate.ts";
import { rng } from "./helpers/random.ts";
import { sharedPath } from "./helpers/shared.ts";
import { syntheticModel } from "./helpers/synthetic-model.ts";

const STORIES = sharedPath("models/stories260K.gguf");
const DEFAULT_MODEL = new URL("../models/stories260K-ternary.gguf", import.meta.url);
const TEXT = readFileSync(sharedPath("corpus/tinystories-valid-a.txt"), "utf8").slice(0, 6000);

const CONTEXT = 512;
const PREFILL = 240; // logits of these tokens from one batched eval (the token-tiled matmuls) …
const DECODE = 60; // … then of these, one token per eval (the matvec tiles)
const PPL_CTX = 128;
const SEEDS = 36;
const SAMPLED_TOKENS = 64;

/** A synthetic llama model with stories260K's tokenizer (vocabulary 512), ternary linears of `ternary`. */
async function synthetic(ternary: GgmlType.TQ2_0 | GgmlType.TQ1_0 | GgmlType.I2_S, tiedOutput: boolean): Promise<Uint8Array> {
  const meta = (await readGgufHeader(bytesSource(readFileSync(STORIES)))).metadata;
  return writeGgufToBytes(
    syntheticModel({
      name: `synthetic-${GgmlType[ternary]}`,
      architecture: "llama",
      dim: 256,
      layers: 2,
      heads: 4,
      kvHeads: 2,
      ffn: 768,
      vocab: 512,
      contextLength: CONTEXT,
      ternary,
      embedding: GgmlType.F16,
      tiedOutput,
      output: GgmlType.F32,
      seed: 15_07 + ternary,
      tokenizer: [...meta].filter(([k]) => k.startsWith("tokenizer.")),
    }),
  );
}

const MODELS: Array<[string, () => Promise<Uint8Array>]> = [
  ["stories260K (F32)", async () => readFileSync(STORIES)],
  ["stories260K-ternary (DLT, the default model)", async () => readFileSync(DEFAULT_MODEL)],
  ["synthetic TQ2_0 (F16 embedding, F32 output)", () => synthetic(GgmlType.TQ2_0, false)],
  ["synthetic TQ1_0 (F16 embedding, F32 output)", () => synthetic(GgmlType.TQ1_0, false)],
  ["synthetic I2_S (F16 embedding and tied output)", () => synthetic(GgmlType.I2_S, true)],
];

interface Run {
  simd: SimdBuild;
  threads: number;
  /** Prefill batch (default: the model's); 7 cuts every prompt into 7-token tiles and a 1–6-token rest. */
  batchSize?: number;
}
/** The runs compared: the baseline build on one thread first, the others against it. */
const RUNS: Run[] = [
  { simd: "simd128", threads: 1 },
  { simd: "relaxed", threads: 1 },
  { simd: "relaxed", threads: 2 },
  { simd: "simd128", threads: 2 },
  { simd: "relaxed", threads: 1, batchSize: 7 },
];
const runName = (r: Run) => `${r.simd}, ${r.threads} thread${r.threads > 1 ? "s" : ""}${r.batchSize ? `, prefill batches of ${r.batchSize}` : ""}`;

/** Where two f32 arrays first differ in their bits (undefined: nowhere), with the largest difference. */
function firstDifference(a: Float32Array, b: Float32Array, rowLength: number): string | undefined {
  if (a.length !== b.length) return `lengths ${a.length} and ${b.length}`;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let first = -1;
  let count = 0;
  let maxDiff = 0;
  for (let i = 0; i < ua.length; i++) {
    if (ua[i] === ub[i]) continue;
    if (first < 0) first = i;
    count++;
    maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
  }
  if (first < 0) return undefined;
  const row = Math.floor(first / rowLength);
  return `${count} of ${a.length} logits differ, first at token ${row} entry ${first % rowLength} (${a[first]} vs ${b[first]}), largest difference ${maxDiff}`;
}

/** Logits of PREFILL tokens in one eval, then of DECODE tokens one eval each, all in one array. */
function logitsOf(model: CpuModel, tokens: readonly number[]): Float32Array {
  const vocab = model.config.vocabSize;
  const out = new Float32Array((PREFILL + DECODE) * vocab);
  model.reset();
  model.eval(tokens.slice(0, PREFILL), "all", (j, logits) => out.set(logits, j * vocab));
  for (let j = PREFILL; j < PREFILL + DECODE; j++) out.set(model.eval([tokens[j]!], "last")!, j * vocab);
  return out;
}

interface RunResult {
  logits: Float32Array;
  ppl: number;
  sampled: number[][];
}

describe.each(MODELS)("%s: every build and thread count gives the same bits", (_name, bytes) => {
  const results: RunResult[] = [];
  let vocab = 0;

  beforeAll(async () => {
    if (!relaxedSimdSupported()) throw new Error(`the relaxed-SIMD build cannot be compared: ${relaxedSimdHint()}`);
    const file = await bytes();
    let tokens: number[] | undefined;
    for (const run of RUNS) {
      const model = await CpuModel.load(bytesSource(file), { ...run, contextLength: CONTEXT });
      try {
        expect(model.stats()).toMatchObject({ simd: run.simd, threads: run.threads });
        vocab = model.config.vocabSize;
        const r = rng(vocab);
        tokens ??= Array.from({ length: PREFILL + DECODE }, () => Math.floor(r() * vocab));
        const lm = new CpuLanguageModel(model);
        const ppl = (await perplexity(lm, TEXT, { ctx: PPL_CTX })).ppl;
        const sampled: number[][] = [];
        for (let seed = 1; seed <= SEEDS; seed++) {
          const g = await generate(lm, "Once upon a time", { seed, maxTokens: SAMPLED_TOKENS, ignoreEos: true });
          sampled.push(g.tokens);
        }
        results.push({ logits: logitsOf(model, tokens), ppl, sampled });
      } finally {
        model.dispose();
      }
    }
  }, 300_000);
  afterAll(() => void results.splice(0));

  it.each(RUNS.slice(1).map((run, i) => [runName(run), i + 1] as const))("logits of %s equal simd128's on 1 thread", (_run, i) => {
    expect(firstDifference(results[i]!.logits, results[0]!.logits, vocab)).toBeUndefined();
  });

  it.each(RUNS.slice(1).map((run, i) => [runName(run), i + 1] as const))("perplexity of %s equals simd128's on 1 thread", (_run, i) => {
    expect(Number.isFinite(results[0]!.ppl)).toBe(true);
    expect(results[i]!.ppl).toBe(results[0]!.ppl);
  });

  it.each(RUNS.slice(1).map((run, i) => [runName(run), i + 1] as const))(
    `${SEEDS} seeded sampled generations of %s equal simd128's on 1 thread`,
    (_run, i) => {
      const diverged = results[i]!.sampled.flatMap((tokens, s) => {
        const base = results[0]!.sampled[s]!;
        const at = tokens.findIndex((t, j) => t !== base[j]);
        return at < 0 && tokens.length === base.length ? [] : [`seed ${s + 1} at token ${at < 0 ? Math.min(tokens.length, base.length) : at}`];
      });
      expect(diverged).toEqual([]);
      expect(results[0]!.sampled.every((t) => t.length === SAMPLED_TOKENS)).toBe(true);
    },
  );
});
