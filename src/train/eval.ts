// Evaluation of a model file with the inference engine itself: the bytes of a GGUF (an exported student, a
// baseline, the teacher) are loaded into a CpuModel from memory and scored with runtime/model/perplexity.ts
// (llama.cpp's method). Every row of a comparison therefore runs the same code a user runs — for DLT rows
// that includes the engine's int8-per-group activation quantization, which training does not model.
import { CpuLanguageModel } from "../runtime/cpu/language-model.ts";
import { CpuModel } from "../runtime/cpu/model.ts";
import { bytesSource } from "../runtime/gguf/sources.ts";
import { perplexity, type PerplexityResult } from "../runtime/model/perplexity.ts";

export interface EvalOptions {
  /** Window length (default min(512, the model's context)). */
  ctx?: number;
  threads?: number;
  signal?: AbortSignal;
}

export async function perplexityOfGguf(bytes: Uint8Array, text: string, o: EvalOptions = {}): Promise<PerplexityResult> {
  const model = await CpuModel.load(bytesSource(bytes), {
    kvType: "f32",
    threads: o.threads ?? 1,
    contextLength: (config) => o.ctx ?? Math.min(512, config.contextLength),
  });
  try {
    return await perplexity(new CpuLanguageModel(model), text, { ctx: model.contextLength, signal: o.signal });
  } finally {
    model.dispose();
  }
}
