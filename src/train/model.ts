// A whole llama/BitNet model for training: embedding → blocks → final RMSNorm → output head, with the
// parameters in one fixed order. The same structure is the float teacher (all float, frozen) and the DLT
// student (block matrices ternarized; embedding, norms and head kept in float, as BitNet does).
//
// A step is: beginStep (zero grads, recode/materialize DLT weights) → modelForward → loss → modelBackward
// → endStep (STE: ∂L/∂Ŵ → α, γ, latent) → optimizer.
import { ModelError } from "../runtime/errors.ts";
import { readBlock } from "../runtime/model/block.ts";
import type { ModelConfig } from "../runtime/model/config.ts";
import { type BlockCache, type BlockWeights, blockBackward, blockForward, blockLinears, blockParams } from "./block.ts";
import { type LinearWeight, dltLinear, finishLinear, floatLinear, linearBackward, linearForward, prepareLinear } from "./linear.ts";
import { embeddingBackward, embeddingForward } from "./ops/embedding.ts";
import { type RmsNormCache, rmsNormBackward, rmsNormForward } from "./ops/rmsnorm.ts";
import type { RopeTable } from "./ops/rope.ts";
import { type Param, makeParam, zeroGrads } from "./params.ts";
import { type Precision, type Vec, alloc, toPrecision } from "./tensor.ts";

/** Which parameters get gradients. Absent flags are false. */
export interface TrainFlags {
  /** Block matrices: the latent weights of DLT layers (full mode), or float weights of a float model. */
  matrices?: boolean;
  alpha?: boolean;
  gamma?: boolean;
  /** Every RMSNorm gain (blocks and final). */
  norms?: boolean;
  embedding?: boolean;
  /** The output head (when it is not tied to the embedding). */
  head?: boolean;
}

export interface BuildOptions {
  precision: Precision;
  /** Ternarize the block matrices with DLT (the student). Absent: float matrices (the teacher). */
  dlt?: {
    group: number;
    refine?: boolean;
    /** PB-LLM's salient weights: the positions of a block matrix (from its float weights) and whether they train. */
    salient?: { mask: (name: string, w: ArrayLike<number>, rows: number, cols: number) => Uint8Array; train: boolean };
  };
  train?: TrainFlags;
}

export interface TrainModel {
  config: ModelConfig;
  precision: Precision;
  embedding: Param;
  blocks: BlockWeights[];
  outputNorm: Param;
  head: LinearWeight;
  /** Every parameter, in a fixed order (embedding, blocks in order, final norm, head). */
  params: Param[];
}

/** Float tensors by GGUF name, e.g. from loadFloatTensors; a matrix is [out][in] row-major. */
export type TensorMap = ReadonlyMap<string, ArrayLike<number>>;

export function buildTrainModel(config: ModelConfig, tensors: TensorMap, o: BuildOptions): TrainModel {
  const P = o.precision;
  const t = o.train ?? {};
  const get = (name: string, length: number): ArrayLike<number> => {
    const v = tensors.get(name);
    if (!v) throw new ModelError("MISSING_TENSOR", `tensor ${name} is missing`);
    if (v.length !== length) throw new ModelError("BAD_TENSOR_SHAPE", `tensor ${name} has ${v.length} values, expected ${length}`);
    return v;
  };
  const norm = (name: string, d: number) => makeParam(name, toPrecision(get(name, d), P), t.norms ?? false);
  const matrix = (name: string, rows: number, cols: number): LinearWeight => {
    const w = get(name, rows * cols);
    if (o.dlt) {
      return dltLinear(name, w, rows, cols, P, {
        group: o.dlt.group,
        refine: o.dlt.refine ?? false,
        train: { alpha: t.alpha ?? false, gamma: t.gamma ?? false, latent: t.matrices ?? false },
        ...(o.dlt.salient ? { salient: { mask: o.dlt.salient.mask(name, w, rows, cols), train: o.dlt.salient.train } } : {}),
      });
    }
    return floatLinear(name, makeParam(name, toPrecision(w, P), t.matrices ?? false, true), rows, cols);
  };

  const { dim, vocabSize, layers } = config;
  const embedding = makeParam("token_embd.weight", toPrecision(get("token_embd.weight", vocabSize * dim), P), t.embedding ?? false);
  const blocks: BlockWeights[] = [];
  for (let l = 0; l < layers; l++) {
    // ggml dims: [length] of a norm, [in, out] of a matrix
    blocks.push(readBlock(config, l, { norm: (e) => norm(e.name, e.dims[0]!), matrix: (e) => matrix(e.name, e.dims[1]!, e.dims[0]!) }));
  }
  const outputNorm = norm("output_norm.weight", dim);
  const headParam = config.tiedOutput
    ? embedding
    : makeParam("output.weight", toPrecision(get("output.weight", vocabSize * dim), P), t.head ?? false, true);
  const head = floatLinear(headParam.name, headParam, vocabSize, dim);
  const params = [embedding, ...blocks.flatMap(blockParams), outputNorm, ...(config.tiedOutput ? [] : [headParam])];
  return { config, precision: P, embedding, blocks, outputNorm, head, params };
}

export function modelLinears(m: TrainModel): LinearWeight[] {
  return [...m.blocks.flatMap(blockLinears), m.head];
}

/** Zero the gradients, recompute DLT codes (full mode) and materialize every Ŵ. */
export function beginStep(m: TrainModel): void {
  zeroGrads(m.params);
  for (const l of modelLinears(m)) prepareLinear(l);
}

/** Map ∂L/∂Ŵ of the DLT layers to their parameters (STE). */
export function endStep(m: TrainModel): void {
  for (const l of modelLinears(m)) finishLinear(l);
}

export interface ModelForward {
  tokens: Int32Array;
  n: number;
  rope: RopeTable;
  /** Per block, its cache (its output is cache.out). */
  caches: BlockCache[];
  finalNorm: { y: Vec; cache: RmsNormCache };
  logits: Vec | null;
}

/** Runs tokens (n = batch·seqLen, sequences back to back) through the model. `logits: false` skips the head. */
export function modelForward(m: TrainModel, tokens: Int32Array, rope: RopeTable, logits = true): ModelForward {
  const { config: c } = m;
  const n = tokens.length;
  if (n % rope.seqLen !== 0) throw new RangeError(`${n} tokens are not whole sequences of ${rope.seqLen}`);
  let x = embeddingForward(m.embedding.value, tokens, c.dim);
  const caches: BlockCache[] = [];
  for (const w of m.blocks) {
    const cache = blockForward(c, w, x, n, rope);
    caches.push(cache);
    x = cache.out;
  }
  const finalNorm = rmsNormForward(x, m.outputNorm.value, n, c.dim, c.outputNormEps);
  return { tokens, n, rope, caches, finalNorm, logits: logits ? linearForward(m.head, finalNorm.y, n) : null };
}

/**
 * Backward from ∂L/∂logits (null: no logit loss) and ∂L/∂(block l output) (dHidden[l], null or absent:
 * none), accumulating into the trainable parameters' gradients (call endStep after it).
 */
export function modelBackward(m: TrainModel, f: ModelForward, dLogits: Vec | null, dHidden: readonly (Vec | null)[] = []): void {
  const { config: c } = m;
  const { n } = f;
  const L = m.blocks.length;
  let dx: Vec | null = null;
  if (dLogits) {
    const dNorm = alloc(m.precision, n * c.dim);
    linearBackward(m.head, dLogits, f.finalNorm.y, n, dNorm);
    dx = alloc(m.precision, n * c.dim);
    rmsNormBackward(
      dNorm,
      f.caches[L - 1]!.out,
      m.outputNorm.value,
      f.finalNorm.cache,
      n,
      c.dim,
      dx,
      m.outputNorm.trainable ? m.outputNorm.grad : null,
    );
  }
  for (let l = L - 1; l >= 0; l--) {
    const extra = dHidden[l];
    if (extra) {
      if (!dx) dx = alloc(m.precision, n * c.dim);
      for (let i = 0; i < dx.length; i++) dx[i]! += extra[i]!;
    }
    if (!dx) continue; // nothing reaches this block
    dx = blockBackward(c, m.blocks[l]!, f.caches[l]!, dx, f.rope, l > 0 || m.embedding.trainable);
  }
  if (dx && m.embedding.trainable) embeddingBackward(dx, f.tokens, c.dim, m.embedding.grad);
}
