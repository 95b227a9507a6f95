// RMSNorm y[t] = x[t] / sqrt(mean(x[t]²) + eps) ⊙ w, one workgroup per token. `last`: only the step's last
// token, written to row 0 (the final norm before the output head, which needs no other position).
import { shader, STEP_BINDING, STEP_STRUCT, type ShaderSource } from "./shader.ts";

export function rmsNormShader(last: boolean, wg = 256): ShaderSource {
  const body = /* wgsl */ `
struct Params { k: u32, eps: f32, _a: u32, _b: u32 }
${STEP_STRUCT}
const WG = ${wg}u;
var<workgroup> part: array<f32, WG>;

@compute @workgroup_size(${wg})
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  ${last ? "let t = step.n - 1u;\n  let o = 0u;" : "let t = wid.x;\n  let o = t;"}
  // An idle workgroup (t ≥ n) runs empty loops: no return before a barrier (SwiftShader crashes on it).
  let k = select(0u, P.k, t < step.n);
  var ss = 0.0;
  for (var e = tid; e < k; e += WG) { let v = x[t * P.k + e]; ss += v * v; }
  part[tid] = ss;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (tid < s) { part[tid] += part[tid + s]; }
    workgroupBarrier();
  }
  let r = 1.0 / sqrt(part[0] / f32(P.k) + P.eps);
  for (var e = tid; e < k; e += WG) { y[o * P.k + e] = x[t * P.k + e] * r * w[e]; }
}`;
  return shader(
    `rmsnorm${last ? " last" : ""} wg${wg}`,
    [
      { name: "P", access: "uniform", type: "Params" },
      STEP_BINDING,
      { name: "x", access: "read", type: "array<f32>" },
      { name: "w", access: "read", type: "array<f32>" },
      { name: "y", access: "read_write", type: "array<f32>" },
    ],
    body,
  );
}
