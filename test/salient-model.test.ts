// A model with salient side matrices end to end: synthetic ternary models (I2_S bitnet, TQ2_0 llama) with a random
// side matrix beside every block matrix, written by the format (docs/ARCHITECTURE.md section 3), against the dense
// reference forward pass of decode(X.weight) + S (S·x taking the unrounded input, as the format says). The same
// model without its side matrices is far from that reference, so the comparison sees the side product.
import { beforeAll, describe, expect, it } from "vitest";
import { CpuModel } from "../src/runtime/cpu/model.ts";
import { readGgufHeader } from "../src/runtime/gguf/reader.ts";
import { bytesSource } from "../src/runtime/gguf/sources.ts";
import { type GgufWriteInput, writeGgufToBytes } from "../src/runtime/gguf/writer.ts";
import { modelConfigFromGguf } from "../src/runtime/model/config.ts";
import { denseSalient, type SalientMatrixData } from "../src/runtime/model/salient-file.ts";
import { loadWeights, referenceLogits } from "./helpers/reference-forward.ts";
import { SALIENT_SHAPES, withRandomSalient } from "./helpers/salient.ts";
import { syntheticModel } from "./helpers/synthetic-model.ts";

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i]! - b[i]!));
  return e;
}

async function bytesOf(input: GgufWriteInput): Promise<Uint8Array> {
  return writeGgufToBytes(input);
}

describe.each(Object.entries(SALIENT_SHAPES))("%s with 2 % salient side matrices", (_, shape) => {
  let bytes: Uint8Array;
  let plainBytes: Uint8Array;
  let sides: Map<string, SalientMatrixData>;
  const tokens = [1, 17, 200, 33, 5, 250, 99, 64, 12];
  beforeAll(async () => {
    const plain = syntheticModel(shape);
    // side values up to 4× the ternary scale: far from a rounding-level change of the logits
    const made = withRandomSalient(plain, 0.02, 7, 4 / Math.sqrt(shape.dim * 0.5));
    sides = made.sides;
    bytes = await bytesOf(made.model);
    plainBytes = await bytesOf(plain);
  });

  /** The dense reference forward pass of decode(W) + S. */
  async function reference(): Promise<Float64Array[]> {
    const source = bytesSource(bytes);
    const header = await readGgufHeader(source);
    const config = modelConfigFromGguf(header.metadata, header.tensors);
    const weights = await loadWeights(source, header);
    const dense = new Map([...sides].map(([name, s]) => [name, denseSalient(s)]));
    return referenceLogits(config, weights, tokens, "bitnet.cpp", dense);
  }

  it("CPU logits equal the dense reference of decode(W) + S, on 1 and 2 threads; without S they do not", async () => {
    const want = await reference();
    const errors: number[] = [];
    for (const threads of [1, 2]) {
      const model = await CpuModel.load(bytesSource(bytes), { threads, kvType: "f32", contextLength: 16, batchSize: 4 });
      let err = 0;
      model.eval(tokens, "all", (i, logits) => (err = Math.max(err, maxAbsDiff(logits, want[i]!))));
      errors.push(err);
      model.dispose();
    }
    const plain = await CpuModel.load(bytesSource(plainBytes), { threads: 1, kvType: "f32", contextLength: 16 });
    let plainErr = 0;
    plain.eval(tokens, "all", (i, logits) => (plainErr = Math.max(plainErr, maxAbsDiff(logits, want[i]!))));
    plain.dispose();
    console.log(
      `${shape.name}: max |CPU − reference| ${errors.map((e) => e.toExponential(2)).join(", ")}; without the side matrices ${plainErr.toExponential(2)}`,
    );
    for (const e of errors) expect(e).toBeLessThan(TOLERANCE[shape.name]!);
    expect(plainErr).toBeGreaterThan(10 * TOLERANCE[shape.name]!);
  });

  it("the memory plan counts the side matrices, their padding to blocks of 4 at its largest, and the heap holds no more", async () => {
    const withSide = await CpuModel.load(bytesSource(bytes), { threads: 1, contextLength: 16 });
    const plain = await CpuModel.load(bytesSource(plainBytes), { threads: 1, contextLength: 16 });
    const nnz = [...sides.values()].reduce((a, s) => a + s.idx.length, 0);
    const rows = [...sides.values()].reduce((a, s) => a + s.rows, 0);
    const planned = withSide.plan.weights - plain.plan.weights;
    expect(planned).toBeGreaterThanOrEqual(3 * (nnz + 3 * rows) - 12 * sides.size + 8 * rows);
    expect(planned).toBeLessThan(3 * (nnz + 3 * rows) + 8 * rows + 64 * 5 * sides.size);
    const held = withSide.stats().heapBytes - plain.stats().heapBytes;
    expect(held).toBeGreaterThanOrEqual(3 * nnz + 8 * rows);
    expect(held).toBeLessThanOrEqual(planned);
    withSide.dispose();
    plain.dispose();
  });
});

/**
 * I2_S on a bitnet model: the CPU's int8-per-token rounding is the reference's ("bitnet.cpp"), so only f32 vs f64
 * sums differ (measured 2e-5). TQ2_0 on llama: the CPU quantizes the ternary product's input to Q8_K, the reference
 * does not (measured 0.14, against 6.2 without the side matrices).
 */
const TOLERANCE: Record<string, number> = { "salient-i2s": 2e-3, "salient-tq2": 0.25 };
