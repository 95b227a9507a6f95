// A model ready to run on the CPU: the GGUF header read and checked, the memory it needs planned (and a model
// that cannot fit a wasm32 memory refused before anything large is allocated), the weights loaded into wasm
// memory, a KV cache and the forward pass's buffers. `eval` appends tokens to the sequence in the cache.
import { ContextError, ModelError, OptionError } from "../errors.ts";
import { readGgufHeader } from "../gguf/reader.ts";
import type { ByteSource } from "../gguf/source.ts";
import type { GgufHeader } from "../gguf/types.ts";
import { modelConfigFromGguf, type ModelConfig } from "../model/config.ts";
import { tokenizerFromGguf, type Tokenizer } from "../tokenizer/index.ts";
import { KV_TYPES, type KvType } from "./attention.ts";
import { Forward, type LogitsMode, type LogitsSink } from "./forward.ts";
import { CpuKernels, type CpuKernelsOptions, type CpuKernelStats } from "./kernels.ts";
import { KvCache } from "./kv-cache.ts";
import type { StepProfile } from "./step-profile.ts";
import { WASM32_MAX_BYTES } from "./wasm/heap.ts";
import { type HeadType, loadWeights, salientSideBytes, weightBytes, type ModelWeights } from "./weights.ts";

export { WASM32_MAX_BYTES };
/**
 * Kept free below that limit: the module's own data, the thread pool's control block, small allocations, and the
 * Vec-LUT matmul's scratch (one slot per thread, ≤ 0.75 MB on the 700M and 2B shapes: kernels.ts lutSlotBytes).
 */
const RESERVE_BYTES = 32 << 20;
/**
 * The memory may grow this much past the plan (a quarter of it, at least 64 MiB): buffers the forward pass sizes
 * lazily (logit rows, the RoPE table) and the plan's estimates. Only this maximum is reserved as address space.
 */
const GROWTH_SHARE = 0.25;
const MIN_GROWTH_BYTES = 64 << 20;
const DEFAULT_BATCH = 128;
const MIN_DEFAULT_BATCH = 8;
/**
 * The default prefill batch is the largest (up to 128) whose forward-pass buffers stay within this share of the
 * weights, so that a ternary model's memory stays near its file size (issue 4: ≤ 1.25 × file + KV cache).
 */
const SCRATCH_SHARE = 0.1;

export interface CpuModelOptions extends CpuKernelsOptions {
  /**
   * Positions the KV cache holds (at most the model's context length; default that). A function decides it
   * from the model before anything is allocated, e.g. prompt tokens + tokens to generate.
   */
  contextLength?: number | ((config: ModelConfig, tokenizer: Tokenizer) => number);
  /** KV cache element type. Default "f16" (llama.cpp's default); "f32" is exact; "q8_0" is smaller (bench/README.md). */
  kvType?: KvType;
  /**
   * Tokens per forward batch during prefill. Default: 128, or less for a small model, whose buffers for 128
   * tokens would outweigh its weights (see SCRATCH_SHARE).
   */
  batchSize?: number;
  /** The output head: "stored" (default, exact) or "q8_0" (a float head quantized to Q8_0 at load: ./weights.ts). */
  headType?: HeadType;
  /** The source's parsed header, if the caller has read it already (it is not read again). */
  header?: GgufHeader;
  /** Load progress: tensors uploaded so far, of `total`. */
  onProgress?: (done: number, total: number) => void;
}

/** The wasm memory a model needs, from its header alone. */
export interface MemoryPlan {
  weights: number;
  kvCache: number;
  scratch: number;
  total: number;
}

export class CpuModel {
  private disposed = false;

  private constructor(
    readonly config: ModelConfig,
    readonly tokenizer: Tokenizer,
    readonly header: GgufHeader,
    readonly kernels: CpuKernels,
    readonly plan: MemoryPlan,
    private readonly weights: ModelWeights,
    private readonly cache: KvCache,
    private readonly forward: Forward,
  ) {}

  /** Reads, checks and loads a GGUF model. The source stays the caller's (not closed here). */
  static async load(source: ByteSource, options: CpuModelOptions = {}): Promise<CpuModel> {
    const { contextLength, kvType = "f16", headType = "stored", batchSize, onProgress, header: parsed, ...kernelOptions } = options;
    if (!KV_TYPES.includes(kvType)) throw new OptionError("BAD_OPTION", `kvType must be one of ${KV_TYPES.join(", ")}, got ${String(kvType)}`);
    if (headType !== "stored" && headType !== "q8_0")
      throw new OptionError("BAD_OPTION", `headType must be "stored" or "q8_0", got ${String(headType)}`);
    if (batchSize !== undefined && (!Number.isInteger(batchSize) || batchSize < 1))
      throw new OptionError("BAD_OPTION", `batchSize must be an integer ≥ 1, got ${batchSize}`);
    const header = parsed ?? (await readGgufHeader(source));
    const config = modelConfigFromGguf(header.metadata, header.tensors);
    const tokenizer = tokenizerFromGguf(header.metadata);
    const ctx = typeof contextLength === "function" ? contextLength(config, tokenizer) : (contextLength ?? config.contextLength);
    if (!Number.isInteger(ctx) || ctx < 1 || ctx > config.contextLength) {
      throw new OptionError("BAD_OPTION", `contextLength must be an integer in [1, ${config.contextLength}] (the model's), got ${ctx}`);
    }
    const sideBytes = await salientSideBytes(source, header, config);
    const batch = Math.min(batchSize ?? defaultBatch(config, header, ctx, sideBytes), ctx);
    const plan = planMemory(config, header, ctx, kvType, batch, headType, sideBytes);
    if (plan.total > WASM32_MAX_BYTES - RESERVE_BYTES) {
      const gib = (b: number) => (b / 1024 ** 3).toFixed(2);
      throw new ModelError(
        "MODEL_TOO_LARGE",
        `this model needs ${gib(plan.total)} GiB of wasm memory (weights ${gib(plan.weights)}, KV cache ${gib(plan.kvCache)} for ` +
          `${ctx} positions), more than the 4 GiB a wasm32 memory can address` +
          (plan.weights < WASM32_MAX_BYTES - RESERVE_BYTES
            ? `; a shorter contextLength${{ f32: ' or kvType "f16"', f16: ' or kvType "q8_0"', q8_0: "" }[kvType]} may fit`
            : ""),
      );
    }
    // The whole plan up front: the memory never grows (and never over-grows) while loading.
    const initialMemoryBytes = plan.total + RESERVE_BYTES;
    const maximumMemoryBytes = Math.min(WASM32_MAX_BYTES, initialMemoryBytes + Math.max(MIN_GROWTH_BYTES, GROWTH_SHARE * initialMemoryBytes));
    const kernels = await CpuKernels.create({ ...kernelOptions, initialMemoryBytes, maximumMemoryBytes });
    try {
      const weights = await loadWeights(kernels, source, header, config, onProgress, headType);
      const cache = new KvCache(kernels, config.layers, config.kvHeads, config.headDim, ctx, kvType);
      const forward = new Forward(kernels, config, weights, cache, batch);
      return new CpuModel(config, tokenizer, header, kernels, plan, weights, cache, forward);
    } catch (e) {
      kernels.dispose();
      throw e;
    }
  }

  /** Positions the KV cache holds. */
  get contextLength(): number {
    return this.cache.capacity;
  }

  /** The KV cache's element type. */
  get kvType(): KvType {
    return this.cache.type;
  }

  /** Tokens evaluated so far (the next token goes at this position). */
  get position(): number {
    return this.cache.length;
  }

  /** Forgets the sequence (or keeps its first `position` tokens). */
  reset(position = 0): void {
    if (!Number.isInteger(position) || position < 0 || position > this.cache.length) {
      throw new OptionError("BAD_OPTION", `cannot rewind to position ${position} (the sequence has ${this.cache.length} tokens)`);
    }
    this.cache.length = position;
  }

  /**
   * Appends `tokens` to the sequence and runs them through the model. Returns the last token's logits
   * ("last", the default); "all" hands each token's logits to `sink`; "none" computes none. Throws a
   * ContextError, and evaluates nothing, when the tokens do not fit the context.
   */
  eval(tokens: ArrayLike<number>, mode: LogitsMode = "last", sink?: LogitsSink): Float32Array | undefined {
    this.check();
    if (tokens.length === 0) throw new OptionError("BAD_OPTION", "eval needs at least one token");
    if (this.cache.length + tokens.length > this.cache.capacity) {
      throw new ContextError(
        "CONTEXT_FULL",
        `${this.cache.length + tokens.length} tokens do not fit the context of ${this.cache.capacity} positions`,
      );
    }
    return this.forward.run(tokens, mode, sink);
  }

  /** Times every op of the following evals into `p` (`ternion bench --profile`); undefined stops it. */
  setProfile(p: StepProfile | undefined): void {
    this.forward.profile = p;
  }

  stats(): CpuKernelStats {
    return this.kernels.stats();
  }

  private check(): void {
    if (this.disposed) throw new ModelError("DISPOSED", "this model was disposed");
  }

  /** Stops the worker threads and lets the memory go. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.forward.free();
    this.cache.free();
    this.kernels.dispose();
  }
}

/** The largest batch, halving from DEFAULT_BATCH, whose forward-pass buffers fit SCRATCH_SHARE of the weights. */
function defaultBatch(config: ModelConfig, header: GgufHeader, ctx: number, sideBytes?: ReadonlyMap<string, number>): number {
  const budget = SCRATCH_SHARE * weightBytes(config, header, "stored", sideBytes).resident;
  let batch = DEFAULT_BATCH;
  while (batch > MIN_DEFAULT_BATCH && Forward.scratchBytes(config, batch, ctx) > budget) batch >>= 1;
  return batch;
}

/**
 * The wasm memory a model needs with a KV cache of `ctx` positions and prefill batches of `batch` tokens. sideBytes:
 * the side matrices' exact bytes (salientSideBytes); without it, the bound their entry counts allow.
 */
export function planMemory(
  config: ModelConfig,
  header: GgufHeader,
  ctx: number,
  kvType: KvType,
  batch: number,
  headType: HeadType = "stored",
  sideBytes?: ReadonlyMap<string, number>,
): MemoryPlan {
  const w = weightBytes(config, header, headType, sideBytes);
  const kvCache = KvCache.bytes(config.layers, config.kvHeads, config.headDim, ctx, kvType);
  const scratch = Forward.scratchBytes(config, batch, ctx) + w.transient;
  return { weights: w.resident, kvCache, scratch, total: w.resident + kvCache + scratch };
}
