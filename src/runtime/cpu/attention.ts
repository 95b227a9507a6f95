// Typed wrappers of the attention kernels (assembly/kernels/attention.ts): the store of new keys and values
// into a layer's cache and causal grouped-query attention of a batch of queries over it.
import { OptionError } from "../errors.ts";
import { ATTENTION_TOKEN_BLOCK, KV } from "./abi.ts";
import type { CpuKernels } from "./kernels.ts";

/**
 * The cache's element type: f32 (exact), f16 (the default) or q8_0 (opt-in: int8 codes per 32 with an f32 scale,
 * 1.125 bytes per element; its perplexity cost: bench/README.md).
 */
export type KvType = "f32" | "f16" | "q8_0";

export const KV_TYPES: readonly KvType[] = ["f32", "f16", "q8_0"];

const KV_CODE: Record<KvType, number> = { f32: KV.F32, f16: KV.F16, q8_0: KV.Q8_0 };

/** Bytes of one cache row (one position of one kv head): a q8_0 row is its codes padded to 4 bytes, then its scales. */
export function kvRowBytes(type: KvType, headDim: number): number {
  if (type === "q8_0") return Math.ceil(headDim / 4) * 4 + Math.ceil(headDim / 32) * 4;
  return headDim * (type === "f16" ? 2 : 4);
}

/** One layer's cache: K and V, each [kvHeads][capacity] rows of `type` (head-major), at wasm addresses. */
export interface LayerCache {
  k: number;
  v: number;
  /** Positions per head. */
  capacity: number;
}

export interface AttentionShape {
  heads: number;
  kvHeads: number;
  headDim: number;
  type: KvType;
}

/** Writes n tokens of keys and values (f32 [n][kvHeads·headDim] at k, v) at positions pos0 … pos0 + n − 1. */
export function storeKv(K: CpuKernels, cache: LayerCache, k: number, v: number, n: number, pos0: number, s: AttentionShape): void {
  const width = s.kvHeads * s.headDim;
  // a q8_0 row is quantized whole, so the threads' parts end on row boundaries
  const align = s.type === "q8_0" ? s.headDim : 64;
  const type = KV_CODE[s.type];
  K.dispatch("kvStore", [k, cache.k, width, s.headDim, cache.capacity, pos0, type], n * width, align, n * width * 4);
  K.dispatch("kvStore", [v, cache.v, width, s.headDim, cache.capacity, pos0, type], n * width, align, n * width * 4);
}

/**
 * out = attention of the n queries q (f32 [n][heads·headDim], token t at position pos0 + t, already rotated)
 * over cache positions 0 … pos0 + t. scores: f32 scratch of at least n·heads·(pos0 + n) floats.
 */
export function attend(K: CpuKernels, cache: LayerCache, q: number, out: number, scores: number, n: number, pos0: number, s: AttentionShape): void {
  if (s.heads % s.kvHeads) throw new OptionError("BAD_OPTION", `${s.heads} heads are not a multiple of ${s.kvHeads} kv heads`);
  const len = pos0 + n;
  // A unit is a block of ATTENTION_TOKEN_BLOCK query tokens × one kv head (see the kernel).
  const units = Math.ceil(n / ATTENTION_TOKEN_BLOCK) * s.kvHeads;
  const scale = 1 / Math.sqrt(s.headDim);
  K.dispatch(
    "attention",
    [q, cache.k, cache.v, KV_CODE[s.type], out, scores, len, s.heads, s.kvHeads, s.headDim, cache.capacity, pos0, scale, n],
    units,
    1,
    // work ≈ 2 passes over the visible cache per query
    n * s.heads * len * s.headDim * 2,
  );
}
