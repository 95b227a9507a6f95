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
  },
});
