// The real ternary models that llama.cpp runs (README.md, "Models"), at test widths with their structure —
// architecture string, tensor names and types, head ratios, untied F16 head, byte-level BPE vocabulary with its
// pre-tokenizer name, RoPE base, norm epsilon — against llama.cpp itself (node-llama-cpp 3.21.1, CPU, F32 KV
// cache, no flash attention; see test/engine-llama.test.ts for how its logits are recovered). TriLM is a
// TQ2_0/TQ1_0 file; Falcon3 and Llama3-8B-1.58 ship as bitnet.cpp's I2_S (test/real-models.test.ts), and here
// run as the TQ2_0 conversion llama.cpp reads, which checks the same llama structure at those ratios.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Llama, LlamaModel, Token } from "node-llama-cpp";
import { CpuModel } from "../src/runtime/cpu/model.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { writeGgufFile } from "../src/runtime/gguf/writer-node.ts";
import { GgmlType } from "../src/runtime/tensor-types/table.ts";
import { cpuLlama, lacks } from "./helpers/optional-deps.ts";
import { REAL_MODELS, small } from "./helpers/real-models.ts";
import { syntheticModel } from "./helpers/synthetic-model.ts";

let llama: Llama;
let dir: string;

beforeAll(async () => {
  llama = await cpuLlama("error");
  dir = mkdtempSync(join(tmpdir(), "ternion-real-models-llama-"));
}, 180_000);

afterAll(async () => {
  await llama?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const byName = (prefix: string) => REAL_MODELS.find((m) => m.real.name.startsWith(prefix))!;
const CASES = [
  ["TriLM 3.9B as TQ2_0", byName("TriLM"), GgmlType.TQ2_0],
  ["TriLM 3.9B as TQ1_0", byName("TriLM"), GgmlType.TQ1_0],
  ["Falcon3-10B-1.58bit as TQ2_0", byName("Falcon3-10B"), GgmlType.TQ2_0],
  ["Falcon3-1B-1.58bit as TQ2_0", byName("Falcon3-1B"), GgmlType.TQ2_0],
  ["Llama3-8B-1.58 as TQ2_0", byName("Llama3-8B"), GgmlType.TQ2_0],
] as const;

describe.skipIf(lacks("node-llama-cpp")).each(CASES)("%s against llama.cpp", (label, m, type) => {
  let ours: CpuModel;
  let theirs: LlamaModel;
  const shape = small(m, type);

  beforeAll(async () => {
    const path = join(dir, `${label.replace(/\W+/g, "-")}.gguf`);
    await writeGgufFile(path, syntheticModel(shape));
    const source = await openFileSource(path);
    try {
      ours = await CpuModel.load(source, { threads: 2, kvType: "f32", contextLength: shape.contextLength, parallelThreshold: 0 });
    } finally {
      await source.close();
    }
    theirs = await llama.loadModel({ modelPath: path });
  });
  afterAll(async () => {
    ours?.dispose();
    await theirs?.dispose();
  });

  it("logits (up to each position's constant) and greedy tokens equal llama.cpp's", async () => {
    const context = await theirs.createContext({
      contextSize: shape.contextLength,
      batchSize: shape.contextLength,
      threads: 2,
      experimentalKvCacheKeyType: "F32",
      experimentalKvCacheValueType: "F32",
      flashAttention: false,
    });
    try {
      const tokens = Array.from({ length: 32 }, (_, i) => (i === 0 ? shape.vocab - 2 : 3 + ((i * 97) % 500)));
      const seq = context.getSequence();
      const results = await seq.controlledEvaluate(tokens.map((t) => [t as Token, { generateNext: { probabilities: true, token: true } }]));
      // softmax over the whole vocabulary (greedy sampler): log(p / p_max) = l − l_max
      const want = results.map((r) => {
        const row = new Float64Array(shape.vocab).fill(-Infinity);
        let pmax = 0;
        for (const p of r!.next.probabilities!.values()) pmax = Math.max(pmax, p);
        for (const [id, p] of r!.next.probabilities!) row[id] = Math.log(p / pmax);
        return row;
      });
      const theirTokens = results.map((r) => r!.next.token!);

      const ourTokens: number[] = [];
      let err = 0;
      let spread = 0;
      const perPos: number[] = [];
      ours.reset();
      ours.eval(tokens, "all", (i, logits) => {
        let max = -Infinity;
        let best = 0;
        for (let v = 0; v < logits.length; v++) if (logits[v]! > max) [max, best] = [logits[v]!, v];
        ourTokens.push(best);
        perPos[i] = 0;
        for (let v = 0; v < logits.length; v++) {
          perPos[i] = Math.max(perPos[i]!, Math.abs(logits[v]! - max - want[i]![v]!));
          err = Math.max(err, Math.abs(logits[v]! - max - want[i]![v]!));
          spread = Math.max(spread, -want[i]![v]!);
        }
      });
      // Both quantize ternary inputs to Q8_K with the same rule (test/engine-llama.test.ts), so the first positions
      // agree to f32 summation order. That order can still put one value on the other side of a rounding tie;
      // the flipped code moves its position's logits and, through the KV cache, every later one, by up to about
      // 1 % of the logits' spread here (observed: Falcon3-10B's shape, 0.14 of 15 from position 9 on). A
      // systematic difference (RoPE layout or base, norm epsilon, head tying, GQA grouping, type decoding)
      // moves them by tens of percent from position 0 and changes greedy tokens. Position 0's bound leaves room for
      // llama.cpp's own order, which differs by machine: 2.1e-3 on Falcon3-1B with its build on an AMD EPYC (Zen 4),
      // under 2e-3 on an Intel Xeon.
      expect(perPos[0]).toBeLessThan(5e-3);
      expect(err).toBeLessThan(0.02 * spread);
      expect(spread).toBeGreaterThan(3); // logits spread enough for greedy decisions to mean something
      expect(ourTokens).toEqual(theirTokens);
    } finally {
      await context.dispose();
    }
  });
});
