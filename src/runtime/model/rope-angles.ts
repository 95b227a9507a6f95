// The RoPE angles as cos/sin pairs, llama.cpp's way: θ₀ = pos·freqScale, θᵢ₊₁ = θᵢ·base^(−2/nRot), each rounded
// to f32 as ggml does, the cos and sin taken in f64 (the CPU kernels and the WebGPU shaders both read this
// table: WGSL's sin/cos lose accuracy for large angles).

/** Writes [count][nRot/2] pairs (cos θᵢ, sin θᵢ) for positions[0 … count) into `out` from index `at`. */
export function ropeAngles(
  out: Float32Array,
  at: number,
  positions: ArrayLike<number>,
  count: number,
  nRot: number,
  base: number,
  freqScale: number,
): void {
  const half = nRot / 2;
  const thetaScale = Math.fround(base ** (-2 / nRot));
  const fs = Math.fround(freqScale);
  for (let t = 0; t < count; t++) {
    let theta = Math.fround(Math.fround(positions[t]!) * fs);
    for (let i = 0; i < half; i++) {
      out[at + (t * half + i) * 2] = Math.cos(theta);
      out[at + (t * half + i) * 2 + 1] = Math.sin(theta);
      theta = Math.fround(theta * thetaScale);
    }
  }
}
