// The RoPE cos/sin table of every position [position][rotDims/2] (vec2 of f32), computed once at load
// (runtime/model/rope-angles.ts, the CPU path's own angles).
import { ropeAngles } from "../runtime/model/rope-angles.ts";

export function ropeTable(positions: number, rotDims: number, base: number, freqScale: number): Float32Array {
  const out = new Float32Array(positions * rotDims);
  ropeAngles(
    out,
    0,
    Array.from({ length: positions }, (_, p) => p),
    positions,
    rotDims,
    base,
    freqScale,
  );
  return out;
}
