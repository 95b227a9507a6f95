// The WebGPU model (src/gpu) as a LanguageModel. GpuModel runs tokens at positions it is told; this adapter
// keeps the sequence's position, the tokenizer, and the CPU engine's typed errors for a full context or a
// token outside the vocabulary. A lost device surfaces from GpuModel as GpuError DEVICE_LOST.
import type { GpuContext } from "./device.ts";
import { GpuModel, type GpuModelOptions } from "./model.ts";
import { ContextError, ModelError, OptionError } from "../runtime/errors.ts";
import { NON_FINITE_ARGMAX } from "./wgsl/argmax.ts";
import { readGgufHeader } from "../runtime/gguf/reader.ts";
import type { ByteSource } from "../runtime/gguf/source.ts";
import { tokenizerFromGguf } from "../runtime/tokenizer/index.ts";
import type { Tokenizer } from "../runtime/tokenizer/types.ts";
import type { BackendInfo, LanguageModel, LogitsCallback } from "../runtime/model/language-model.ts";

export class GpuLanguageModel implements LanguageModel {
  private pos = 0;
  private readonly logits: Float32Array<ArrayBuffer>;
  private readonly one = new Uint32Array(1);

  constructor(
    readonly model: GpuModel,
    readonly tokenizer: Tokenizer,
    /** Destroyed with the model when the adapter acquired the device itself. */
    private readonly ownsDevice: boolean,
  ) {
    this.logits = new Float32Array(model.config.vocabSize);
  }

  /** Loads a model onto `ctx`'s device; `ownsDevice`: dispose() destroys the device too. */
  static async load(ctx: GpuContext, source: ByteSource, options: GpuModelOptions = {}, ownsDevice = false): Promise<GpuLanguageModel> {
    const header = options.header ?? (await readGgufHeader(source));
    const tokenizer = tokenizerFromGguf(header.metadata);
    const model = await GpuModel.load(ctx, source, { ...options, header });
    return new GpuLanguageModel(model, tokenizer, ownsDevice);
  }

  get config() {
    return this.model.config;
  }
  get contextLength(): number {
    return this.model.stats().contextLength;
  }
  get position(): number {
    return this.pos;
  }

  reset(position = 0): void {
    if (!Number.isInteger(position) || position < 0 || position > this.pos) {
      throw new OptionError("BAD_OPTION", `cannot rewind to position ${position} (the sequence has ${this.pos} tokens)`);
    }
    this.pos = position;
  }

  async forward(tokens: ArrayLike<number>): Promise<Float32Array> {
    this.check(tokens);
    await this.model.forward(tokens, this.pos, this.logits);
    this.pos += tokens.length;
    return this.logits;
  }

  async forwardArgmax(tokens: ArrayLike<number>): Promise<number> {
    this.check(tokens);
    const id = await this.model.forwardArgmax(tokens, this.pos);
    this.pos += tokens.length;
    if (id === NON_FINITE_ARGMAX) {
      throw new ModelError(
        "NON_FINITE_LOGITS",
        `the model computed a non-finite logit for position ${this.pos} (its weights hold NaN or infinity, or a tensor's data is not of its stated type)`,
      );
    }
    return id;
  }

  /** The GPU computes the last token's logits only, so every token is its own step here. */
  async forwardEach(tokens: ArrayLike<number>, sink: LogitsCallback): Promise<void> {
    this.check(tokens);
    for (let i = 0; i < tokens.length; i++) {
      this.one[0] = tokens[i]!;
      sink(i, await this.forward(this.one));
    }
  }

  backendInfo(): BackendInfo {
    const s = this.model.stats();
    return {
      backend: "webgpu",
      threads: 0,
      simd: "none",
      adapter: s.adapter,
      kvType: "f32",
      memory: { weights: s.weightBytes, kvCache: s.kvCacheBytes, scratch: s.scratchBytes, total: s.totalBytes },
    };
  }

  dispose(): void {
    this.model.dispose();
    if (this.ownsDevice) this.model.ctx.destroy();
  }

  /** The CPU model's errors for the same mistakes (GpuModel would say BAD_ARGUMENT). */
  private check(tokens: ArrayLike<number>): void {
    if (tokens.length === 0) throw new OptionError("BAD_OPTION", "forward needs at least one token");
    const capacity = this.contextLength;
    if (this.pos + tokens.length > capacity) {
      throw new ContextError("CONTEXT_FULL", `${this.pos + tokens.length} tokens do not fit the context of ${capacity} positions`);
    }
    const vocab = this.model.config.vocabSize;
    for (let i = 0; i < tokens.length; i++) {
      const id = tokens[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= vocab)
        throw new OptionError("BAD_TOKEN", `token id ${id} is outside the vocabulary (0 … ${vocab - 1})`);
    }
  }
}
