// Causal grouped-query attention over the KV cache, for decode (n = 1) and prefill alike: query token t of
// the step sits at position pos0 + t and sees cache rows 0 … pos0 + t. One workgroup per (head, token)
// walks the keys in tiles of 64 with an online softmax (running max and sum, rescaled per tile), so no
// score buffer of the context's length is needed. Thread i owns output dimensions i, i + 64, ….
import { shader, STEP_BINDING, STEP_STRUCT, type ShaderSource } from "./shader.ts";

export function attentionShader(headDim: number): ShaderSource {
  const slots = Math.ceil(headDim / 64);
  const body = /* wgsl */ `
struct Params { heads: u32, kvHeads: u32, qStride: u32, kvStride: u32, scale: f32, _a: u32, _b: u32, _c: u32 }
${STEP_STRUCT}
const TILE = 64u;
const HD = ${headDim}u;
const SLOTS = ${slots}u;
var<workgroup> qs: array<f32, HD>;
var<workgroup> score: array<f32, TILE>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let h = wid.x;
  let t = wid.y;
  // An idle workgroup (t ≥ n) sees no keys and writes nothing: no return before a barrier (SwiftShader
  // crashes on it).
  let live = t < step.n;
  let len = select(0u, step.pos0 + t + 1u, live);
  let kvo = (h / (P.heads / P.kvHeads)) * HD;
  for (var d = tid; d < HD && live; d += TILE) { qs[d] = q[t * P.qStride + h * HD + d]; }
  workgroupBarrier();

  var m = -3.0e38;
  var l = 0.0;
  var acc: array<f32, SLOTS>;
  for (var j0 = 0u; j0 < len; j0 += TILE) {
    // Scores of this tile: thread i takes key j0 + i.
    let j = j0 + tid;
    var s = -3.0e38;
    if (j < len) {
      var dp = 0.0;
      for (var d = 0u; d < HD; d++) { dp += qs[d] * kc[j * P.kvStride + kvo + d]; }
      s = dp * P.scale;
    }
    score[tid] = s;
    workgroupBarrier();
    // Rescale the running sums to the new maximum, then add the tile.
    let count = min(TILE, len - j0);
    var mt = m;
    for (var i = 0u; i < count; i++) { mt = max(mt, score[i]); }
    let corr = exp(m - mt);
    l *= corr;
    for (var s2 = 0u; s2 < SLOTS; s2++) { acc[s2] *= corr; }
    for (var i = 0u; i < count; i++) {
      let pr = exp(score[i] - mt);
      l += pr;
      let vrow = (j0 + i) * P.kvStride + kvo;
      for (var s2 = 0u; s2 < SLOTS; s2++) {
        let d = tid + s2 * TILE;
        if (d < HD) { acc[s2] += pr * vc[vrow + d]; }
      }
    }
    m = mt;
    workgroupBarrier();
  }
  for (var s2 = 0u; s2 < SLOTS; s2++) {
    let d = tid + s2 * TILE;
    if (d < HD && live) { o[t * P.qStride + h * HD + d] = acc[s2] / l; }
  }
}`;
  return shader(
    `attention hd${headDim}`,
    [
      { name: "P", access: "uniform", type: "Params" },
      STEP_BINDING,
      { name: "q", access: "read", type: "array<f32>" },
      { name: "kc", access: "read", type: "array<f32>" },
      { name: "vc", access: "read", type: "array<f32>" },
      { name: "o", access: "read_write", type: "array<f32>" },
    ],
    body,
  );
}
