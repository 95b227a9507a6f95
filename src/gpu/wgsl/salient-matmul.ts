// The salient side matrix's product (runtime/model/salient-file.ts) added to a ternary matmul's output:
// y[t][yOffset + r] += scale[r]·Σ_e val[e]·x[t][idx[e]] over row r's entries [rows[r], rows[r+1]), x the f32 input
// of the matrix (not its quantized copy). One thread per (row, token): the gather is scalar on every backend, and a
// row's few entries (1 % of k) leave nothing to split. Entries are packed one per word: column in the low 16 bits,
// the i8 value in bits 16–23 (./../salient.ts packs them).
import { shader, STEP_BINDING, STEP_STRUCT, type ShaderSource } from "./shader.ts";

export const SALIENT_ROWS_PER_WORKGROUP = 64;

export function salientMatmulShader(): ShaderSource {
  const body = /* wgsl */ `
struct Params { m: u32, k: u32, xStride: u32, yStride: u32, yOffset: u32, _a: u32, _b: u32, _c: u32 }
${STEP_STRUCT}

@compute @workgroup_size(${SALIENT_ROWS_PER_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  let t = gid.y;
  if (r >= P.m || t >= step.n) { return; }
  let a = rows[r];
  let b = rows[r + 1u];
  if (a == b) { return; }
  let xb = t * P.xStride;
  var s = 0.0;
  for (var e = a; e < b; e++) {
    let w = entries[e];
    let q = f32((i32(w << 8u)) >> 24u);
    s += q * x[xb + (w & 0xffffu)];
  }
  let o = t * P.yStride + P.yOffset + r;
  y[o] += scale[r] * s;
}`;
  return shader(
    "salient-matmul",
    [
      { name: "P", access: "uniform", type: "Params" },
      STEP_BINDING,
      { name: "rows", access: "read", type: "array<u32>" },
      { name: "entries", access: "read", type: "array<u32>" },
      { name: "scale", access: "read", type: "array<f32>" },
      { name: "x", access: "read", type: "array<f32>" },
      { name: "y", access: "read_write", type: "array<f32>" },
    ],
    body,
  );
}
