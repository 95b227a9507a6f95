// Evaluation of a model file with the inference engine itself: the bytes of a GGUF (an exported student, a
// baseline, the teacher) are loaded into a CpuModel from memory and scored with runtime/model/perplexity.ts
// (llama.cpp's method). Every row of a comparison therefore runs the same code a user runs — for DLT rows
// that includes the engine's int8-per-group activation quantization, which training does not model.
import { CpuLanguageModel } from "../runtime/cpu/language-model.ts";
import { CpuModel } from "../runtime/cpu/model.ts";
import { bytesSource } from "../runtime/gguf/sources.ts";
import type { GgufModel } from "../runtime/gguf/split.ts";
import { perplexity, type PerplexityResult } from "../runtime/model/perplexity.ts";

export interface EvalOptions {
  /** Window length (default min(512, the model's context)). */
  ctx?: number;
  threads?: number;
  signal?: AbortSignal;
}

/** `model`: a GGUF's bytes, or a model opened by source and header (a teacher's file, a split model). */
export async function perplexityOfGguf(model: Uint8Array | GgufModel, text: string, o: EvalOptions = {}): Promise<PerplexityResult> {
  const { source, header } = model instanceof Uint8Array ? { source: bytesSource(model), header: undefined } : model;
  const cpu = await CpuModel.load(source, {
    header,
    kvType: "f32",
    threads: o.threads ?? 1,
    contextLength: (config) => o.ctx ?? Math.min(512, config.contextLength),
  });
  try {
    return await perplexity(new CpuLanguageModel(cpu), text, { ctx: cpu.contextLength, signal: o.signal });
  } finally {
    cpu.dispose();
  }
}
