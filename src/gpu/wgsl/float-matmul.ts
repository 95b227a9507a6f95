// Float matmul y[t][rowBase + r] (+)= Σ_e W[r][e]·x[t][e] for F32 / F16 / BF16 / Q8_0 weights (float-formats.ts)
// with f32 activations: embeddings used as output heads, float models, float layers of mixed files. The same
// work split as the ternary kernel: 8 rows × `lanes` lanes striding over a row's words, TN tokens per
// thread, the lanes' partial sums added after one barrier. A matrix larger than one binding is split into row chunks (rowBase).
import { rowLanesEntry, rowLanesReduce } from "./row-lanes.ts";
import { ELEMENTS_PER_WORD, floatFormatWgsl, type FloatFormat } from "./float-formats.ts";
import { shader, STEP_BINDING, STEP_STRUCT, type Binding, type ShaderSource } from "./shader.ts";

export interface FloatMatmulVariant {
  format: FloatFormat;
  tn: number;
  /** Lanes per row (32 on GPUs, 4 on CPU adapters: KernelTuning). */
  lanes: number;
  accumulate: boolean;
}

export const FLOAT_ROWS_PER_WORKGROUP = 8;

export function floatMatmulShader(v: FloatMatmulVariant): ShaderSource {
  const bindings: Binding[] = [
    { name: "P", access: "uniform", type: "Params" },
    STEP_BINDING,
    { name: "w", access: "read", type: "array<u32>" },
    ...(v.format === "q8_0" ? [{ name: "wscale", access: "read", type: "array<f32>" } as Binding] : []),
    { name: "x", access: "read", type: "array<f32>" },
    { name: "y", access: "read_write", type: "array<f32>" },
  ];
  const e = ELEMENTS_PER_WORD[v.format];
  const xv = ["x[xb]", "vec2<f32>(x[xb], x[xb + 1u])", "", "vec4<f32>(x[xb], x[xb + 1u], x[xb + 2u], x[xb + 3u])"][e - 1];
  const wv = ["wv.x", "wv.xy", "", "wv"][e - 1];
  const rows = FLOAT_ROWS_PER_WORKGROUP;
  const body = /* wgsl */ `
struct Params { m: u32, k: u32, rowWords: u32, yStride: u32, yOffset: u32, rowBase: u32, xStride: u32, _pad: u32 }
${STEP_STRUCT}
${floatFormatWgsl(v.format)}
${rowLanesEntry(v.lanes, rows, v.tn)}
  var acc: array<f32, TN>;
  if (row < P.m) {
    for (var w = lane; w < P.rowWords; w += LANES) {
      let wv = wordValues(row, w);
      for (var i = 0u; i < TN; i++) {
        if (i < nt) {
          let xb = (t0 + i) * P.xStride + w * ELEMS;
          acc[i] += ${e === 1 ? "wv.x * x[xb]" : `dot(${wv}, ${xv})`};
        }
      }
    }
  }${rowLanesReduce("(t0 + i) * P.yStride + P.yOffset + P.rowBase + row", v.accumulate)}`;
  return shader(`float-matmul ${v.format} tn${v.tn} l${v.lanes}${v.accumulate ? " acc" : ""}`, bindings, body);
}
