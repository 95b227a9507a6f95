// WebGPU benchmark: prefill and decode speed of the GPU forward pass (src/gpu) on a synthetic TQ2_0 model with
// BitNet b1.58 2B-4T shapes (docs/ARCHITECTURE.md section 5, random ternary weights, F16 tied embedding), with the
// adapter's name and the GPU memory the model holds. Node + the `webgpu` package (Dawn): on a machine with a
// GPU, its Vulkan driver; elsewhere whatever Vulkan ICD the loader finds (`--swiftshader` picks SwiftShader).
// Run through `npm run bench:gpu` (scripts/bench-kernels.mjs bundles this file).
//
//   npm run bench:gpu -- [--json] [--model 2B|700M|tiny] [--prefill 128] [--decode 128] [--swiftshader]
//                        [--cache ~/.cache/ternion-bench]
//
// On a software adapter (SwiftShader, lavapipe) the default model is "tiny" (dim 512, 4 layers) and the
// figures are a smoke check of the whole path, not a measurement of anything a user would run.
// The model files are the ones bench/decode.ts generates (same names, same seed), cached outside the repository.
// Prefill tokens/s = prompt tokens / time of the prompt's step (greedy id read back); decode tokens/s = greedy
// steps of one token each, every step reading back its id.
import { rmSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { acquireGpu, CPU_ADAPTER_TUNING } from "../src/gpu/device.ts";
import { GpuModel } from "../src/gpu/model.ts";
import { nodeWebGpu } from "../src/gpu/node-webgpu.ts";
import { SWIFTSHADER_ICD, vulkanEnv } from "../test/helpers/gpu.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { BITNET_2B, BITNET_700M } from "../test/helpers/synthetic-model.ts";
import { type BenchShape, ensureSyntheticModel } from "./synthetic-models.ts";

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : def;
};

const TINY: BenchShape = {
  ...BITNET_2B,
  name: "bitnet-tiny-synthetic",
  dim: 512,
  layers: 4,
  heads: 8,
  kvHeads: 2,
  ffn: 1536,
  vocab: 32000,
};
const MODELS: Record<string, BenchShape> = { "2B": BITNET_2B, "700M": BITNET_700M, tiny: TINY };

async function ensureModel(cache: string, key: string): Promise<string> {
  const shape = MODELS[key];
  if (!shape) throw new Error(`unknown --model ${key} (2B, 700M, tiny)`);
  return ensureSyntheticModel(cache, shape);
}

const xdg = vulkanEnv(flag("swiftshader") ? SWIFTSHADER_ICD : undefined);
const gpu = await acquireGpu({ gpu: await nodeWebGpu(), powerPreference: "high-performance" });
const software = gpu.tuning === CPU_ADAPTER_TUNING;
const key = opt("model", software ? "tiny" : "2B");
const prefill = Number(opt("prefill", "128"));
const decode = Number(opt("decode", "128"));
const path = await ensureModel(opt("cache", join(homedir(), ".cache", "ternion-bench")), key);

const source = await openFileSource(path);
let t0 = performance.now();
const model = await GpuModel.load(gpu, source, { maxBatch: Math.max(prefill, 1), contextLength: prefill + decode + 8 });
const loadSeconds = (performance.now() - t0) / 1000;
await source.close();

let seed = 12345;
const prompt = Array.from({ length: prefill }, () => 3 + ((seed = (seed * 1103515245 + 12345) >>> 0) % (model.config.vocabSize - 3)));
await model.forwardArgmax(prompt.slice(0, 8), 0); // warm-up: first use of every pipeline
t0 = performance.now();
let next = await model.forwardArgmax(prompt, 0);
const prefillSeconds = (performance.now() - t0) / 1000;
const one = new Uint32Array(1);
t0 = performance.now();
for (let i = 0; i < decode; i++) {
  one[0] = next;
  next = await model.forwardArgmax(one, prefill + i);
}
const decodeSeconds = (performance.now() - t0) / 1000;
const s = model.stats();
const row = {
  adapter: s.adapter,
  softwareAdapter: software,
  model: MODELS[key]!.name,
  prefillTokens: prefill,
  decodeTokens: decode,
  prefillTokensPerSecond: prefill / prefillSeconds,
  decodeTokensPerSecond: decode / decodeSeconds,
  msPerDecodeToken: (decodeSeconds * 1000) / decode,
  loadSeconds,
  gpuMemoryMiB: {
    weights: s.weightBytes / 2 ** 20,
    kvCache: s.kvCacheBytes / 2 ** 20,
    scratch: s.scratchBytes / 2 ** 20,
    total: s.totalBytes / 2 ** 20,
  },
  dispatchesPerToken: s.dispatchesPerToken,
  packedDot: gpu.packedDot,
  lanes: gpu.tuning.lanes,
};
model.dispose();
gpu.destroy();
if (xdg) rmSync(xdg, { recursive: true, force: true });

if (flag("json")) console.log(JSON.stringify(row));
else {
  const f = (v: number) => v.toFixed(v < 10 ? 2 : 1);
  console.log(`adapter: ${row.adapter}${software ? " (software adapter: figures are a smoke check only)" : ""}`);
  console.log(`model:   ${row.model} (TQ2_0, F16 tied embedding), ${row.dispatchesPerToken} dispatches per token`);
  console.log(`prefill: ${prefill} tokens, ${f(row.prefillTokensPerSecond)} tokens/s`);
  console.log(`decode:  ${decode} tokens, ${f(row.decodeTokensPerSecond)} tokens/s (${f(row.msPerDecodeToken)} ms/token)`);
  const m = row.gpuMemoryMiB;
  console.log(
    `memory:  ${f(m.total)} MiB on the GPU (weights ${f(m.weights)}, KV cache ${f(m.kvCache)}, scratch ${f(m.scratch)}); load ${f(loadSeconds)} s`,
  );
}
process.exit(0);
