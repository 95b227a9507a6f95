// The synthetic TQ2_0 benchmark models (BitNet b1.58 shapes, test/helpers/synthetic-model.ts), generated once
// into a cache directory outside the repository and shared by bench/decode.ts and bench/gpu.ts.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { writeGgufFile } from "../src/runtime/gguf/writer-node.ts";
import { GgmlType } from "../src/runtime/tensor-types/table.ts";
import { syntheticModel, type SyntheticShape } from "../test/helpers/synthetic-model.ts";

export type BenchShape = Omit<SyntheticShape, "seed" | "ternary">;

/** Bump when the generator changes, so that stale cached files are not reused. */
const GENERATOR_VERSION = 1;

/** The model file of `shape` in `cache`, generated (same seed every time) when it is not there yet. */
export async function ensureSyntheticModel(cache: string, shape: BenchShape): Promise<string> {
  const path = join(cache, `${shape.name}-tq2_0-v${GENERATOR_VERSION}.gguf`);
  if (!existsSync(path)) {
    mkdirSync(cache, { recursive: true });
    process.stderr.write(`generating ${path} …\n`);
    await writeGgufFile(path, syntheticModel({ ...shape, ternary: GgmlType.TQ2_0, seed: 42 }));
  }
  return path;
}
