// The frame both matrix-times-activations shaders share (float-matmul.ts, ternary-matmul.ts): a workgroup of
// LANES × ROWS invocations computes ROWS output rows for TN tokens; each lane accumulates a strided part of its
// row's dot products, then the lane sums of each row are added with one barrier.

/** The constants, the workgroup scratch and the entry point up to the per-lane accumulators `acc[TN]`. */
export function rowLanesEntry(lanes: number, rows: number, tn: number): string {
  return /* wgsl */ `
const LANES = ${lanes}u;
const ROWS = ${rows}u;
const TN = ${tn}u;
var<workgroup> partial: array<f32, ${lanes * rows * tn}>;

@compute @workgroup_size(${lanes}, ${rows})
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let lane = lid.x;
  let row = wid.x * ROWS + lid.y;
  let t0 = wid.y * TN;
  let nt = min(TN, step.n - min(t0, step.n));`;
}

/**
 * The lane sums of each row, written to y[outIndex] (a WGSL expression of the token t0 + i and `row`), added to
 * what y holds there when `accumulate`. Closes the entry point.
 */
export function rowLanesReduce(outIndex: string, accumulate: boolean): string {
  return /* wgsl */ `
  // Lane sums of a row: one barrier, then lane i adds the partials of tokens i, i + LANES, … (a tree costs a
  // barrier per level, which CPU adapters pay dearly for).
  for (var i = 0u; i < TN; i++) { partial[(i * ROWS + lid.y) * LANES + lane] = acc[i]; }
  workgroupBarrier();
  if (row < P.m) {
    for (var i = lane; i < nt; i += LANES) {
      let base = (i * ROWS + lid.y) * LANES;
      var sum = 0.0;
      for (var j = 0u; j < LANES; j++) { sum += partial[base + j]; }
      let o = ${outIndex};
      y[o] = ${accumulate ? "y[o] + " : ""}sum;
    }
  }
}`;
}
