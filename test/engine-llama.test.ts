// The CPU engine against llama.cpp itself (node-llama-cpp 3.21.1, prebuilt CPU build, KV cache in F32), on the
// same files: stories260K (F32) logits and greedy tokens on real text, its perplexity computed from llama.cpp's
// own logits on the same windows, and a deterministic synthetic ternary model as TQ2_0 and as TQ1_0.
//
// node-llama-cpp 3.21.1 exposes no raw logits: controlledEvaluate returns, with the greedy sampler (temperature
// 0, no other sampler in the chain), softmax(logits) over the whole vocabulary. log(p_i / p_max) = l_i − l_max
// recovers the logits up to each position's additive constant (which softmax, argmax and perplexity ignore),
// to ~1e-7 from f32 rounding; so logits are compared as l − max(l).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Llama, LlamaContext, LlamaContextSequence, LlamaModel, Token } from "node-llama-cpp";
import { cpuLlama, lacks } from "./helpers/optional-deps.ts";
import { CpuModel } from "../src/runtime/cpu/model.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { readGgufHeader } from "../src/runtime/gguf/reader.ts";
import { writeGgufFile } from "../src/runtime/gguf/writer-node.ts";
import { negativeLogLikelihood, perplexity } from "../src/runtime/model/perplexity.ts";
import { CpuLanguageModel } from "../src/runtime/cpu/language-model.ts";
import { GgmlType } from "../src/runtime/tensor-types/table.ts";
import { sharedPath } from "./helpers/shared.ts";
import { syntheticModel, type SyntheticShape } from "./helpers/synthetic-model.ts";

const STORIES = sharedPath("models/stories260K.gguf");
const VALID = sharedPath("corpus/tinystories-valid-a.txt");

let llama: Llama;
let dir: string;

beforeAll(async () => {
  // One llama instance for the whole file: loading the native addon takes ~20 s.
  llama = await cpuLlama("error");
  dir = mkdtempSync(join(tmpdir(), "ternion-engine-llama-"));
}, 180_000);

afterAll(async () => {
  await llama?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function loadOurs(path: string, contextLength: number): Promise<CpuModel> {
  const source = await openFileSource(path);
  try {
    return await CpuModel.load(source, { threads: 2, kvType: "f32", contextLength, parallelThreshold: 0 });
  } finally {
    await source.close();
  }
}

async function theirContext(model: LlamaModel, contextSize: number): Promise<LlamaContext> {
  return model.createContext({
    contextSize,
    batchSize: contextSize,
    threads: 2,
    experimentalKvCacheKeyType: "F32",
    experimentalKvCacheValueType: "F32",
    // llama.cpp's CPU flash-attention path (on by default, "auto") converts Q to F16 for its dot products even
    // over an F32 cache, which alone moves these logits by ~1e-2: the reference is the plain attention path.
    flashAttention: false,
  });
}

/**
 * llama.cpp's logits minus their maximum after each of `tokens` (from an empty sequence), at the positions
 * `want` selects.
 */
async function theirLogits(context: LlamaContext, tokens: number[], want: (i: number) => boolean, vocab: number): Promise<Map<number, Float64Array>> {
  const seq = sequenceOf(context);
  await seq.clearHistory();
  const results = await seq.controlledEvaluate(
    tokens.map((t, i) => (want(i) ? [t as Token, { generateNext: { probabilities: true } }] : (t as Token))),
  );
  const out = new Map<number, Float64Array>();
  results.forEach((r, i) => {
    const probs = r?.next.probabilities;
    if (!probs) return;
    const row = new Float64Array(vocab).fill(-Infinity);
    let pmax = 0;
    for (const p of probs.values()) pmax = Math.max(pmax, p);
    for (const [id, p] of probs) row[id] = Math.log(p / pmax);
    out.set(i, row);
  });
  return out;
}

const sequences = new WeakMap<LlamaContext, LlamaContextSequence>();
/** The context's one sequence (a context has one; it is reused after clearHistory). */
function sequenceOf(context: LlamaContext): LlamaContextSequence {
  let s = sequences.get(context);
  if (!s) sequences.set(context, (s = context.getSequence()));
  return s;
}

/** llama.cpp's greedy token after each of `tokens` (teacher forcing). */
async function theirGreedy(context: LlamaContext, tokens: number[]): Promise<number[]> {
  const seq = sequenceOf(context);
  await seq.clearHistory();
  const results = await seq.controlledEvaluate(tokens.map((t) => [t as Token, { generateNext: { token: true } }]));
  return results.map((r) => r!.next.token!);
}

/** Our logits after each token, minus their maximum. */
function ourLogits(model: CpuModel, tokens: number[]): Float64Array[] {
  const rows: Float64Array[] = [];
  model.reset();
  model.eval(tokens, "all", (_, logits) => {
    let max = -Infinity;
    for (const v of logits) max = Math.max(max, v);
    rows.push(Float64Array.from(logits, (v) => v - max));
  });
  return rows;
}

function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}

describe.skipIf(lacks("node-llama-cpp"))("stories260K (F32) against llama.cpp", () => {
  let ours: CpuModel;
  let theirs: LlamaModel;
  let tokens: number[];

  beforeAll(async () => {
    ours = await loadOurs(STORIES, 256);
    theirs = await llama.loadModel({ modelPath: STORIES });
    tokens = ours.tokenizer.encode(readFileSync(VALID, "utf8").slice(0, 4000), { addBos: true });
    // the tokenizer itself is proven equal to llama.cpp's elsewhere; the same ids go to both engines
    expect(tokens.length).toBeGreaterThan(200);
  });
  afterAll(async () => {
    ours?.dispose();
    await theirs?.dispose();
  });

  it("logits equal llama.cpp's within 1e-4 (max abs) over the first 64 positions", async () => {
    const context = await theirContext(theirs, 256);
    try {
      const first = tokens.slice(0, 64);
      const want = await theirLogits(context, first, () => true, ours.config.vocabSize);
      const got = ourLogits(ours, first);
      let err = 0;
      for (let i = 0; i < 64; i++) {
        const w = want.get(i)!;
        for (let v = 0; v < w.length; v++) err = Math.max(err, Math.abs(got[i]![v]! - w[v]!));
      }
      expect(err).toBeLessThan(1e-4);
      expect(err).toBeGreaterThan(0); // two engines, two summation orders: an exact 0 would mean we compared a thing with itself
    } finally {
      await context.dispose();
    }
  });

  it("gives llama.cpp's greedy token at each of 200 positions", async () => {
    const context = await theirContext(theirs, 256);
    try {
      const input = tokens.slice(0, 200);
      const want = await theirGreedy(context, input);
      const got = ourLogits(ours, input).map(argmax);
      expect(got).toEqual(want);
    } finally {
      await context.dispose();
    }
  });

  it("perplexity on tinystories-valid-a.txt equals llama.cpp's computation from its logits on the same windows within 0.1%", async () => {
    const ctx = 128;
    // the first 12 windows of the file (llama.cpp's method needs the text, so the text is cut to about that)
    const text = readFileSync(VALID, "utf8").slice(0, 6500);
    const model = await loadOurs(STORIES, ctx);
    const context = await theirContext(theirs, ctx);
    try {
      const r = await perplexity(new CpuLanguageModel(model), text, { ctx });
      expect(r.windows).toBeGreaterThanOrEqual(10);
      expect(r.scored).toBe(r.windows * (ctx - 1 - ctx / 2));

      // llama.cpp: the same windows (BOS in place of each window's first token), scored from its own logits
      const all = model.tokenizer.encode(text, { addBos: true });
      let nll = 0;
      let scored = 0;
      for (let w = 0; w < r.windows; w++) {
        const window = all.slice(w * ctx, (w + 1) * ctx);
        window[0] = model.tokenizer.bos!;
        const rows = await theirLogits(context, window, (j) => j >= ctx / 2 && j < ctx - 1, model.config.vocabSize);
        for (const [j, row] of rows) {
          nll += negativeLogLikelihood(
            Float32Array.from(row, (v) => (v === -Infinity ? -1e30 : v)),
            window[j + 1]!,
          );
          scored++;
        }
      }
      const theirPpl = Math.exp(nll / scored);
      expect(scored).toBe(r.scored);
      expect(Math.abs(r.ppl / theirPpl - 1)).toBeLessThan(1e-3);
    } finally {
      model.dispose();
      await context.dispose();
    }
  });
});

describe.skipIf(lacks("node-llama-cpp")).each([
  ["TQ2_0", GgmlType.TQ2_0],
  ["TQ1_0", GgmlType.TQ1_0],
] as const)("synthetic ternary model as %s against llama.cpp", (name, type) => {
  let path: string;
  let ours: CpuModel;
  let theirs: LlamaModel;

  beforeAll(async () => {
    // A real vocabulary of the right size, so that both engines load the same tokenizer metadata.
    const stories = await openFileSource(STORIES);
    const meta = (await readGgufHeader(stories)).metadata;
    await stories.close();
    const shape: SyntheticShape = {
      name: `synthetic-${name}`,
      architecture: "llama",
      dim: 256,
      layers: 2,
      heads: 4,
      kvHeads: 2,
      ffn: 512,
      vocab: 512,
      contextLength: 256,
      ternary: type,
      embedding: GgmlType.F32,
      tiedOutput: false,
      seed: 20240607,
      tokenizer: [...meta].filter(([k]) => k.startsWith("tokenizer.")),
    };
    path = join(dir, `synthetic-${name}.gguf`);
    await writeGgufFile(path, syntheticModel(shape));
    ours = await loadOurs(path, 256);
    theirs = await llama.loadModel({ modelPath: path });
  });
  afterAll(async () => {
    ours?.dispose();
    await theirs?.dispose();
  });

  it("greedy generation gives llama.cpp's tokens", async () => {
    const context = await theirContext(theirs, 256);
    try {
      const prompt = [1, 400, 300, 200];
      // llama.cpp: greedy, one token at a time
      const seq = sequenceOf(context);
      await seq.clearHistory();
      const theirsTokens: number[] = [];
      let input: number[] = prompt;
      for (let i = 0; i < 48; i++) {
        const res = await seq.controlledEvaluate(
          input.map((t, j) => (j === input.length - 1 ? [t as Token, { generateNext: { token: true } }] : (t as Token))),
        );
        const next = res[input.length - 1]!.next.token!;
        theirsTokens.push(next);
        input = [next];
      }
      // ours
      ours.reset();
      let logits = ours.eval(prompt)!;
      const ourTokens: number[] = [];
      for (let i = 0; i < 48; i++) {
        const next = argmax(logits);
        ourTokens.push(next);
        logits = ours.eval([next])!;
      }
      expect(ourTokens).toEqual(theirsTokens);
      expect(new Set(ourTokens).size).toBeGreaterThan(4); // not a degenerate constant output
    } finally {
      await context.dispose();
    }
  });

  it("logits equal llama.cpp's within the activation-rounding tolerance", async () => {
    const context = await theirContext(theirs, 256);
    try {
      const tokens = Array.from({ length: 40 }, (_, i) => (i === 0 ? 1 : 3 + ((i * 97) % 509)));
      const want = await theirLogits(context, tokens, () => true, 512);
      const got = ourLogits(ours, tokens);
      let err = 0;
      let scale = 0;
      for (let i = 0; i < tokens.length; i++) {
        const w = want.get(i)!;
        for (let v = 0; v < 512; v++) {
          err = Math.max(err, Math.abs(got[i]![v]! - w[v]!));
          scale = Math.max(scale, Math.abs(w[v]!));
        }
      }
      // Both engines quantize every ternary matmul's input to Q8_K with the same rule, so equal f32 inputs give
      // equal int8 codes and equal integer dot products; what differs is f32 summation order elsewhere (norms,
      // attention, the F32 head), ~1e-6 relative, as for the F32 model (observed here: ~5e-6). That order can
      // flip one int8 rounding of a value within ~1e-6 of a .5 boundary; one flip moves a matmul output by one
      // activation step times one weight scale, (max|x|/127)·d ≈ (4/127)·0.13 ≈ 4e-3 before the following norms
      // and layers shrink it: the tolerance allows for such a flip, not for any systematic difference.
      expect(err).toBeLessThan(2e-3);
      expect(scale).toBeGreaterThan(5); // logits spread enough that greedy decisions mean something
    } finally {
      await context.dispose();
    }
  });
});
