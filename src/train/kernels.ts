// The wasm side of training: the f32 SIMD matmul kernels (assembly/kernels/train.ts) on their own wasm
// instance and thread pool, the same machinery inference uses (runtime/cpu/threads.ts). Training arrays
// live in JS; each call copies its operands into a scratch region of the wasm memory and the result back,
// O(n·k + m·k + n·m) against the O(n·k·m) product.
//
// Splits: the forward over rows of W, dx over tokens, dW over rows of W. Each output element is computed
// by one thread in a fixed order, so results do not depend on the thread count (nor on the build: the
// kernels use no fused multiply-add).
import { OptionError, TernionError } from "../runtime/errors.ts";
import { CONTROL_BLOCK_BYTES, ThreadPool } from "../runtime/cpu/threads.ts";
import { sharedMemorySupport } from "../runtime/wasm/features.ts";
import { WasmHeap } from "../runtime/wasm/heap.ts";
import { loadKernels, type LoadOptions, type SimdBuild } from "../runtime/wasm/loader.ts";

const EXPORTS = ["trainMatmulFwd", "trainMatmulDx", "trainMatmulDw"] as const;
const FWD = 0;
const DX = 1;
const DW = 2;
/** Multiply-adds below which a call stays on the calling thread (a dispatch costs a few µs). */
const PARALLEL_WORK = 1 << 15;

export interface TrainKernelsOptions extends LoadOptions {
  /** Threads, the caller included (default 1). */
  threads?: number;
}

export class TrainKernels {
  private scratch = 0;
  private scratchBytes = 0;
  private disposed = false;

  private constructor(
    private readonly heap: WasmHeap,
    private readonly pool: ThreadPool,
    readonly build: SimdBuild,
  ) {}

  static async create(o: TrainKernelsOptions = {}): Promise<TrainKernels> {
    const threads = o.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1) throw new OptionError("BAD_OPTION", `threads must be an integer ≥ 1, got ${threads}`);
    const shared = threads > 1 && sharedMemorySupport().ok;
    const loaded = await loadKernels({ ...o, sharedMemory: shared });
    const memory = WasmHeap.createMemory(16 << 20, shared);
    const instance = await WebAssembly.instantiate(loaded.module, { env: { memory } });
    const raw = instance.exports as unknown as Record<string, (...a: number[]) => void>;
    const fns = EXPORTS.map((n) => {
      if (typeof raw[n] !== "function") throw new TernionError("WASM_INVALID", `the wasm lacks export ${n} (rebuild it: npm run build:wasm)`);
      return raw[n]!;
    });
    const heap = new WasmHeap(memory, (raw["heapBase"] as unknown as () => number)());
    const control = heap.calloc(CONTROL_BLOCK_BYTES);
    const pool = shared
      ? await ThreadPool.create({ threads, module: loaded.module, bytes: loaded.bytes, memory, names: EXPORTS, control }, fns)
      : ThreadPool.single(memory, control, fns);
    return new TrainKernels(heap, pool, loaded.build);
  }

  get threads(): number {
    return this.pool.size;
  }

  /** y [n][m] = x [n][k] · w [m][k]ᵀ. */
  forward(y: Float32Array, x: Float32Array, w: Float32Array, n: number, k: number, m: number): void {
    const [py, px, pw] = this.place([n * m, n * k, m * k]);
    this.write(px, x, n * k);
    this.write(pw, w, m * k);
    this.pool.run(FWD, [py, px, pw, n, k, m], m, 1, this.parts(n * k * m));
    this.read(py, y, n * m);
  }

  /** dx [n][k] += dy·w; dw [m][k] += dyᵀ·x (either may be null). */
  backward(dy: Float32Array, x: Float32Array, w: Float32Array, n: number, k: number, m: number, dx: Float32Array | null, dw: Float32Array | null): void {
    const [pdy, px, pw, pdx, pdw] = this.place([n * m, dw ? n * k : 0, dx ? m * k : 0, dx ? n * k : 0, dw ? m * k : 0]);
    this.write(pdy, dy, n * m);
    if (dx) {
      this.write(pw, w, m * k);
      this.write(pdx, dx, n * k);
      this.pool.run(DX, [pdx, pdy, pw, n, k, m], n, 1, this.parts(n * k * m));
      this.read(pdx, dx, n * k);
    }
    if (dw) {
      this.write(px, x, n * k);
      this.write(pdw, dw, m * k);
      this.pool.run(DW, [pdw, pdy, px, n, k, m], m, 1, this.parts(n * k * m));
      this.read(pdw, dw, m * k);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.pool.dispose();
  }

  private parts(work: number): number {
    return work >= PARALLEL_WORK ? this.pool.size : 1;
  }

  /** Addresses of consecutive f32 arrays of the given lengths in the scratch region (grown as needed). */
  private place(lengths: number[]): number[] {
    if (this.disposed) throw new TernionError("DISPOSED", "these training kernels were disposed");
    const sizes = lengths.map((l) => Math.ceil((l * 4) / 64) * 64);
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total > this.scratchBytes) {
      if (this.scratch) this.heap.free(this.scratch);
      this.scratchBytes = Math.max(total, 2 * this.scratchBytes);
      this.scratch = this.heap.alloc(this.scratchBytes);
    }
    let at = this.scratch;
    return sizes.map((s) => {
      const p = at;
      at += s;
      return p;
    });
  }

  private write(ptr: number, src: Float32Array, n: number): void {
    this.heap.f32.set(src.subarray(0, n), ptr >> 2);
  }

  private read(ptr: number, dst: Float32Array, n: number): void {
    dst.set(this.heap.f32.subarray(ptr >> 2, (ptr >> 2) + n));
  }
}
