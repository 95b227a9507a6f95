// Prepares `.device/` for running the WebGPU benchmark on a lent GPU machine (the `device` tool), which has Node
// but no network and gets only the working tree plus up to 64 MiB of carried ignored paths: the benchmark bundled
// into one file, and the `webgpu` package pruned to its linux-x64 build (≈ 21 MB). On the device:
//   node .device/bench-gpu.mjs --model 2B          (carry: [".device"]; see bench/README.md)
import { build } from "esbuild";
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { resolve } from "node:path";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = resolve(root, ".device");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [resolve(root, "bench/gpu.ts")],
  outfile: resolve(out, "bench-gpu.mjs"),
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  external: ["webgpu"],
  logLevel: "warning",
});
const pkg = resolve(root, "node_modules/webgpu");
const dst = resolve(out, "node_modules/webgpu");
for (const part of ["package.json", "index.js", "types.d.ts", "LICENSE.md", "dist/linux-x64"]) {
  cpSync(resolve(pkg, part), resolve(dst, part), { recursive: true });
}
console.log(`wrote ${out}: bench-gpu.mjs and node_modules/webgpu (linux-x64)`);
