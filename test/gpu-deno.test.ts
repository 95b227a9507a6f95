// The WebGPU backend under Deno's own WebGPU (wgpu) with Mesa's lavapipe Vulkan driver: a real kernel pair
// (Q8_K quantization + TQ2_0 matmul) through navigator.gpu, checked against the CPU reference.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "./helpers/cli.ts";

const LAVAPIPE_ICD = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json";

describe("Deno (built-in WebGPU)", () => {
  it("runs the quantize + TQ2_0 matmul kernels through navigator.gpu", () => {
    const deno = repoRoot + "node_modules/.bin/deno";
    const env: Record<string, string | undefined> = {
      ...process.env,
      DENO_NO_UPDATE_CHECK: "1",
      NO_COLOR: "1",
      XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? mkdtempSync(join(tmpdir(), "ternion-xdg-")),
    };
    // lavapipe (Debian's mesa-vulkan-drivers) where it is installed; else the loader's default ICDs.
    if (existsSync(LAVAPIPE_ICD)) env.VK_ICD_FILENAMES = LAVAPIPE_ICD;
    else delete env.VK_ICD_FILENAMES;
    const r = spawnSync(deno, ["run", "--quiet", "--no-prompt", "--allow-read", "--allow-env", "--unstable-webgpu", "test/deno/gpu-smoke.ts"], {
      cwd: repoRoot,
      encoding: "utf8",
      env,
      timeout: 110_000,
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    console.log(`Deno adapter: ${out.adapter} (dot4I8Packed ${out.packedDot}, ${out.lanes} lanes)`);
    expect(out.maxAbs).toBeGreaterThan(0.1);
    expect(out.maxErr).toBeLessThan(1e-5 * Math.max(1, out.maxAbs));
  });
});
