// The synthetic benchmark models (BitNet b1.58 shapes, test/helpers/synthetic-model.ts), generated once into a
// cache directory outside the repository and shared by bench/decode.ts, bench/gpu.ts and the serving benches.
// Two files per shape:
// - TQ2_0, architecture "bitnet" (what llama.cpp and ternion run),
// - I2_S, architecture "bitnet-b1.58" (what bitnet.cpp runs: its I2_S kernels and the architecture of BitNet
//   b1.58 2B-4T's own GGUF; ternion runs it too, llama.cpp has no I2_S).
// Both have the tied F16 head of the shapes: bitnet.cpp's "bitnet-b1.58" always uses token_embd as the head.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { ModelError } from "../src/runtime/errors.ts";
import { writeGgufFile } from "../src/runtime/gguf/writer-node.ts";
import { GgmlType } from "../src/runtime/tensor-types/table.ts";
import { syntheticModel, type SyntheticShape } from "../test/helpers/synthetic-model.ts";

export type BenchShape = Omit<SyntheticShape, "seed" | "ternary">;

/** The ternary file formats the benches generate. */
export const BENCH_FORMATS = ["tq2_0", "i2_s"] as const;
export type BenchFormat = (typeof BENCH_FORMATS)[number];

/** Bump when the generator changes, so that stale cached files are not reused. */
const GENERATOR_VERSION = 1;

/** The cache file name of `shape` in `format`. */
export function syntheticModelFileName(shape: BenchShape, format: BenchFormat): string {
  return `${shape.name}-${format}-v${GENERATOR_VERSION}.gguf`;
}

/** The model file of `shape` in `cache`, generated (same seed every time) when it is not there yet. */
export async function ensureSyntheticModel(cache: string, shape: BenchShape, format: BenchFormat = "tq2_0"): Promise<string> {
  const path = join(cache, syntheticModelFileName(shape, format));
  if (!existsSync(path)) {
    mkdirSync(cache, { recursive: true });
    process.stderr.write(`generating ${path} …\n`);
    const model =
      format === "tq2_0"
        ? { ...shape, ternary: GgmlType.TQ2_0 as const }
        : { ...shape, architecture: "bitnet-b1.58" as const, ternary: GgmlType.I2_S as const };
    if (format === "i2_s" && !shape.tiedOutput)
      throw new ModelError("UNTIED_HEAD", `${shape.name}: an I2_S bench model needs a tied head (bitnet.cpp ignores output.weight)`);
    await writeGgufFile(path, syntheticModel({ ...model, seed: 42 }));
  }
  return path;
}
