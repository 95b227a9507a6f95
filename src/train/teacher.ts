// The float teacher: every tensor of a GGUF model dequantized to f32 (llama-family models small enough to
// train on the device), with its checked ModelConfig. Platform-neutral: give it any ByteSource, read one tensor
// at a time (a file's bytes are never held whole), and the header when it is read already (a split model's).
import { readGgufHeader, readTensorData } from "../runtime/gguf/reader.ts";
import type { ByteSource } from "../runtime/gguf/source.ts";
import type { GgufHeader } from "../runtime/gguf/types.ts";
import { type ModelConfig, modelConfigFromGguf } from "../runtime/model/config.ts";
import { tensorTypeTraits } from "../runtime/tensor-types/table.ts";

export interface FloatModel {
  header: GgufHeader;
  config: ModelConfig;
  /** Every tensor as f32, by name; matrices [out][in] row-major. */
  tensors: Map<string, Float32Array>;
}

export async function loadFloatModel(source: ByteSource, parsed?: GgufHeader): Promise<FloatModel> {
  const header = parsed ?? (await readGgufHeader(source));
  const config = modelConfigFromGguf(header.metadata, header.tensors);
  const tensors = new Map<string, Float32Array>();
  for (const t of header.tensors) {
    const values = new Float32Array(t.dims.reduce((a, b) => a * b, 1));
    tensorTypeTraits(t.type).dequantize(await readTensorData(source, header, t), values);
    tensors.set(t.name, values);
  }
  return { header, config, tensors };
}
