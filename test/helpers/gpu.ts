// The WebGPU device of the GPU tests: Node's `webgpu` package (Dawn) on SwiftShader, a Vulkan driver that
// runs on the CPU (Debian's chromium ships it), so the shaders really run on a machine without a GPU.
// One device per test file (vitest runs each file in its own worker).
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { acquireGpu, type GpuContext } from "../../src/gpu/device.ts";
import { nodeWebGpu } from "../../src/gpu/node-webgpu.ts";

export const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";

let ctx: Promise<GpuContext> | undefined;

/**
 * The environment Dawn's Vulkan loader reads when it creates its instance: `icd` as the driver (unless one is
 * set already), and a runtime directory, returned when this call made it. vitest.config.ts sets the driver too;
 * bench/gpu.ts calls this.
 */
export function vulkanEnv(icd?: string): string | undefined {
  if (icd) process.env.VK_ICD_FILENAMES ??= icd;
  if (process.env.XDG_RUNTIME_DIR) return undefined;
  const dir = join(tmpdir(), `ternion-xdg-${process.pid}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  process.env.XDG_RUNTIME_DIR = dir;
  return dir;
}

export function testGpu(): Promise<GpuContext> {
  ctx ??= (async () => {
    vulkanEnv(SWIFTSHADER_ICD);
    return acquireGpu({ gpu: await nodeWebGpu() });
  })();
  return ctx;
}

/** A step uniform {pos0, n}. */
export function stepBuffer(c: GpuContext, pos0: number, n: number): GPUBuffer {
  const b = c.device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  c.device.queue.writeBuffer(b, 0, new Uint32Array([pos0, n, 0, 0]));
  return b;
}
