// The tensors a configuration implies, with their shapes, so that a loader can check a file (names, shapes,
// types) from its header alone, before it allocates or reads anything. Shapes are in ggml order: dims[0] is
// the row length, i.e. a weight of a linear layer with `in` inputs and `out` outputs is [in, out].
import { ModelError } from "../errors.ts";
import { GgmlType, tensorTypeName } from "../tensor-types/table.ts";
import { layerTensors } from "./block.ts";
import type { ModelConfig, TensorShape } from "./config.ts";

export { layerTensors };

/** "norm": an RMSNorm weight (a float vector); "matrix": a linear layer's weight; "embedding": token_embd. */
export type TensorRole = "norm" | "matrix" | "embedding";

export interface ExpectedTensor {
  name: string;
  dims: number[];
  role: TensorRole;
}

/** Norm weights are applied element-wise in float: only the plain float types are accepted for them. */
const NORM_TYPES: ReadonlySet<number> = new Set([GgmlType.F32, GgmlType.F16, GgmlType.BF16]);

type ModelShape = Pick<ModelConfig, "vocabSize" | "dim" | "layers" | "heads" | "kvHeads" | "headDim" | "ffnDim" | "subNorms" | "tiedOutput">;

/** Every tensor the model needs: embedding, all blocks, final norm, and the output head unless tied. */
export function expectedTensors(config: ModelShape): ExpectedTensor[] {
  const list: ExpectedTensor[] = [{ name: "token_embd.weight", dims: [config.dim, config.vocabSize], role: "embedding" }];
  for (let l = 0; l < config.layers; l++) list.push(...layerTensors(config, l));
  list.push({ name: "output_norm.weight", dims: [config.dim], role: "norm" });
  if (!config.tiedOutput) list.push({ name: "output.weight", dims: [config.dim, config.vocabSize], role: "matrix" });
  return list;
}

// ── DLT matrices (fine-tuned students, src/train/export.ts) ─────────────────────────────────────────────
// A DLT matrix X.weight [k, m] is stored as TQ2_0 codes with each row padded to a multiple of 256 with zero
// codes (dims [ceil(k/256)·256, m]; the block scales d are only an approximation for readers that ignore
// the rest), beside F16 tensors X.dlt_alpha and X.dlt_gamma of dims [G, m], G = ceil(k/g), with the group
// size g in the metadata key below. Ŵ[r][e] = α[r][e/g]·T[r][e] + γ[r][e/g] (docs/ARCHITECTURE.md, sections 3 and 4).
export const DLT_GROUP_KEY = "ternion.dlt.group_size";

/** The α and γ tensor names of a DLT matrix named `weight` ("blk.0.attn_q.weight"). */
export function dltScaleNames(weight: string): { alpha: string; gamma: string } {
  const base = weight.endsWith(".weight") ? weight.slice(0, -".weight".length) : weight;
  return { alpha: `${base}.dlt_alpha`, gamma: `${base}.dlt_gamma` };
}

/** The stored row length of a DLT matrix whose true row length is k. */
export function dltStoredRowLength(k: number): number {
  return Math.ceil(k / 256) * 256;
}

/** Whether `t` is the code tensor of a DLT matrix (TQ2_0 with α beside it). */
export function isDltMatrix(t: TensorShape, byName: ReadonlyMap<string, TensorShape>): boolean {
  return t.type === GgmlType.TQ2_0 && byName.has(dltScaleNames(t.name).alpha);
}

/**
 * Checks that every expected tensor is present with the expected shape, and that norms are stored as plain
 * floats. Throws a ModelError naming the first offending tensor. Extra tensors are allowed (llama.cpp
 * ignores some too, e.g. rope_freqs).
 */
export function checkModelTensors(config: ModelShape, tensors: readonly TensorShape[]): void {
  checkLayerCountFitsFile(config, tensors);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  for (const want of expectedTensors(config)) {
    const have = byName.get(want.name);
    if (!have) throw new ModelError("MISSING_TENSOR", `tensor ${want.name} [${want.dims.join(", ")}] is missing`);
    const dlt = want.role === "matrix" && isDltMatrix(have, byName);
    if (dlt) checkDltScales(have, want, byName);
    const stored = dlt ? [dltStoredRowLength(want.dims[0]!), ...want.dims.slice(1)] : want.dims;
    if (!sameShape(have.dims, stored)) {
      throw new ModelError("BAD_TENSOR_SHAPE", `tensor ${want.name} has shape [${have.dims.join(", ")}], expected [${stored.join(", ")}]`);
    }
    if (want.role === "norm" && !NORM_TYPES.has(have.type)) {
      throw new ModelError("BAD_TENSOR_TYPE", `tensor ${want.name} is ${tensorTypeName(have.type)}; norm weights must be F32, F16 or BF16`);
    }
  }
}

/**
 * The layer count is the one structure number that the expected-tensor list grows with, so it is checked against
 * the file before that list is built: a file holds no more blocks than it has distinct `blk.N.` prefixes (a 1 MB
 * file claiming 2^31 layers would otherwise make the list 9 · 2^31 entries long).
 */
function checkLayerCountFitsFile(config: Pick<ModelShape, "layers">, tensors: readonly TensorShape[]): void {
  const blocks = new Set<string>();
  for (const t of tensors) {
    const m = /^blk\.(\d+)\./.exec(t.name);
    if (m) blocks.add(m[1]!);
  }
  if (config.layers > blocks.size) {
    throw new ModelError(
      "STRUCTURE_EXCEEDS_FILE",
      `block_count ${config.layers} exceeds the ${blocks.size} blocks (blk.N. tensor prefixes) the file's ${tensors.length} tensors hold`,
    );
  }
}

/** α and γ of a DLT matrix: both F16, [G, rows] for some G ≥ 1 that the loader checks against the group size. */
function checkDltScales(codes: TensorShape, want: ExpectedTensor, byName: ReadonlyMap<string, TensorShape>): void {
  const names = dltScaleNames(codes.name);
  const rows = want.dims[1] ?? 1;
  for (const name of [names.alpha, names.gamma]) {
    const t = byName.get(name);
    if (!t) throw new ModelError("MISSING_TENSOR", `DLT matrix ${codes.name} has no ${name}`);
    if (t.type !== GgmlType.F16 || (t.dims[1] ?? 1) !== rows || !(t.dims[0]! >= 1)) {
      throw new ModelError("BAD_TENSOR_SHAPE", `DLT tensor ${name} must be F16 [G, ${rows}], got ${tensorTypeName(t.type)} [${t.dims.join(", ")}]`);
    }
  }
}

/** Equal shapes, ignoring trailing 1s (ggml pads shapes to 4 dims with 1s; some writers keep them). */
function sameShape(a: readonly number[], b: readonly number[]): boolean {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if ((a[i] ?? 1) !== (b[i] ?? 1)) return false;
  return true;
}

// ── salient side matrices (PB-LLM's kept weights, model/salient-file.ts) ────────────────────────────────
// Beside a ternary X.weight, X.salient_rows (I32 [m + 1]), X.salient_idx (I16 [nnz], read unsigned),
// X.salient_val (I8 [nnz]) and X.salient_scale (F32 [m]) hold a sparse matrix S in compressed-row form;
// the effective weight is decode(X.weight) + S (docs/ARCHITECTURE.md, section 3).

/** The four side-matrix tensor names of a matrix named `weight` ("blk.0.attn_q.weight"). */
export function salientNames(weight: string): { rows: string; idx: string; val: string; scale: string } {
  const base = weight.endsWith(".weight") ? weight.slice(0, -".weight".length) : weight;
  return { rows: `${base}.salient_rows`, idx: `${base}.salient_idx`, val: `${base}.salient_val`, scale: `${base}.salient_scale` };
}
