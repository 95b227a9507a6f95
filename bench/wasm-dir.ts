// The kernels' `wasm` option for a bench's `--wasm DIR` (a build directory, relative to the working directory or
// absolute; scripts/bench-kernels.mjs passes dist/wasm unless the caller names another build).
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

export function wasmFromDir(dir: string): { baseUrl: URL } | undefined {
  return dir ? { baseUrl: pathToFileURL(`${resolve(dir)}/`) } : undefined;
}
