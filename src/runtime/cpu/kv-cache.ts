// The KV cache: per layer, the rotated keys and the values of every position so far, [kvHeads][capacity][headDim]
// each (head-major: assembly/kernels/attention.ts), f32 (exact) or f16 (half the memory, llama.cpp's default). Positions are filled in order; `length` is
// how many are valid, and rewinding is just lowering it.
import type { CpuKernels } from "./kernels.ts";
import type { KvType, LayerCache } from "./attention.ts";

export class KvCache {
  readonly layers: LayerCache[] = [];
  /** Valid positions (0 … length − 1). */
  length = 0;

  constructor(
    private readonly K: CpuKernels,
    readonly layerCount: number,
    readonly width: number,
    readonly capacity: number,
    readonly type: KvType,
  ) {
    const bytes = KvCache.layerBytes(width, capacity, type);
    for (let l = 0; l < layerCount; l++) this.layers.push({ k: K.heap.alloc(bytes), v: K.heap.alloc(bytes), capacity });
  }

  /** Bytes of one layer's K (or V). */
  static layerBytes(width: number, capacity: number, type: KvType): number {
    return Math.ceil((width * capacity * (type === "f16" ? 2 : 4)) / 64) * 64;
  }

  /** Bytes of a whole cache. */
  static bytes(layers: number, width: number, capacity: number, type: KvType): number {
    return 2 * layers * KvCache.layerBytes(width, capacity, type);
  }

  free(): void {
    for (const c of this.layers.splice(0)) {
      this.K.heap.free(c.k);
      this.K.heap.free(c.v);
    }
  }
}
