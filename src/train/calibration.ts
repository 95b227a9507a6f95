// Calibration for GPTQ and PB-LLM's Hessian saliency (runtime/convert/hessian.ts): a few hundred tokens of
// text through the model, and for every block matrix the Hessian H = (2/n)·Σ x xᵀ of the inputs x that enter
// it. Two orders: "float", the float model's own activations (one forward pass serves every matrix), and
// "sequential", GPTQ's: block l sees the output of blocks < l already quantized (one pass per block). Matrices
// that read the same input (q, k, v; gate, up) share one Hessian object.
import { accumulateInputProducts, hessianFromProducts } from "../runtime/convert/hessian.ts";
import type { HessianSource } from "../runtime/convert/quantize.ts";
import { ModelError, OptionError } from "../runtime/errors.ts";
import type { ByteSource } from "../runtime/gguf/source.ts";
import type { GgufHeader } from "../runtime/gguf/types.ts";
import { type ModelConfig, modelConfigFromGguf } from "../runtime/model/config.ts";
import { expectedTensors } from "../runtime/model/tensors.ts";
import { tokenizerFromGguf } from "../runtime/tokenizer/index.ts";
import type { BlockCache } from "./block.ts";
import { buildTrainModel, modelForward, type TensorMap } from "./model.ts";
import { ropeTable } from "./ops/rope.ts";
import { loadFloatModel } from "./teacher.ts";

/** Default calibration length: "a few hundred tokens", as PB-LLM's and GPTQ's small-model runs. */
export const CALIBRATION_TOKENS = 512;
/** Sequences the calibration text is cut into (each a causal window of its own). */
export const CALIBRATION_SEQ_LEN = 128;

export interface CalibrationOptions {
  /** Token ids of the calibration text (BOS first); the first `maxTokens` whole sequences are used. */
  tokens: Int32Array;
  seqLen?: number;
  maxTokens?: number;
}

export interface Calibration {
  /** Tokens that went through the model. */
  tokens: number;
  /** The Hessian of each block matrix (and of an untied output head) by its GGUF name ("blk.0.attn_q.weight"), k × k row-major. */
  hessians: Map<string, Float64Array>;
}

/** Runs the calibration tokens through the float model (`tensors`: every tensor in f32) and returns the Hessians. */
export function calibrate(config: ModelConfig, tensors: TensorMap, o: CalibrationOptions): Calibration {
  const seqLen = Math.min(o.seqLen ?? CALIBRATION_SEQ_LEN, config.contextLength);
  const maxTokens = o.maxTokens ?? CALIBRATION_TOKENS;
  const sequences = Math.floor(Math.min(o.tokens.length, maxTokens) / seqLen);
  if (sequences < 1) {
    throw new OptionError("BAD_CALIBRATION", `calibration text has ${o.tokens.length} tokens; at least ${seqLen} (one sequence) are needed`);
  }
  const model = buildTrainModel(config, tensors, { precision: "f32" });
  const rope = ropeTable(config.rope, seqLen);
  // the four distinct inputs of a block: q/k/v's, o's, gate/up's, down's
  const inputs = (w: (typeof model.blocks)[number]) => [
    { readers: [w.q, w.k, w.v], of: (c: BlockCache) => c.qkvIn },
    { readers: [w.o], of: (c: BlockCache) => c.oIn },
    { readers: [w.gate, w.up], of: (c: BlockCache) => c.ffnIn },
    { readers: [w.down], of: (c: BlockCache) => c.downIn },
  ];
  const sums = model.blocks.map((w) => inputs(w).map((i) => new Float64Array(i.readers[0]!.cols ** 2)));
  // the output head reads the final norm's output (`quantize --include-output`); a tied head is the embedding
  const headSum = config.tiedOutput ? null : new Float64Array(config.dim ** 2);
  // one sequence at a time: only one sequence's activations live
  for (let s = 0; s < sequences; s++) {
    const f = modelForward(model, o.tokens.subarray(s * seqLen, (s + 1) * seqLen), rope, false);
    f.caches.forEach((c, l) => {
      inputs(model.blocks[l]!).forEach((i, j) => accumulateInputProducts(sums[l]![j]!, i.of(c), seqLen, i.readers[0]!.cols));
    });
    if (headSum) accumulateInputProducts(headSum, f.finalNorm.y, seqLen, config.dim);
  }
  const n = sequences * seqLen;
  const hessians = new Map<string, Float64Array>();
  model.blocks.forEach((w, l) => {
    inputs(w).forEach((i, j) => {
      const h = hessianFromProducts(sums[l]![j]!, n, i.readers[0]!.cols);
      for (const m of i.readers) hessians.set(m.name, h);
    });
  });
  if (headSum) hessians.set(model.head.name, hessianFromProducts(headSum, n, config.dim));
  return { tokens: n, hessians };
}

/**
 * Bytes calibration holds besides the float model: one f64 sum and one Hessian per distinct matrix input
 * (4 per block, and the head's), so a caller can refuse a model too large for it before anything is read.
 */
export function calibrationBytes(config: Pick<ModelConfig, "layers" | "dim" | "heads" | "headDim" | "ffnDim">): number {
  const ks = [config.dim, config.heads * config.headDim, config.dim, config.ffnDim];
  return config.layers * ks.reduce((a, k) => a + 2 * 8 * k * k, 0) + 2 * 8 * config.dim ** 2;
}

/** The most memory calibration plans for: the float model in f32 plus its Hessians (calibrationBytes). */
export const CALIBRATION_MAX_BYTES = 4 * 2 ** 30;

/**
 * Calibration of a GGUF model on `text`: refuses (before reading any tensor) a model whose f32 copy and Hessians
 * exceed CALIBRATION_MAX_BYTES, then reads it into f32, tokenizes the text with the model's tokenizer (BOS first)
 * and runs calibrate (order "float", the default) or returns sequentialCalibration's source ("sequential").
 */
export async function calibrateOnText(
  source: ByteSource,
  header: GgufHeader,
  text: string,
  o: Omit<CalibrationOptions, "tokens"> & { order?: CalibrationOrder } = {},
): Promise<{ tokens: number; hessians: HessianSource }> {
  const config = modelConfigFromGguf(header.metadata, header.tensors);
  const floatBytes = 4 * header.tensors.reduce((a, t) => a + t.dims.reduce((x, y) => x * y, 1), 0);
  const need = floatBytes + calibrationBytes(config);
  if (need > CALIBRATION_MAX_BYTES) {
    throw new ModelError(
      "CALIBRATION_TOO_LARGE",
      `calibration would hold ${(need / 2 ** 30).toFixed(1)} GiB (the model in f32 and one Hessian per matrix input), over the ${CALIBRATION_MAX_BYTES / 2 ** 30} GiB it plans for`,
    );
  }
  const maxTokens = o.maxTokens ?? CALIBRATION_TOKENS;
  // a few characters per token at most: tokenize only the start of a long text
  const tokens = Int32Array.from(tokenizerFromGguf(header.metadata).encode(text.slice(0, maxTokens * 64), { addBos: true }));
  const model = await loadFloatModel(source, header);
  if (o.order === "sequential") {
    const sequential = sequentialCalibration(model.config, model.tensors, { ...o, tokens });
    return { tokens: sequential.tokens, hessians: sequential };
  }
  return calibrate(model.config, model.tensors, { ...o, tokens });
}

/** Which activations calibrate a block: the float model's, or those of the model whose earlier blocks are quantized. */
export type CalibrationOrder = "float" | "sequential";
export const CALIBRATION_ORDERS: readonly CalibrationOrder[] = ["float", "sequential"];

/**
 * GPTQ's sequential order as a HessianSource for runtime/convert/quantize.ts: block l's Hessians are computed when
 * its first matrix is asked for, on the model in which every matrix the quantizer has reported (`quantized`) is
 * replaced by its Ŵ + S, so the blocks before l (the writer goes through a file's blocks in order) are quantized and
 * block l itself is still float. One forward pass per block; the output head's after the last block.
 */
export function sequentialCalibration(
  config: ModelConfig,
  tensors: ReadonlyMap<string, Float32Array>,
  o: CalibrationOptions,
): HessianSource & { tokens: number } {
  const current = new Map(tensors);
  const matrices = new Set(
    expectedTensors(config)
      .filter((t) => t.role === "matrix")
      .map((t) => t.name),
  );
  const first = calibrate(config, current, o); // block 0 sees the float embedding either way
  let at: { layer: number; hessians: Map<string, Float64Array> } = { layer: 0, hessians: first.hessians };
  const layerOf = (name: string) => Number(/^blk\.(\d+)\./.exec(name)?.[1] ?? config.layers);
  return {
    tokens: first.tokens,
    has: (name) => matrices.has(name),
    get(name) {
      const layer = layerOf(name);
      if (layer !== at.layer) at = { layer, hessians: calibrate(config, current, o).hessians };
      return at.hessians.get(name);
    },
    quantized(name, dense) {
      current.set(name, dense);
    },
  };
}
