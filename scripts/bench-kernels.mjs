// `npm run bench:kernels [-- options]`: bundles bench/kernels.ts with esbuild (Node 20 cannot run TypeScript)
// into .bench-cache/ and runs it, with --experimental-wasm-relaxed-simd on Node < 22 so that both wasm builds
// are measured. Options are passed through (see bench/kernels.ts).
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { resolve } from "node:path";

const root = fileURLToPath(new URL("..", import.meta.url));
const wasmDir = resolve(root, "dist/wasm");
if (!existsSync(resolve(wasmDir, "ternion-simd.wasm"))) {
  console.error("dist/wasm/ternion-simd.wasm is missing: run `npm run build:wasm` first");
  process.exit(1);
}
const outDir = resolve(root, ".bench-cache");
mkdirSync(outDir, { recursive: true });
const entry = process.env.BENCH_ENTRY ?? "bench/kernels.ts";
const outfile = resolve(outDir, entry.replace(/[\\/]/g, "_").replace(/\.ts$/, ".mjs"));
await build({
  entryPoints: [resolve(root, entry)],
  outfile,
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  packages: "external",
  logLevel: "warning",
});
const major = Number(process.versions.node.split(".")[0]);
const flags = major < 22 ? ["--experimental-wasm-relaxed-simd"] : [];
// the built dist/wasm unless the caller names another build (`--wasm DIR`, for A/B runs of two builds)
const args = process.argv.slice(2);
const wasmArgs = args.includes("--wasm") ? [] : ["--wasm", wasmDir];
const r = spawnSync(process.execPath, [...flags, outfile, ...wasmArgs, ...args], { stdio: "inherit" });
process.exit(r.status ?? 1);
