import { defineConfig } from "vitest/config";
import { TEST_CACHE } from "./test/helpers/test-cache.ts";

// Node 20 has WebAssembly relaxed SIMD only behind a flag; the kernel tests run both wasm builds, so the test
// processes get the flag there (Node 22+ has relaxed SIMD by default and may not know the flag).
const nodeMajor = Number(process.versions.node.split(".")[0]);
const execArgv = nodeMajor < 22 ? ["--experimental-wasm-relaxed-simd"] : [];

// End-to-end tests (`npm run test:e2e`): each starts something outside the test process — a browser, the engine's
// worker, the CLI or another process, Deno, llama.cpp (node-llama-cpp), a WebGPU adapter — or runs a whole
// fine-tune. Every other test file is a unit test (`npm run test:unit`); `npm test` runs both.
const e2e = [
  "test/browser*.test.ts",
  "test/bundle.test.ts",
  "test/cli-bench.test.ts",
  "test/cli-chat.test.ts",
  "test/cli-errors.test.ts",
  "test/cli-generate.test.ts",
  "test/cli-pull.test.ts",
  "test/cli-inspect.test.ts",
  "test/cli-inspect-sparsity.test.ts",
  "test/cli-quantize-salient.test.ts",
  "test/cli-salient.test.ts",
  "test/convert-bitllama.test.ts",
  "test/chat-options.test.ts",
  "test/context-shift.test.ts",
  "test/engine-api.test.ts",
  "test/engine-arguments.test.ts",
  "test/engine-chat-template.test.ts",
  "test/engine-deno.test.ts",
  "test/engine-finetune.test.ts",
  "test/engine-hub.test.ts",
  "test/engine-llama.test.ts",
  "test/examples.test.ts",
  "test/gguf-llama.test.ts",
  "test/gpu-*.test.ts",
  "test/hostile-checkpoints.test.ts",
  "test/hostile-corpus.test.ts",
  "test/quantize.test.ts",
  "test/serve.test.ts",
  "test/serve-chat-options.test.ts",
  "test/real-models-llama.test.ts",
  "test/split-model-commands.test.ts",
  "test/tokenizer-bpe.test.ts",
  "test/tokenizer-spm.test.ts",
  "test/train-finetune.test.ts",
  "test/train-finetune-memory.test.ts",
];

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    execArgv,
    // WebGPU tests (test/gpu-*.test.ts) run on SwiftShader, the Vulkan driver on the CPU that Debian's chromium
    // ships; Dawn's Vulkan loader reads these (test/helpers/gpu.ts sets them too when unset).
    // The model cache of every test (and of the CLI processes they start) is a folder of this run's, never the
    // user's ~/.cache/ternion; tests that check the cache itself make their own.
    globalSetup: ["test/helpers/test-cache.ts"],
    env: {
      VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? "/usr/lib/chromium/vk_swiftshader_icd.json",
      TERNION_CACHE: TEST_CACHE,
    },
    projects: [
      { extends: true, test: { name: "unit", include: ["test/**/*.test.ts"], exclude: e2e } },
      { extends: true, test: { name: "e2e", include: e2e } },
    ],
  },
});
