// The hot loops of training: a dense linear layer y = x·Wᵀ and its two backward products. Everything else
// in the training pass is O(n·dim); these are O(n·dim·dim). f32 arrays go to the AssemblyScript kernels
// (./kernels.ts, multithreaded) once a run has installed them with useTrainKernels; f64 arrays (the gradient
// tests) and runs without kernels use the scalar references below, which are also what the kernels are
// tested against.
//
// Shapes: x [n][k] (n tokens of k inputs), w [m][k] (m output rows, row-major, as GGUF stores a linear
// layer), y [n][m]. The references sum in JS numbers (f64) and store once, in a fixed order: deterministic.
import type { TrainKernels } from "./kernels.ts";
import type { Vec } from "./tensor.ts";

let kernels: TrainKernels | null = null;

/** Routes f32 matmuls to `k` (null: the scalar references). Returns the previous setting. */
export function useTrainKernels(k: TrainKernels | null): TrainKernels | null {
  const previous = kernels;
  kernels = k;
  return previous;
}

export function matmulForward(y: Vec, x: Vec, w: Vec, n: number, k: number, m: number): void {
  if (kernels && y instanceof Float32Array && x instanceof Float32Array && w instanceof Float32Array) kernels.forward(y, x, w, n, k, m);
  else matmulForwardScalar(y, x, w, n, k, m);
}

export function matmulBackward(dy: Vec, x: Vec, w: Vec, n: number, k: number, m: number, dx: Vec | null, dw: Vec | null): void {
  if (
    kernels &&
    dy instanceof Float32Array &&
    x instanceof Float32Array &&
    w instanceof Float32Array &&
    (dx === null || dx instanceof Float32Array) &&
    (dw === null || dw instanceof Float32Array)
  ) {
    kernels.backward(dy, x, w, n, k, m, dx, dw);
  } else matmulBackwardScalar(dy, x, w, n, k, m, dx, dw);
}

/** y[t][r] = Σ_i x[t][i]·w[r][i]. */
export function matmulForwardScalar(y: Vec, x: Vec, w: Vec, n: number, k: number, m: number): void {
  for (let t = 0; t < n; t++) {
    const xo = t * k;
    for (let r = 0; r < m; r++) {
      const wo = r * k;
      let s = 0;
      for (let i = 0; i < k; i++) s += x[xo + i]! * w[wo + i]!;
      y[t * m + r] = s;
    }
  }
}

/**
 * Given dy = ∂L/∂y: dx[t][i] += Σ_r dy[t][r]·w[r][i] and dw[r][i] += Σ_t dy[t][r]·x[t][i]. Either output may
 * be null when not needed (the first layer's input, a frozen weight).
 */
export function matmulBackwardScalar(dy: Vec, x: Vec, w: Vec, n: number, k: number, m: number, dx: Vec | null, dw: Vec | null): void {
  const acc = new Float64Array(k);
  if (dx) {
    for (let t = 0; t < n; t++) {
      acc.fill(0);
      for (let r = 0; r < m; r++) {
        const d = dy[t * m + r]!;
        if (d === 0) continue;
        const wo = r * k;
        for (let i = 0; i < k; i++) acc[i]! += d * w[wo + i]!;
      }
      const xo = t * k;
      for (let i = 0; i < k; i++) dx[xo + i]! += acc[i]!;
    }
  }
  if (dw) {
    for (let r = 0; r < m; r++) {
      acc.fill(0);
      for (let t = 0; t < n; t++) {
        const d = dy[t * m + r]!;
        if (d === 0) continue;
        const xo = t * k;
        for (let i = 0; i < k; i++) acc[i]! += d * x[xo + i]!;
      }
      const wo = r * k;
      for (let i = 0; i < k; i++) dw[wo + i]! += acc[i]!;
    }
  }
}
