// Gated FFN activation, in place: gate[i] = act(gate[i])·up[i] over this step's n × ffn values, act = SiLU
// (SwiGLU) or relu(x)² (BitNet b1.58).
import { shader, STEP_BINDING, STEP_STRUCT, type ShaderSource } from "./shader.ts";

export type GluKind = "silu" | "relu2";

export function gluShader(kind: GluKind): ShaderSource {
  const act = kind === "silu" ? "g / (1.0 + exp(-g))" : "max(g, 0.0) * max(g, 0.0)";
  const body = /* wgsl */ `
struct Params { width: u32, _a: u32, _b: u32, _c: u32 }
${STEP_STRUCT}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= step.n * P.width) { return; }
  let g = gate[i];
  gate[i] = ${act} * up[i];
}`;
  return shader(
    `glu ${kind}`,
    [
      { name: "P", access: "uniform", type: "Params" },
      STEP_BINDING,
      { name: "gate", access: "read_write", type: "array<f32>" },
      { name: "up", access: "read", type: "array<f32>" },
    ],
    body,
  );
}
