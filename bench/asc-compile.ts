// Compiles a bench-only AssemblyScript file (bench/*/…ts) to wasm in .bench-cache/ with the repository's asc, for
// benches that measure loops which are not part of the library's module (bench/ceiling.ts).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

// benches run bundled from .bench-cache/ (scripts/bench-kernels.mjs): the repository is one level up
export const repoRoot = fileURLToPath(new URL("..", import.meta.url));

/** Compiles `source` (relative to the repository) with simd + relaxed-simd at -O3; returns the module. */
export function compileBenchWasm(source: string, name: string): WebAssembly.Module {
  const out = `${repoRoot}.bench-cache/${name}.wasm`;
  const file = `${repoRoot}${source}`;
  execFileSync(
    process.execPath,
    [
      `${repoRoot}node_modules/assemblyscript/bin/asc.js`,
      file,
      "--outFile",
      out,
      "--runtime",
      "stub",
      "--noAssert",
      "-O3",
      "--initialMemory",
      "2",
      "--enable",
      "simd",
      "--enable",
      "relaxed-simd",
    ],
    { stdio: "inherit", cwd: dirname(file) },
  ); // not the root: its asconfig.json is the library's
  return new WebAssembly.Module(readFileSync(out));
}
