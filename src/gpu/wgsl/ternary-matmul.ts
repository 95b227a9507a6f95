// Ternary matmul y[t][r] (+)= Σ_g scale[r][g]·d[t][g]·Σ_{e∈g} (code[r][e] − 1)·q[t][e] + shift[r][g]·xs[t][g],
// the decode matvec (TN = 1) and the prefill matmul (TN tokens per thread) in one kernel.
//
// Weights: "T2" code rows (src/runtime/cpu/layout.ts), read as u32 words: a row is rowWords = ceil(k/128)·8
// words; word w covers chunk c = w/8 (128 weights) and its byte j = w%8·4…+3, each byte holding the codes of
// weights 128c + 32l + 4j + b at bits 2l (l = 0..3). So the field at shift 2l of the four bytes are four
// consecutive weights, which meet one packed word of int8 activations: q word 32c + 8l + j. I2_S keeps its own
// order (weights 0–31 of a group in bits 7:6): the same, with shift 6 − 2l.
//
// Groups: scales (and DLT shifts) are f32 [m][G] for groups of g weights of a row, equal to the activation
// groups (TQ: 256 = Q8_K blocks; I2_S: the whole row, one scale replicated per row; DLT: g). g ≥ 128 puts a
// chunk in one group; g = 64 splits it in two.
//
// Work split: a workgroup is 8 rows × `lanes` lanes (32 on GPUs); the lanes of a row stride over its words
// (coalesced reads), each lane keeps TN token sums, and after one barrier lane i adds up token i's partials.
// Tokens: workgroup_id.y·TN.
import { rowLanesEntry, rowLanesReduce } from "./row-lanes.ts";
import { intDotWgsl } from "./int-dot.ts";
import { shader, STEP_BINDING, STEP_STRUCT, type Binding, type ShaderSource } from "./shader.ts";

export interface TernaryMatmulVariant {
  /** Tokens per thread (1 for decode). */
  tn: number;
  /** Lanes per row (32 on GPUs, 4 on CPU adapters: KernelTuning). */
  lanes: number;
  /** I2_S bit order inside a byte. */
  i2s: boolean;
  /** Groups of 64 (two per 128-weight chunk). */
  group64: boolean;
  /** DLT shifts present. */
  shift: boolean;
  /** y += result (the residual add) instead of y = result. */
  accumulate: boolean;
  packedDot: boolean;
}

export const TERNARY_ROWS_PER_WORKGROUP = 8;

export function ternaryMatmulShader(v: TernaryMatmulVariant): ShaderSource {
  const bindings: Binding[] = [
    { name: "P", access: "uniform", type: "Params" },
    STEP_BINDING,
    { name: "codes", access: "read", type: "array<u32>" },
    { name: "scales", access: "read", type: "array<f32>" },
    ...(v.shift ? [{ name: "shifts", access: "read", type: "array<f32>" } as Binding] : []),
    { name: "q", access: "read", type: "array<u32>" },
    { name: "dact", access: "read", type: "array<f32>" },
    ...(v.shift ? [{ name: "xs", access: "read", type: "array<f32>" } as Binding] : []),
    { name: "y", access: "read_write", type: "array<f32>" },
  ];
  const sh = (l: number) => `${v.i2s ? 6 - 2 * l : 2 * l}u`;
  const rows = TERNARY_ROWS_PER_WORKGROUP;
  const groupSum = v.group64
    ? /* wgsl */ `
          // g = 64: weights 0–63 of the chunk are group 2c, 64–127 group 2c + 1 (absent past the row's end).
          var part = f32(lo) * (scales[row * G + g0] * dact[t * G + g0]);
          if (g0 + 1u < G) { part += f32(hi) * (scales[row * G + g0 + 1u] * dact[t * G + g0 + 1u]); }
          acc[i] += part;`
    : /* wgsl */ `
          acc[i] += f32(lo + hi) * (scales[row * G + g0] * dact[t * G + g0]);`;
  const shiftTerm = v.shift
    ? /* wgsl */ `
    // DLT shift: + γ[r][g]·Σx over the group, once per group (the lanes share the groups).
    for (var g = lane; g < G; g += LANES) {
      for (var i = 0u; i < TN; i++) {
        if (i < nt) { acc[i] += shifts[row * G + g] * xs[(t0 + i) * G + g]; }
      }
    }`
    : "";
  const body = /* wgsl */ `
struct Params { m: u32, rowWords: u32, groupSize: u32, groups: u32, qWords: u32, yStride: u32, yOffset: u32, _pad: u32 }
${STEP_STRUCT}
${intDotWgsl(v.packedDot)}
${rowLanesEntry(v.lanes, rows, v.tn)}
  let G = P.groups;
  var acc: array<f32, TN>;
  if (row < P.m) {
    for (var w = lane; w < P.rowWords; w += LANES) {
      let word = codes[row * P.rowWords + w];
      let c = w >> 3u;
      let j = w & 7u;
      let c0 = signedCodes(word, ${sh(0)});
      let c1 = signedCodes(word, ${sh(1)});
      let c2 = signedCodes(word, ${sh(2)});
      let c3 = signedCodes(word, ${sh(3)});
      let g0 = ${v.group64 ? "2u * c" : "(c * 128u) / P.groupSize"};
      for (var i = 0u; i < TN; i++) {
        if (i < nt) {
          let t = t0 + i;
          let qb = t * P.qWords + c * 32u + j;
          let lo = dot4(c0, q[qb]) + dot4(c1, q[qb + 8u]);
          let hi = dot4(c2, q[qb + 16u]) + dot4(c3, q[qb + 24u]);${groupSum}
        }
      }
    }${shiftTerm}
  }${rowLanesReduce("(t0 + i) * P.yStride + P.yOffset + row", v.accumulate)}`;
  return shader(
    `ternary-matmul tn${v.tn} l${v.lanes}${v.i2s ? " i2s" : ""}${v.group64 ? " g64" : ""}${v.shift ? " shift" : ""}${v.accumulate ? " acc" : ""}`,
    bindings,
    body,
  );
}
