// Greedy pick on the GPU: the index of the largest logit (the lowest index on ties), so a greedy step reads
// back one u32 instead of the vocabulary's logits. One workgroup. A NaN or ±∞ logit anywhere makes the result
// NON_FINITE_ARGMAX instead (tested on the exponent bits: WGSL lets a compiler assume x == x), which
// GpuLanguageModel turns into NON_FINITE_LOGITS, as the CPU sampler does.
import { shader, type ShaderSource } from "./shader.ts";

/** The argmax result that says the logits hold NaN or ±∞ (no vocabulary has 2^32 − 1 entries). */
export const NON_FINITE_ARGMAX = 0xffffffff;

export function argmaxShader(wg = 256): ShaderSource {
  const body = /* wgsl */ `
struct Params { count: u32, _a: u32, _b: u32, _c: u32 }
const WG = ${wg}u;
var<workgroup> bestV: array<f32, WG>;
var<workgroup> bestI: array<u32, WG>;
var<workgroup> nonFinite: atomic<u32>;

@compute @workgroup_size(${wg})
fn main(@builtin(local_invocation_index) tid: u32) {
  var v = -3.4e38;
  var idx = 0xffffffffu;
  var bad = 0u;
  for (var i = tid; i < P.count; i += WG) {
    let x = logits[i];
    bad |= u32((bitcast<u32>(x) & 0x7f800000u) == 0x7f800000u);
    if (x > v || (idx == 0xffffffffu && x == x)) { v = x; idx = i; }
  }
  if (bad != 0u) { atomicOr(&nonFinite, 1u); }
  bestV[tid] = v;
  bestI[tid] = idx;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (tid < s) {
      let ov = bestV[tid + s];
      let oi = bestI[tid + s];
      if (oi != 0xffffffffu && (bestI[tid] == 0xffffffffu || ov > bestV[tid] || (ov == bestV[tid] && oi < bestI[tid]))) {
        bestV[tid] = ov;
        bestI[tid] = oi;
      }
    }
    workgroupBarrier();
  }
  if (tid == 0u) {
    let best = select(bestI[0], 0u, bestI[0] == 0xffffffffu);
    result[0] = select(best, ${NON_FINITE_ARGMAX}u, atomicLoad(&nonFinite) != 0u);
  }
}`;
  return shader(
    "argmax",
    [
      { name: "P", access: "uniform", type: "Params" },
      { name: "logits", access: "read", type: "array<f32>" },
      { name: "result", access: "read_write", type: "array<u32>" },
    ],
    body,
  );
}
