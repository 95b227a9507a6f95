// The GPU model's weights, read from the file one tensor at a time and uploaded as they come: matrices as
// ./weights.ts lays them out (a fine-tuned DLT matrix with its α and γ), norm gains as f32 buffers.
import { GpuError } from "../runtime/errors.ts";
import { readTensorData } from "../runtime/gguf/reader.ts";
import type { ByteSource } from "../runtime/gguf/source.ts";
import type { GgufHeader, GgufTensorInfo } from "../runtime/gguf/types.ts";
import { type BlockTensors, readBlockAsync } from "../runtime/model/block.ts";
import type { ModelConfig } from "../runtime/model/config.ts";
import { dltMatrixInfo, readDltMatrix } from "../runtime/model/dlt-file.ts";
import { modelSalientMatrix, readSalientMatrix } from "../runtime/model/salient-file.ts";
import { expectedTensors } from "../runtime/model/tensors.ts";
import { checkFiniteNorm, checkFiniteScales } from "../runtime/model/finite-weights.ts";
import { f16BitsToF32 } from "../runtime/tensor-types/half.ts";
import { tensorTypeTraits } from "../runtime/tensor-types/table.ts";
import type { GpuArena } from "./resources.ts";
import { uploadSalient } from "./salient.ts";
import { type GpuFloat, type GpuMatrix, hostDlt, hostMatrix, uploadMatrix } from "./weights.ts";

/** A block's weights on the GPU: norm gains as f32 buffers, matrices as ./weights.ts holds them. */
export type GpuBlock = BlockTensors<GPUBuffer, GpuMatrix>;

export interface GpuModelWeights {
  /** token_embd: looked up by row, and the output head when the output is tied. */
  embedding: GpuFloat;
  blocks: GpuBlock[];
  outputNorm: GPUBuffer;
  head: GpuMatrix;
}

/**
 * Uploads every weight of the model into `arena`. `maxChunkBytes` bounds a float matrix's row chunk (default
 * the device's binding limit). Throws GpuError UNSUPPORTED_TENSOR for a tensor the GPU path cannot run.
 */
export async function readGpuWeights(
  arena: GpuArena,
  source: ByteSource,
  header: GgufHeader,
  c: ModelConfig,
  maxChunkBytes?: number,
): Promise<GpuModelWeights> {
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  const info = (name: string): GgufTensorInfo => byName.get(name)!; // modelConfigFromGguf checked presence
  const expected = new Map(expectedTensors(c).map((e) => [e.name, e]));
  const matrix = async (name: string): Promise<GpuMatrix> => {
    const t = info(name);
    const side = modelSalientMatrix(byName, t, expected.get(name)!);
    const m = await plainMatrix(t);
    // a ternary block matrix with a salient side matrix (model/salient-file.ts refuses one anywhere else)
    if (side && m.kind === "ternary") m.salient = uploadSalient(arena, name, await readSalientMatrix(source, header, side));
    return m;
  };
  const plainMatrix = async (t: GgufTensorInfo): Promise<GpuMatrix> => {
    const name = t.name;
    const dlt = dltMatrixInfo(header, byName, t, expected.get(name)!.dims[0]!);
    if (dlt) {
      // a fine-tuned DLT matrix: 2-bit codes with per-group α and γ
      const d = await readDltMatrix(source, header, dlt);
      return uploadMatrix(arena, name, hostDlt(d.codes, f16ArrayToF32(d.alpha), f16ArrayToF32(d.gamma), dlt.group, dlt.rows, dlt.cols));
    }
    const data = await readTensorData(source, header, t);
    checkFiniteScales(t, data);
    return uploadMatrix(arena, name, hostMatrix(t.type, data, t.dims[1] ?? 1, t.dims[0]!), maxChunkBytes);
  };
  const norm = async (name: string): Promise<GPUBuffer> => {
    const t = info(name);
    const values = new Float32Array(t.dims[0]!);
    tensorTypeTraits(t.type).dequantize(await readTensorData(source, header, t), values);
    checkFiniteNorm(name, values);
    return arena.upload(name, values);
  };

  const embedding = await matrix("token_embd.weight");
  if (embedding.kind !== "float")
    throw new GpuError("UNSUPPORTED_TENSOR", "token_embd.weight must be a float type (F32, F16, BF16, Q8_0) on the GPU");
  const blocks: GpuBlock[] = [];
  for (let l = 0; l < c.layers; l++) {
    blocks.push(await readBlockAsync(c, l, { norm: (t) => norm(t.name), matrix: (t) => matrix(t.name) }));
  }
  const outputNorm = await norm("output_norm.weight");
  const head = c.tiedOutput ? embedding : await matrix("output.weight");
  return { embedding, blocks, outputNorm, head };
}

function f16ArrayToF32(bits: Uint16Array): Float32Array {
  return Float32Array.from(bits, f16BitsToF32);
}
