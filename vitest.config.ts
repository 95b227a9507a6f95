import { defineConfig } from "vitest/config";

// Node 20 has WebAssembly relaxed SIMD only behind a flag; the kernel tests run both wasm builds, so the test
// processes get the flag there (Node 22+ has relaxed SIMD by default and may not know the flag).
const nodeMajor = Number(process.versions.node.split(".")[0]);
const execArgv = nodeMajor < 22 ? ["--experimental-wasm-relaxed-simd"] : [];

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    execArgv,
    // WebGPU tests (test/gpu-*.test.ts) run on SwiftShader, the Vulkan driver on the CPU that Debian's chromium
    // ships; Dawn's Vulkan loader reads these (test/helpers/gpu.ts sets them too when unset).
    env: { VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? "/usr/lib/chromium/vk_swiftshader_icd.json" },
  },
});
