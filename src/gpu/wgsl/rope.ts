// RoPE on this step's q (in place) and k, and the KV-cache store: the rotated k and the v of token t go to
// cache row pos0 + t. Angles come from a table cos/sin [position][rotDims/2] computed on the CPU at load
// (f64, llama.cpp's θ recurrence), because WGSL's sin/cos are only accurate to 2⁻¹¹ near ±π and worse
// beyond. Pairs: "adjacent" (2i, 2i+1) or "neox" (i, i + rotDims/2) inside each head; dimensions past
// rotDims are left as they are. One workgroup per token.
import { shader, STEP_BINDING, STEP_STRUCT, type ShaderSource } from "./shader.ts";

export function ropeStoreShader(neox: boolean): ShaderSource {
  const body = /* wgsl */ `
struct Params { heads: u32, kvHeads: u32, headDim: u32, half: u32, qStride: u32, kvStride: u32, _a: u32, _b: u32 }
${STEP_STRUCT}
const WG = 256u;

// Offsets of pair j inside a head.
fn pairA(j: u32) -> u32 { return ${neox ? "j" : "2u * j"}; }
fn pairB(j: u32) -> u32 { return ${neox ? "j + P.half" : "2u * j + 1u"}; }

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = wid.x;
  if (t >= step.n) { return; }
  let p = step.pos0 + t;
  let qo = t * P.qStride;
  let ko = t * P.kvStride;
  let co = p * P.kvStride;
  for (var i = tid; i < P.heads * P.half; i += WG) {
    let h = i / P.half;
    let j = i % P.half;
    let cs = table[p * P.half + j];
    let a = qo + h * P.headDim + pairA(j);
    let b = qo + h * P.headDim + pairB(j);
    let x0 = q[a];
    let x1 = q[b];
    q[a] = x0 * cs.x - x1 * cs.y;
    q[b] = x0 * cs.y + x1 * cs.x;
  }
  for (var i = tid; i < P.kvHeads * P.half; i += WG) {
    let h = i / P.half;
    let j = i % P.half;
    let cs = table[p * P.half + j];
    let a = h * P.headDim + pairA(j);
    let b = h * P.headDim + pairB(j);
    let x0 = k[ko + a];
    let x1 = k[ko + b];
    kc[co + a] = x0 * cs.x - x1 * cs.y;
    kc[co + b] = x0 * cs.y + x1 * cs.x;
  }
  let rest = P.headDim - 2u * P.half;
  for (var i = tid; i < P.kvHeads * rest; i += WG) {
    let d = (i / rest) * P.headDim + 2u * P.half + i % rest;
    kc[co + d] = k[ko + d];
  }
  for (var i = tid; i < P.kvStride; i += WG) { vc[co + i] = v[ko + i]; }
}`;
  return shader(
    `rope-store${neox ? " neox" : ""}`,
    [
      { name: "P", access: "uniform", type: "Params" },
      STEP_BINDING,
      { name: "table", access: "read", type: "array<vec2<f32>>" },
      { name: "q", access: "read_write", type: "array<f32>" },
      { name: "k", access: "read", type: "array<f32>" },
      { name: "v", access: "read", type: "array<f32>" },
      { name: "kc", access: "read_write", type: "array<f32>" },
      { name: "vc", access: "read_write", type: "array<f32>" },
    ],
    body,
  );
}
