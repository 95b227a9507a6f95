// Greedy pick on the GPU: the index of the largest logit (the lowest index on ties, NaN never wins), so a
// greedy step reads back one u32 instead of the vocabulary's logits. One workgroup.
import { shader, type ShaderSource } from "./shader.ts";

export function argmaxShader(wg = 256): ShaderSource {
  const body = /* wgsl */ `
struct Params { count: u32, _a: u32, _b: u32, _c: u32 }
const WG = ${wg}u;
var<workgroup> bestV: array<f32, WG>;
var<workgroup> bestI: array<u32, WG>;

@compute @workgroup_size(${wg})
fn main(@builtin(local_invocation_index) tid: u32) {
  var v = -3.4e38;
  var idx = 0xffffffffu;
  for (var i = tid; i < P.count; i += WG) {
    let x = logits[i];
    if (x > v || (idx == 0xffffffffu && x == x)) { v = x; idx = i; }
  }
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
  if (tid == 0u) { result[0] = select(bestI[0], 0u, bestI[0] == 0xffffffffu); }
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
