// The GPU forward pass of the llama / bitnet graphs (ModelConfig), built once at load: every weight, scratch
// buffer, KV cache, uniform, pipeline and bind group is created in `load`; a step writes two small uniforms
// (position and token count, the token ids), records one compute pass into one command buffer and reads
// back one u32 (greedy) or the logits. A step of n tokens is a prefill (tiled matmuls, causal attention
// over the cache); n = 1 is a decode step. Only the last token's logits are computed.
//
// Loading is three steps: ./model-weights.ts reads the weights, ./model-buffers.ts allocates the KV cache and
// activations, ./model-passes.ts records the ops of the pass.
import { GpuError } from "../runtime/errors.ts";
import { readGgufHeader } from "../runtime/gguf/reader.ts";
import type { ByteSource } from "../runtime/gguf/source.ts";
import type { GgufHeader } from "../runtime/gguf/types.ts";
import { blockMatrices } from "../runtime/model/block.ts";
import { type ModelConfig, modelConfigFromGguf } from "../runtime/model/config.ts";
import type { GpuContext } from "./device.ts";
import type { OpEnv } from "./linear.ts";
import { allocateActivations, allocateKvCache, allocateQuantScratch } from "./model-buffers.ts";
import { recordForward } from "./model-passes.ts";
import { readGpuWeights } from "./model-weights.ts";
import { GpuArena, type GpuOp, mapRead, PipelineCache } from "./resources.ts";

export interface GpuModelOptions {
  /** The parsed header, if the caller has it already. */
  header?: GgufHeader;
  /** Most tokens one step processes; longer prompts run in several steps. Default 64. */
  maxBatch?: number;
  /** KV-cache positions. Default: the model's context length, at most 2048. */
  contextLength?: number;
  /** Tokens per thread of the prefill matmuls. Default 8. */
  prefillTile?: number;
  /** Largest float-matrix chunk (bytes); default the device's binding limit. Tests lower it. */
  maxChunkBytes?: number;
}

export interface GpuModelStats {
  adapter: string;
  weightBytes: number;
  kvCacheBytes: number;
  /** Activations, quantization scratch, uniforms, readback. */
  scratchBytes: number;
  totalBytes: number;
  pipelines: number;
  /** Dispatches recorded per decode step. */
  dispatchesPerToken: number;
  contextLength: number;
  maxBatch: number;
}

export class GpuModel {
  private busy = false;
  private disposed = false;
  private readonly stepData = new Uint32Array(4);
  private readonly ids: Uint32Array;

  /** @internal Use GpuModel.load. */
  constructor(
    readonly ctx: GpuContext,
    readonly config: ModelConfig,
    private readonly arena: GpuArena,
    private readonly stepBuf: GPUBuffer,
    private readonly tokenBuf: GPUBuffer,
    private readonly blockOps: GpuOp[],
    private readonly headOps: GpuOp[],
    private readonly argmaxOp: GpuOp,
    private readonly logits: GPUBuffer,
    private readonly result: GPUBuffer,
    private readonly readback: GPUBuffer,
    private readonly info: Omit<GpuModelStats, "totalBytes" | "adapter">,
  ) {
    this.ids = new Uint32Array(info.maxBatch);
  }

  /**
   * Reads the model (header, then one tensor at a time) and builds everything a step needs. Throws
   * ModelError for a file that is not a model, GpuError UNSUPPORTED_TENSOR / TOO_LARGE / SHADER_ERROR /
   * OUT_OF_MEMORY for one this device cannot run.
   */
  static async load(ctx: GpuContext, source: ByteSource, options: GpuModelOptions = {}): Promise<GpuModel> {
    const header = options.header ?? (await readGgufHeader(source));
    const c = modelConfigFromGguf(header.metadata, header.tensors);
    checkPlanOptions(c, options);
    const device = ctx.device;
    const arena = new GpuArena(ctx);
    device.pushErrorScope("out-of-memory");
    device.pushErrorScope("validation");
    try {
      const model = await build(ctx, arena, source, header, c, options);
      const validation = await device.popErrorScope();
      const oom = await device.popErrorScope();
      if (oom) throw new GpuError("OUT_OF_MEMORY", `loading the model: ${oom.message}`);
      if (validation) throw new GpuError("VALIDATION", `loading the model: ${validation.message}`);
      ctx.check();
      return model;
    } catch (e) {
      arena.destroy();
      throw e;
    }
  }

  stats(): GpuModelStats {
    return { ...this.info, adapter: this.ctx.adapterName, totalBytes: this.arena.bytes };
  }

  /** Runs `tokens` at positions pos, pos + 1, … and returns the logits after the last one. */
  async forward(tokens: ArrayLike<number>, pos: number, out = new Float32Array(this.config.vocabSize)): Promise<Float32Array> {
    await this.run(tokens, pos, "logits");
    out.set(new Float32Array(this.readback.getMappedRange(0, this.config.vocabSize * 4)));
    this.readback.unmap();
    return out;
  }

  /** As forward, but picks the greedy next token on the GPU and reads back only its id. */
  async forwardArgmax(tokens: ArrayLike<number>, pos: number): Promise<number> {
    await this.run(tokens, pos, "argmax");
    const id = new Uint32Array(this.readback.getMappedRange(0, 4))[0]!;
    this.readback.unmap();
    return id;
  }

  /** Greedy generation: `steps` tokens after `prompt` (fed from position 0). */
  async greedy(prompt: ArrayLike<number>, steps: number, onToken?: (id: number) => boolean | undefined): Promise<number[]> {
    const out: number[] = [];
    let next = await this.forwardArgmax(prompt, 0);
    let pos = prompt.length;
    const one = new Uint32Array(1);
    for (let i = 0; i < steps; i++) {
      out.push(next);
      if (onToken?.(next) === false || i === steps - 1) break;
      one[0] = next;
      next = await this.forwardArgmax(one, pos++);
    }
    return out;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.arena.destroy();
  }

  private async run(tokens: ArrayLike<number>, pos: number, want: "logits" | "argmax"): Promise<void> {
    if (this.disposed) throw new GpuError("DISPOSED", "the GPU model was disposed");
    if (this.busy) throw new GpuError("BUSY", "a forward step is already running on this model");
    this.ctx.check();
    const n = tokens.length;
    if (n < 1 || !Number.isInteger(pos) || pos < 0 || pos + n > this.info.contextLength) {
      throw new GpuError("BAD_ARGUMENT", `tokens ${n} at position ${pos} do not fit the context of ${this.info.contextLength}`);
    }
    for (let i = 0; i < n; i++) {
      const t = tokens[i]!;
      if (!Number.isInteger(t) || t < 0 || t >= this.config.vocabSize) throw new GpuError("BAD_ARGUMENT", `token ${t} is not in the vocabulary`);
    }
    this.busy = true;
    try {
      const queue = this.ctx.device.queue;
      const B = this.info.maxBatch;
      const ids = this.ids;
      for (let at = 0; at < n; at += B) {
        const count = Math.min(B, n - at);
        const last = at + count === n;
        for (let i = 0; i < count; i++) ids[i] = tokens[at + i]!;
        this.stepData[0] = pos + at;
        this.stepData[1] = count;
        queue.writeBuffer(this.stepBuf, 0, this.stepData);
        queue.writeBuffer(this.tokenBuf, 0, ids.buffer, 0, count * 4);
        const enc = this.ctx.device.createCommandEncoder();
        const pass = enc.beginComputePass();
        for (const op of this.blockOps) op.encode(pass, count);
        if (last) {
          for (const op of this.headOps) op.encode(pass, 1);
          if (want === "argmax") this.argmaxOp.encode(pass, 1);
        }
        pass.end();
        if (last) {
          if (want === "argmax") enc.copyBufferToBuffer(this.result, 0, this.readback, 0, 4);
          else enc.copyBufferToBuffer(this.logits, 0, this.readback, 0, this.config.vocabSize * 4);
        }
        queue.submit([enc.finish()]);
      }
      await mapRead(this.ctx, this.readback, want === "argmax" ? 4 : this.config.vocabSize * 4);
      this.ctx.check();
    } finally {
      this.busy = false;
    }
  }
}

/** The context and batch asked for, checked against the model before anything is sized from them. */
function checkPlanOptions(c: ModelConfig, options: GpuModelOptions): void {
  const { contextLength, maxBatch } = options;
  if (contextLength !== undefined && (!Number.isInteger(contextLength) || contextLength < 1 || contextLength > c.contextLength)) {
    throw new GpuError("BAD_ARGUMENT", `contextLength must be an integer in [1, ${c.contextLength}] (the model's), got ${contextLength}`);
  }
  if (maxBatch !== undefined && (!Number.isInteger(maxBatch) || maxBatch < 1)) {
    throw new GpuError("BAD_ARGUMENT", `maxBatch must be an integer ≥ 1, got ${maxBatch}`);
  }
}

/** Reads the weights, allocates the cache and activations, and records the forward pass. */
async function build(
  ctx: GpuContext,
  arena: GpuArena,
  source: ByteSource,
  header: GgufHeader,
  c: ModelConfig,
  options: GpuModelOptions,
): Promise<GpuModel> {
  const env: OpEnv = {
    arena,
    pipelines: new PipelineCache(ctx.device),
    packedDot: ctx.packedDot,
    tuning: ctx.tuning,
    prefillTile: options.prefillTile ?? 8,
  };
  const batch = options.maxBatch ?? 64;
  const contextLength = options.contextLength ?? Math.min(c.contextLength, 2048);

  const weights = await readGpuWeights(arena, source, header, c, options.maxChunkBytes);
  const weightBytes = arena.bytes;
  const kv = allocateKvCache(arena, c, contextLength);
  const kvCacheBytes = arena.bytes - weightBytes;
  const a = allocateActivations(arena, c, batch, contextLength);
  const scratch = allocateQuantScratch(arena, [...weights.blocks.flatMap(blockMatrices), weights.head], batch);
  const { blockOps, headOps, argmaxOp } = await recordForward(ctx, env, c, weights, kv, a, scratch);

  return new GpuModel(ctx, c, arena, a.step, a.tokens, blockOps, headOps, argmaxOp, a.logits, a.result, a.readback, {
    weightBytes,
    kvCacheBytes,
    scratchBytes: arena.bytes - weightBytes - kvCacheBytes,
    pipelines: env.pipelines.size,
    dispatchesPerToken: blockOps.length + headOps.length + 1,
    contextLength,
    maxBatch: batch,
  });
}
