// Scalar reference of the int8 output head (assembly/kernels/head_q8.ts), in the kernel's very order: an exact
// integer sum per block, then per row acc = acc + f32(sum)·(d_w·d_x) in f32, block by block.
import { f16BitsToF32 } from "../../tensor-types/half.ts";

/**
 * out[t][r] for Q8_0 weights (m × k, GGUF blocks of 34 bytes) and int8 activations q [n][k] (element order) with
 * f32 scales d [n][k/32].
 */
export function int8HeadRef(w: Uint8Array, m: number, k: number, q: Int8Array, d: Float32Array, n: number): Float32Array {
  const f = Math.fround;
  const blocks = k / 32;
  const dv = new DataView(w.buffer, w.byteOffset, w.byteLength);
  const out = new Float32Array(n * m);
  for (let t = 0; t < n; t++) {
    for (let r = 0; r < m; r++) {
      let acc = 0;
      for (let b = 0; b < blocks; b++) {
        const blk = (r * blocks + b) * 34;
        let sum = 0;
        for (let j = 0; j < 32; j++) sum += dv.getInt8(blk + 2 + j) * q[t * k + b * 32 + j]!;
        const scale = f(f16BitsToF32(dv.getUint16(blk, true)) * d[t * blocks + b]!);
        acc = f(acc + f(sum * scale));
      }
      out[t * m + r] = acc;
    }
  }
  return out;
}
