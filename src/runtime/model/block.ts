// One decoder block's tensors by role — the one listing every backend builds its blocks from. Each backend
// maps the roles onto its own handles (the CPU engine: wasm addresses and kernel matrices, the GPU model:
// buffers and GPU matrices, training: parameters and linear layers), so a tensor role is added here once:
// a field of BlockTensors and its line in BLOCK_ROLES (the compiler checks that the two agree).
import type { ModelConfig } from "./config.ts";
import type { ExpectedTensor } from "./tensors.ts";

/** A block's tensors, N being the backend's handle of a norm weight and M of a matrix. */
export interface BlockTensors<N, M> {
  attnNorm: N;
  q: M;
  k: M;
  v: M;
  /** Only in the bitnet architectures (config.subNorms); null elsewhere. */
  attnSubNorm: N | null;
  o: M;
  ffnNorm: N;
  gate: M;
  up: M;
  /** Only in the bitnet architectures (config.subNorms); null elsewhere. */
  ffnSubNorm: N | null;
  down: M;
}

export type BlockRole = keyof BlockTensors<unknown, unknown>;
type KindOf<R extends BlockRole> = NonNullable<BlockTensors<"norm", "matrix">[R]>;
export type NormRole = { [R in BlockRole]: KindOf<R> extends "norm" ? R : never }[BlockRole];
export type MatrixRole = Exclude<BlockRole, NormRole>;

export type BlockShape = Pick<ModelConfig, "dim" | "heads" | "kvHeads" | "headDim" | "ffnDim" | "subNorms">;

interface RoleSpec<Kind> {
  kind: Kind;
  /** The GGUF name inside the block: blk.<layer>.<tensor>.weight. */
  tensor: string;
  /** ggml dims: [length] of a norm, [in, out] of a matrix. */
  dims: (s: BlockShape) => number[];
  /** Present only where the architecture has sub-norms. */
  subNorm?: true;
}

/** Each role's kind must match its field in BlockTensors, and the nullable fields are the sub-norms. */
type RoleTable = {
  [R in BlockRole]: RoleSpec<KindOf<R>> & (null extends BlockTensors<"norm", "matrix">[R] ? { subNorm: true } : unknown);
};

/** Every role, in the order llama.cpp's converters write a block's tensors (the order of loading, too). */
export const BLOCK_ROLES: RoleTable = {
  attnNorm: { kind: "norm", tensor: "attn_norm", dims: (s) => [s.dim] },
  q: { kind: "matrix", tensor: "attn_q", dims: (s) => [s.dim, s.heads * s.headDim] },
  k: { kind: "matrix", tensor: "attn_k", dims: (s) => [s.dim, s.kvHeads * s.headDim] },
  v: { kind: "matrix", tensor: "attn_v", dims: (s) => [s.dim, s.kvHeads * s.headDim] },
  attnSubNorm: { kind: "norm", tensor: "attn_sub_norm", dims: (s) => [s.heads * s.headDim], subNorm: true },
  o: { kind: "matrix", tensor: "attn_output", dims: (s) => [s.heads * s.headDim, s.dim] },
  ffnNorm: { kind: "norm", tensor: "ffn_norm", dims: (s) => [s.dim] },
  gate: { kind: "matrix", tensor: "ffn_gate", dims: (s) => [s.dim, s.ffnDim] },
  up: { kind: "matrix", tensor: "ffn_up", dims: (s) => [s.dim, s.ffnDim] },
  ffnSubNorm: { kind: "norm", tensor: "ffn_sub_norm", dims: (s) => [s.ffnDim], subNorm: true },
  down: { kind: "matrix", tensor: "ffn_down", dims: (s) => [s.ffnDim, s.dim] },
};

const ROLES = Object.keys(BLOCK_ROLES) as BlockRole[];
const NORM_ROLES = ROLES.filter((r): r is NormRole => BLOCK_ROLES[r].kind === "norm");
const MATRIX_ROLES = ROLES.filter((r): r is MatrixRole => BLOCK_ROLES[r].kind === "matrix");

/** A tensor of block `layer`, with the role it fills. */
export interface BlockTensor extends ExpectedTensor {
  role: "norm" | "matrix";
  block: BlockRole;
}

/** The tensors of block `layer` (sub-norms only where config.subNorms), in the order llama.cpp's converters write them. */
export function layerTensors(shape: BlockShape, layer: number): BlockTensor[] {
  return ROLES.filter((r) => shape.subNorms || !BLOCK_ROLES[r].subNorm).map((r) => {
    const spec = BLOCK_ROLES[r];
    return { name: `blk.${layer}.${spec.tensor}.weight`, dims: spec.dims(shape), role: spec.kind, block: r };
  });
}

/** How a backend turns one of the block's tensors (its name and expected dims) into its own handle. */
export interface BlockReader<N, M> {
  norm(t: BlockTensor): N;
  matrix(t: BlockTensor): M;
}

/** Block `layer` with every tensor read by `read`, one at a time in file order. */
export function readBlock<N, M>(shape: BlockShape, layer: number, read: BlockReader<N, M>): BlockTensors<N, M> {
  const block: Record<BlockRole, N | M | null> = emptyBlock();
  for (const t of layerTensors(shape, layer)) block[t.block] = t.role === "norm" ? read.norm(t) : read.matrix(t);
  return block as BlockTensors<N, M>; // each role was filled by its kind (RoleTable), the absent sub-norms are null
}

/** readBlock for readers that load asynchronously; still one tensor at a time, in file order. */
export async function readBlockAsync<N, M>(shape: BlockShape, layer: number, read: BlockReader<Promise<N>, Promise<M>>): Promise<BlockTensors<N, M>> {
  const block: Record<BlockRole, N | M | null> = emptyBlock();
  for (const t of layerTensors(shape, layer)) block[t.block] = t.role === "norm" ? await read.norm(t) : await read.matrix(t);
  return block as BlockTensors<N, M>;
}

function emptyBlock(): Record<BlockRole, null> {
  return Object.fromEntries(ROLES.map((r) => [r, null])) as Record<BlockRole, null>;
}

/** The block's norm weights that exist, in file order. */
export function blockNorms<N, M>(b: BlockTensors<N, M>): N[] {
  return NORM_ROLES.map((r) => b[r]).filter((n): n is N => n !== null);
}

/** The block's matrices in file order: q, k, v, o, gate, up, down. */
export function blockMatrices<N, M>(b: BlockTensors<N, M>): M[] {
  return MATRIX_ROLES.map((r) => b[r]);
}
