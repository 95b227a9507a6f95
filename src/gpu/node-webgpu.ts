// WebGPU in Node: the `webgpu` npm package (Dawn), loaded on demand so that nothing else needs it (it is not a
// runtime dependency). Its WebGPU constants (GPUBufferUsage, …) become globals, as browsers and Deno have them.
import { GpuError } from "../runtime/errors.ts";

/** The package's GPU entry point; GpuError NO_WEBGPU when the package is not installed. */
export async function nodeWebGpu(): Promise<GPU> {
  const name = "webgpu"; // a name bundlers leave alone: browser bundles never load it
  let mod: { create(flags: string[]): GPU; globals: object };
  try {
    mod = (await import(/* @vite-ignore */ name)) as typeof mod;
  } catch (e) {
    throw new GpuError("NO_WEBGPU", `gpu: "webgpu" needs the webgpu npm package (npm install webgpu): ${(e as Error).message}`);
  }
  for (const [k, v] of Object.entries(mod.globals)) if (!(k in globalThis)) Object.assign(globalThis, { [k]: v });
  return mod.create([]);
}
