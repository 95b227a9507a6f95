// Embedding lookup: x[t] = row tokens[t] of the embedding (any float format), for the tokens of this step
// whose row lies in this chunk [rowBase, rowBase + rows). One workgroup per token.
import { floatFormatWgsl, type FloatFormat } from "./float-formats.ts";
import { shader, STEP_BINDING, STEP_STRUCT, type Binding, type ShaderSource } from "./shader.ts";

export function embedShader(format: FloatFormat): ShaderSource {
  const bindings: Binding[] = [
    { name: "P", access: "uniform", type: "Params" },
    STEP_BINDING,
    { name: "tokens", access: "read", type: "array<u32>" },
    { name: "w", access: "read", type: "array<u32>" },
    ...(format === "q8_0" ? [{ name: "wscale", access: "read", type: "array<f32>" } as Binding] : []),
    { name: "x", access: "read_write", type: "array<f32>" },
  ];
  const body = /* wgsl */ `
struct Params { k: u32, rowWords: u32, rowBase: u32, rows: u32 }
${STEP_STRUCT}
${floatFormatWgsl(format)}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let t = wid.x;
  if (t >= step.n) { return; }
  let token = tokens[t];
  if (token < P.rowBase || token - P.rowBase >= P.rows) { return; }
  let row = token - P.rowBase;
  for (var w = tid; w < P.rowWords; w += 64u) {
    let v = wordValues(row, w);
    for (var b = 0u; b < ELEMS; b++) {
      let e = w * ELEMS + b;
      if (e < P.k) { x[t * P.k + e] = v[b]; }
    }
  }
}`;
  return shader(`embed ${format}`, bindings, body);
}
