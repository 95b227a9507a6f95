// Scalar references (f64) of RMSNorm, RoPE, softmax and the gated activations.

export function rmsNormRef(x: Float32Array, w: Float32Array | undefined, n: number, k: number, eps: number): Float64Array {
  const out = new Float64Array(n * k);
  for (let t = 0; t < n; t++) {
    let ss = 0;
    for (let i = 0; i < k; i++) ss += x[t * k + i]! ** 2;
    const scale = 1 / Math.sqrt(ss / k + eps);
    for (let i = 0; i < k; i++) out[t * k + i] = x[t * k + i]! * scale * (w ? w[i]! : 1);
  }
  return out;
}

/**
 * RoPE with llama.cpp's angles: θ_0 = pos·freqScale, θ_{i+1} = θ_i·base^(−2/nRot), each rounded to f32 (that
 * recurrence drifts from pos·base^(−2i/nRot) by a few ulp per step, and llama.cpp's logits follow it).
 */
export function ropeRef(
  x: Float32Array,
  n: number,
  heads: number,
  headDim: number,
  pos: ArrayLike<number>,
  base: number,
  neox: boolean,
  nRot = headDim,
  freqScale = 1,
): Float64Array {
  const out = Float64Array.from(x);
  const half = nRot / 2;
  const thetaScale = Math.fround(base ** (-2 / nRot));
  for (let t = 0; t < n; t++) {
    let theta = Math.fround(Math.fround(pos[t]!) * Math.fround(freqScale));
    for (let i = 0; i < half; i++) {
      const c = Math.cos(theta);
      const s = Math.sin(theta);
      for (let h = 0; h < heads; h++) {
        const o = t * heads * headDim + h * headDim;
        const ia = o + (neox ? i : 2 * i);
        const ib = o + (neox ? i + half : 2 * i + 1);
        const a = x[ia]!;
        const b = x[ib]!;
        out[ia] = a * c - b * s;
        out[ib] = a * s + b * c;
      }
      theta = Math.fround(theta * thetaScale);
    }
  }
  return out;
}

export function softmaxRef(x: Float32Array, rows: number, len: number, scale: number): Float64Array {
  const out = new Float64Array(rows * len);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let i = 0; i < len; i++) m = Math.max(m, x[r * len + i]! * scale);
    if (m === -Infinity) m = 0;
    let sum = 0;
    for (let i = 0; i < len; i++) sum += out[r * len + i] = Math.exp(x[r * len + i]! * scale - m);
    for (let i = 0; i < len; i++) out[r * len + i] = sum > 0 ? out[r * len + i]! / sum : 0;
  }
  return out;
}

export function siluRef(v: number): number {
  return v / (1 + Math.exp(-v));
}

export function gluRef(kind: "silu" | "relu2", g: Float32Array, u: Float32Array | undefined): Float64Array {
  const out = new Float64Array(g.length);
  for (let i = 0; i < g.length; i++) {
    const a = kind === "silu" ? siluRef(g[i]!) : Math.max(0, g[i]!) ** 2;
    out[i] = u ? a * u[i]! : a;
  }
  return out;
}
