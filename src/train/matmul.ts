// The hot loops of training: a dense linear layer y = x·Wᵀ and its two backward products. Everything else
// in the training pass is O(n·dim); these are O(n·dim·dim). They are isolated here, on plain arrays with
// explicit shapes, so that step 2 can replace this file with calls into the AssemblyScript kernels (and
// split rows over the thread pool) without touching any caller.
//
// Shapes: x [n][k] (n tokens of k inputs), w [m][k] (m output rows, row-major, as GGUF stores a linear
// layer), y [n][m]. Sums run in JS numbers (f64) and are stored once, in a fixed order: deterministic.
import type { Vec } from "./tensor.ts";

/** y[t][r] = Σ_i x[t][i]·w[r][i]. */
export function matmulForward(y: Vec, x: Vec, w: Vec, n: number, k: number, m: number): void {
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
export function matmulBackward(dy: Vec, x: Vec, w: Vec, n: number, k: number, m: number, dx: Vec | null, dw: Vec | null): void {
  const acc = new Float64Array(k);
  if (dx) {
    for (let t = 0; t < n; t++) {
      acc.fill(0);
      for (let r = 0; r < m; r++) {
        const d = dy[t * m + r]!;
        if (d === 0) continue;
        const wo = r * k;
        for (let i = 0; i < k; i++) acc[i] += d * w[wo + i]!;
      }
      const xo = t * k;
      for (let i = 0; i < k; i++) dx[xo + i] += acc[i]!;
    }
  }
  if (dw) {
    for (let r = 0; r < m; r++) {
      acc.fill(0);
      for (let t = 0; t < n; t++) {
        const d = dy[t * m + r]!;
        if (d === 0) continue;
        const xo = t * k;
        for (let i = 0; i < k; i++) acc[i] += d * x[xo + i]!;
      }
      const wo = r * k;
      for (let i = 0; i < k; i++) dw[wo + i] += acc[i]!;
    }
  }
}
