// Typed wrappers of the attention kernels (assembly/kernels/attention.ts): the store of new keys and values
// into a layer's cache and causal grouped-query attention of a batch of queries over it.
import { OptionError } from "../errors.ts";
import { ATTENTION_TOKEN_BLOCK } from "./abi.ts";
import type { CpuKernels } from "./kernels.ts";

export type KvType = "f32" | "f16";

/** One layer's cache: K and V, each [kvHeads][capacity][headDim] of `type` (head-major), at wasm addresses. */
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
  const f16 = s.type === "f16" ? 1 : 0;
  K.dispatch("kvStore", [k, cache.k, width, s.headDim, cache.capacity, pos0, f16], n * width, 64, n * width * 4);
  K.dispatch("kvStore", [v, cache.v, width, s.headDim, cache.capacity, pos0, f16], n * width, 64, n * width * 4);
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
    [q, cache.k, cache.v, s.type === "f16" ? 1 : 0, out, scores, len, s.heads, s.kvHeads, s.headDim, cache.capacity, pos0, scale, n],
    units,
    1,
    // work ≈ 2 passes over the visible cache per query
    n * s.heads * len * s.headDim * 2,
  );
}
