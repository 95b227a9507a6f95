// The wasm CPU model (runtime/cpu) as a LanguageModel: its synchronous eval behind the async interface. The CPU
// computes the logits on the calling thread anyway, so greedy decoding needs no separate argmax path.
import { CpuModel, type CpuModelOptions } from "./model.ts";
import type { ByteSource } from "../gguf/source.ts";
import type { BackendInfo, LanguageModel, LogitsCallback } from "../model/language-model.ts";

export class CpuLanguageModel implements LanguageModel {
  constructor(readonly model: CpuModel) {}

  static async load(source: ByteSource, options: CpuModelOptions = {}): Promise<CpuLanguageModel> {
    return new CpuLanguageModel(await CpuModel.load(source, options));
  }

  get config() {
    return this.model.config;
  }
  get tokenizer() {
    return this.model.tokenizer;
  }
  get contextLength(): number {
    return this.model.contextLength;
  }
  get position(): number {
    return this.model.position;
  }

  reset(position = 0): void {
    this.model.reset(position);
  }

  async forward(tokens: ArrayLike<number>): Promise<Float32Array> {
    return this.model.eval(tokens, "last")!;
  }

  async forwardEach(tokens: ArrayLike<number>, sink: LogitsCallback): Promise<void> {
    this.model.eval(tokens, "all", sink);
  }

  backendInfo(): BackendInfo {
    const k = this.model.stats();
    const info: BackendInfo = {
      backend: "wasm",
      threads: k.threads,
      simd: k.simd,
      simdReason: k.simdReason,
      kvType: this.model.kvType,
      memory: { ...this.model.plan },
    };
    if (k.threadFallbackReason !== undefined) info.threadsReason = k.threadFallbackReason;
    return info;
  }

  dispose(): void {
    this.model.dispose();
  }
}
