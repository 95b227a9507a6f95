// The RoPE angles of every position as a cos/sin table [position][rotDims/2] (vec2 of f32), computed once
// at load in f64 from llama.cpp's θ recurrence (θ₀ = pos·freqScale, θᵢ₊₁ = θᵢ·base^(−2/rotDims), each
// rounded to f32, as the CPU path's ropeRef), because WGSL's sin/cos lose accuracy for large angles.
export function ropeTable(positions: number, rotDims: number, base: number, freqScale: number): Float32Array {
  const half = rotDims / 2;
  const out = new Float32Array(positions * half * 2);
  const thetaScale = Math.fround(Math.pow(base, -2 / rotDims));
  for (let p = 0; p < positions; p++) {
    let theta = Math.fround(Math.fround(p) * Math.fround(freqScale));
    for (let i = 0; i < half; i++) {
      out[(p * half + i) * 2] = Math.cos(theta);
      out[(p * half + i) * 2 + 1] = Math.sin(theta);
      theta = Math.fround(theta * thetaScale);
    }
  }
  return out;
}
