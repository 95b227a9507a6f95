// Activation quantization to int8, one workgroup per (group, token), as the CPU path does per type
// (src/runtime/cpu/layout.ts, "Activations"):
//   "q8k"    llama.cpp's Q8_K (TQ1_0/TQ2_0): max = the first value of largest magnitude, iscale = −127/max,
//            q = min(127, round(iscale·x)), d = 1/iscale — over groups of 256.
//   "absmax" symmetric absmax (I2_S / BitNet per token, DLT per group): iscale = 127/amax,
//            q = clamp(round(x·iscale), ±127), d = amax/127.
// An all-zero group gives d = 0, q = 0. round() is WGSL's, half to even, as the CPU's nearest.
// Output: q as packed i8x4 words [n][qWords] (zero past k), d [n][G], and Σx per group [n][G] when `sums`.
import { shader, STEP_BINDING, STEP_STRUCT, type Binding, type ShaderSource } from "./shader.ts";

export type QuantMode = "q8k" | "absmax";

export function quantizeShader(mode: QuantMode, sums: boolean, wg = 256): ShaderSource {
  const bindings: Binding[] = [
    { name: "P", access: "uniform", type: "Params" },
    STEP_BINDING,
    { name: "x", access: "read", type: "array<f32>" },
    { name: "q", access: "read_write", type: "array<u32>" },
    { name: "dact", access: "read_write", type: "array<f32>" },
    ...(sums ? [{ name: "xs", access: "read_write", type: "array<f32>" } as Binding] : []),
  ];
  const scale =
    mode === "q8k"
      ? /* wgsl */ `
  let iscale = -127.0 / x[x0 + select(start, bestIdx[0], live && !zero)];
  let d = 1.0 / iscale;`
      : /* wgsl */ `
  let iscale = 127.0 / amax;
  let d = amax / 127.0;`;
  const quant = mode === "q8k" ? "clamp(round(iscale * v), -128.0, 127.0)" : "clamp(round(v * iscale), -127.0, 127.0)";
  const body = /* wgsl */ `
struct Params { k: u32, groupSize: u32, groups: u32, qWords: u32, xStride: u32, _a: u32, _b: u32, _c: u32 }
${STEP_STRUCT}
const WG = ${wg}u;
var<workgroup> bestAbs: array<f32, WG>;
var<workgroup> bestIdx: array<u32, WG>;
${sums ? "var<workgroup> sum: array<f32, WG>;" : ""}

@compute @workgroup_size(${wg})
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let g = wid.x;
  let t = wid.y;
  // No early return: SwiftShader crashes on a return before a barrier, so an idle workgroup runs empty loops.
  let live = t < step.n;
  let start = g * P.groupSize;
  let end = select(start, min(start + P.groupSize, P.k), live);
  let x0 = t * P.xStride;

  // Largest magnitude (first index on ties) and the sum, per thread, then across the workgroup.
  var a = -1.0;
  var idx = 0xffffffffu;
  var s = 0.0;
  for (var e = start + tid; e < end; e += WG) {
    let v = x[x0 + e];
    if (abs(v) > a) { a = abs(v); idx = e; }
    s += v;
  }
  bestAbs[tid] = a;
  bestIdx[tid] = idx;
  ${sums ? "sum[tid] = s;" : ""}
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (tid < stride) {
      let oa = bestAbs[tid + stride];
      let oi = bestIdx[tid + stride];
      if (oa > bestAbs[tid] || (oa == bestAbs[tid] && oi < bestIdx[tid])) { bestAbs[tid] = oa; bestIdx[tid] = oi; }
      ${sums ? "sum[tid] += sum[tid + stride];" : ""}
    }
    workgroupBarrier();
  }
  let amax = bestAbs[0];
  let zero = amax == 0.0;${scale}
  if (tid == 0u && live) {
    dact[t * P.groups + g] = select(d, 0.0, zero);
    ${sums ? "xs[t * P.groups + g] = sum[0];" : ""}
  }

  // Four values per packed word; bytes past the group's end are zero.
  let wEnd = (end + 3u) / 4u;
  for (var w = start / 4u + tid; w < wEnd; w += WG) {
    var word = 0u;
    for (var b = 0u; b < 4u; b++) {
      let e = 4u * w + b;
      if (e < end && !zero) {
        let v = x[x0 + e];
        word |= (bitcast<u32>(i32(${quant})) & 0xffu) << (8u * b);
      }
    }
    q[t * P.qWords + w] = word;
  }
  // The last group also clears the padding words up to the padded row length.
  if (g == P.groups - 1u && live) {
    for (var w = wEnd + tid; w < P.qWords; w += WG) { q[t * P.qWords + w] = 0u; }
  }
}`;
  return shader(`quantize ${mode}${sums ? " sums" : ""} wg${wg}`, bindings, body);
}
