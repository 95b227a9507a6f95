// The KV cache: per layer, the rotated keys and the values of every position so far, [kvHeads][capacity] rows of
// headDim each (head-major: assembly/kernels/attention.ts), f32 (exact), f16 (half the memory, llama.cpp's default)
// or q8_0 (opt-in, 1.125 bytes per element). Positions are filled in order; `length` is how many are valid, and
// rewinding is just lowering it.
import type { CpuKernels } from "./kernels.ts";
import { kvRowBytes, type KvType, type LayerCache } from "./attention.ts";

export class KvCache {
  readonly layers: LayerCache[] = [];
  /** Valid positions (0 … length − 1). */
  length = 0;

  constructor(
    private readonly K: CpuKernels,
    readonly layerCount: number,
    readonly kvHeads: number,
    readonly headDim: number,
    readonly capacity: number,
    readonly type: KvType,
  ) {
    const bytes = KvCache.layerBytes(kvHeads, headDim, capacity, type);
    for (let l = 0; l < layerCount; l++) this.layers.push({ k: K.heap.alloc(bytes), v: K.heap.alloc(bytes), capacity });
  }

  /** Bytes of one layer's K (or V). */
  static layerBytes(kvHeads: number, headDim: number, capacity: number, type: KvType): number {
    return Math.ceil((kvHeads * capacity * kvRowBytes(type, headDim)) / 64) * 64;
  }

  /** Bytes of a whole cache. */
  static bytes(layers: number, kvHeads: number, headDim: number, capacity: number, type: KvType): number {
    return 2 * layers * KvCache.layerBytes(kvHeads, headDim, capacity, type);
  }

  free(): void {
    for (const c of this.layers.splice(0)) {
      this.K.heap.free(c.k);
      this.K.heap.free(c.v);
    }
  }
}
