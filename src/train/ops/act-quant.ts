// BitNet b1.58 activations: the input of every ternary matmul is quantized to int8 per token (absmax:
// a = max|x|/127, x' = round(x/a)·a). Training sees the same rounding in the forward ("fake quantization")
// and passes the gradient straight through it (STE), as BitNet's QAT does: the backward is the identity, so
// callers simply reuse the incoming gradient.
import { type Vec, alloc, precisionOf } from "../tensor.ts";

export function fakeQuantInt8PerToken(x: Vec, n: number, k: number): Vec {
  const y = alloc(precisionOf(x), n * k);
  for (let t = 0; t < n; t++) {
    const o = t * k;
    let amax = 0;
    for (let i = 0; i < k; i++) amax = Math.max(amax, Math.abs(x[o + i]!));
    if (amax === 0) continue; // an all-zero row stays zero
    const a = amax / 127;
    for (let i = 0; i < k; i++) y[o + i] = Math.round(x[o + i]! / a) * a;
  }
  return y;
}
