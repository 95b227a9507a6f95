// Kernel-test helpers shared by the CPU kernel tests.
import type { CpuKernels, Matrix } from "../../src/runtime/cpu/kernels.ts";

/** y = W·x for n tokens through the public entry (quantize + matmul), read back and the wasm buffers freed. */
export function linearOf(K: CpuKernels, W: Matrix, x: Float32Array, n: number): Float32Array {
  const xp = K.heap.upload(x);
  const out = K.heap.alloc(n * W.rows * 4);
  K.linear(W, xp, n, out);
  const y = K.heap.f32View(out, n * W.rows).slice();
  K.heap.free(xp);
  K.heap.free(out);
  return y;
}
