// Scalar reference of the Vec-LUT matmul (assembly/kernels/ternary_lut.ts): the same algorithm without SIMD. Per
// tile of LUT_TOKENS tokens and per code byte of a T2 row (4 weights: elements 32l + j of a 128-weight chunk,
// l = 0…3; layout.ts), a table of the 81 sums Σ (c_l − 1)·q_l for each token, indexed by the base-3 value Σ c_l·3^l
// of the byte's codes; a row adds up its bytes' entries and flushes them per group through its family's f32
// epilogue, in the order of ./ternary.ts — so it gives the bits of the multiply-add references, which the tests
// check, and states the bounds that let the kernel keep its sums in i16 lanes.
import { OptionError, TernionError } from "../../errors.ts";
import { LUT_TOKENS } from "../abi.ts";
import type { RefActivations } from "./quant.ts";

const fr = Math.fround;

/** The weights' family: TQ2_0/TQ1_0 block scales [m][k/256], the I2_S tensor scale, or DLT α, γ [m][groups]. */
export type LutWeights =
  | { kind: "tq2"; d: Float32Array }
  | { kind: "i2s"; scale: number }
  | { kind: "dlt"; alpha: Float32Array; gamma: Float32Array; g: number };

/** Most |entry| of a table: 4 activations of magnitude ≤ 127. */
const ENTRY_BOUND = 4 * 127;

/** codes: m × k values 0/1/2 (−1, 0, +1); a: activations of the family's quantization. Out: f32 [n][m]. */
export function lutMatmulRef(codes: Uint8Array, m: number, k: number, a: RefActivations, w: LutWeights): Float32Array {
  // weights per flush group: a 256-block (TQ2, and I2_S's i16 flush), or the DLT group
  const span = w.kind === "dlt" ? w.g : 256;
  if (w.kind === "dlt" && w.g % 128) {
    throw new OptionError("BAD_OPTION", `Vec-LUT needs DLT groups of 128 or 256 weights (a code byte spans 128), got ${w.g}`);
  }
  const bytes = Math.ceil(k / 128) * 32;
  const groups = Math.ceil(k / span);
  const code = (r: number, e: number) => (e < k ? codes[r * k + e]! : 1);
  const elem = (B: number, l: number) => 128 * (B >> 5) + 32 * l + (B & 31);
  const out = new Float32Array(a.n * m);
  const table = new Int32Array(bytes * 81 * LUT_TOKENS);
  for (let t0 = 0; t0 < a.n; t0 += LUT_TOKENS) {
    const T = Math.min(LUT_TOKENS, a.n - t0);
    for (let B = 0; B < bytes; B++) {
      for (let idx = 0; idx < 81; idx++) {
        for (let t = 0; t < T; t++) {
          let sum = 0;
          for (let l = 0, p = idx; l < 4; l++, p = Math.floor(p / 3)) sum += ((p % 3) - 1) * a.q[(t0 + t) * a.kp + elem(B, l)]!;
          if (Math.abs(sum) > ENTRY_BOUND) throw new TernionError("LUT_BOUND", `table entry ${sum} exceeds ±${ENTRY_BOUND}`);
          table[(B * 81 + idx) * LUT_TOKENS + t] = sum;
        }
      }
    }
    for (let r = 0; r < m; r++) {
      for (let t = 0; t < T; t++) {
        const tok = t0 + t;
        let acc = 0;
        let whole = 0;
        for (let gi = 0; gi < groups; gi++) {
          let S = 0;
          for (let B = (gi * span) / 4; B < Math.min(bytes, ((gi + 1) * span) / 4); B++) {
            let idx = 0;
            for (let l = 3; l >= 0; l--) idx = idx * 3 + code(r, elem(B, l));
            S += table[(B * 81 + idx) * LUT_TOKENS + t]!;
          }
          // 64 entries (256 weights) at most per flush: the kernel's i16 lanes hold every partial sum
          if (Math.abs(S) > 32767) throw new TernionError("LUT_BOUND", `a flush group's sum ${S} leaves i16`);
          if (w.kind === "i2s") whole += S;
          else if (w.kind === "tq2") acc = fr(acc + fr(S * fr(w.d[r * groups + gi]! * a.d[tok * groups + gi]!)));
          else {
            acc = fr(acc + fr(S * fr(w.alpha[r * groups + gi]! * a.d[tok * groups + gi]!)));
            acc = fr(acc + fr(w.gamma[r * groups + gi]! * a.xs![tok * groups + gi]!));
          }
        }
        out[tok * m + r] = w.kind === "i2s" ? fr(whole * fr(a.d[tok]! * fr(w.scale))) : acc;
      }
    }
  }
  return out;
}
