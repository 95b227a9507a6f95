// The wasm side of training: the f32 SIMD matmul kernels (assembly/kernels/train.ts) on a CpuKernels of their
// own, the same wasm module, heap and thread pool machinery inference uses. Training arrays
// live in JS; each call copies its operands into a scratch region of the wasm memory and the result back,
// O(n·k + m·k + n·m) against the O(n·k·m) product.
//
// Splits: the forward over rows of W, dx over tokens, dW over rows of W. Each output element is computed
// by one thread in a fixed order, so results do not depend on the thread count (nor on the build: the
// kernels use no fused multiply-add).
import { CpuKernels } from "../runtime/cpu/kernels.ts";
import { OptionError, TernionError } from "../runtime/errors.ts";
import type { LoadOptions, SimdBuild } from "../runtime/cpu/wasm/loader.ts";

/** Multiply-adds below which a call stays on the calling thread (a dispatch costs a few µs). */
const PARALLEL_WORK = 1 << 15;

export interface TrainKernelsOptions extends LoadOptions {
  /** Threads, the caller included (default 1). */
  threads?: number;
}

/** The training matmuls on a CpuKernels instance of their own (its wasm memory, heap and thread pool). */
export class TrainKernels {
  private scratch = 0;
  private scratchBytes = 0;
  private disposed = false;

  private constructor(private readonly K: CpuKernels) {}

  static async create(o: TrainKernelsOptions = {}): Promise<TrainKernels> {
    const threads = o.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1) throw new OptionError("BAD_OPTION", `threads must be an integer ≥ 1, got ${threads}`);
    return new TrainKernels(await CpuKernels.create({ ...o, threads, parallelThreshold: PARALLEL_WORK }));
  }

  get build(): SimdBuild {
    return this.K.stats().simd;
  }

  get threads(): number {
    return this.K.threads;
  }

  /** y [n][m] = x [n][k] · w [m][k]ᵀ. */
  forward(y: Float32Array, x: Float32Array, w: Float32Array, n: number, k: number, m: number): void {
    const [py, px, pw] = this.place([n * m, n * k, m * k]);
    this.write(px, x, n * k);
    this.write(pw, w, m * k);
    this.K.dispatch("trainMatmulFwd", [py, px, pw, n, k, m], m, 1, n * k * m);
    this.read(py, y, n * m);
  }

  /** dx [n][k] += dy·w; dw [m][k] += dyᵀ·x (either may be null). */
  backward(
    dy: Float32Array,
    x: Float32Array,
    w: Float32Array,
    n: number,
    k: number,
    m: number,
    dx: Float32Array | null,
    dw: Float32Array | null,
  ): void {
    const [pdy, px, pw, pdx, pdw] = this.place([n * m, dw ? n * k : 0, dx ? m * k : 0, dx ? n * k : 0, dw ? m * k : 0]);
    this.write(pdy, dy, n * m);
    if (dx) {
      this.write(pw, w, m * k);
      this.write(pdx, dx, n * k);
      this.K.dispatch("trainMatmulDx", [pdx, pdy, pw, n, k, m], n, 1, n * k * m);
      this.read(pdx, dx, n * k);
    }
    if (dw) {
      this.write(px, x, n * k);
      this.write(pdw, dw, m * k);
      this.K.dispatch("trainMatmulDw", [pdw, pdy, px, n, k, m], m, 1, n * k * m);
      this.read(pdw, dw, m * k);
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.K.dispose();
  }

  /** Addresses of consecutive f32 arrays of the given lengths in the scratch region (grown as needed), one per length. */
  private place<const L extends readonly number[]>(lengths: L): { [I in keyof L]: number } {
    if (this.disposed) throw new TernionError("DISPOSED", "these training kernels were disposed");
    const sizes = lengths.map((l) => Math.ceil((l * 4) / 64) * 64);
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total > this.scratchBytes) {
      if (this.scratch) this.K.heap.free(this.scratch);
      this.scratchBytes = Math.max(total, 2 * this.scratchBytes);
      this.scratch = this.K.heap.alloc(this.scratchBytes);
    }
    let at = this.scratch;
    return sizes.map((s) => {
      const p = at;
      at += s;
      return p;
    }) as { [I in keyof L]: number };
  }

  private write(ptr: number, src: Float32Array, n: number): void {
    this.K.heap.f32.set(src.subarray(0, n), ptr >> 2);
  }

  private read(ptr: number, dst: Float32Array, n: number): void {
    dst.set(this.K.heap.f32.subarray(ptr >> 2, (ptr >> 2) + n));
  }
}
