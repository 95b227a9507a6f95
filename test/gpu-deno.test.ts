// The WebGPU backend under Deno's own WebGPU (wgpu) with Mesa's lavapipe Vulkan driver: a real kernel pair
// (Q8_K quantization + TQ2_0 matmul) through navigator.gpu, checked against the CPU reference.
import { describe, expect, it } from "vitest";
import { runDeno } from "./helpers/deno.ts";
import { lacks } from "./helpers/optional-deps.ts";

describe.skipIf(lacks("deno"))("Deno (built-in WebGPU)", () => {
  it("runs the quantize + TQ2_0 matmul kernels through navigator.gpu", () => {
    const r = runDeno(["--allow-read", "--allow-env", "--unstable-webgpu", "test/deno/gpu-smoke.ts"], { webgpu: true });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    console.log(`Deno adapter: ${out.adapter} (dot4I8Packed ${out.packedDot}, ${out.lanes} lanes)`);
    expect(out.maxAbs).toBeGreaterThan(0.1);
    expect(out.maxErr).toBeLessThan(1e-5 * Math.max(1, out.maxAbs));
  });
});
