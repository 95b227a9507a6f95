// The numeric arrays of the training code. Everything runs on Float32Array in production; the very same code
// runs on Float64Array in the gradient tests, so that a finite-difference check compares the backward pass
// with a float64 derivative (errors ~1e-9) instead of fighting f32 rounding with loose tolerances.
export type Vec = Float32Array | Float64Array;
export type Precision = "f32" | "f64";

export function alloc(precision: Precision, n: number): Vec {
  return precision === "f64" ? new Float64Array(n) : new Float32Array(n);
}

export function precisionOf(v: Vec): Precision {
  return v instanceof Float64Array ? "f64" : "f32";
}

/** A zeroed array of the same precision as `like`. */
export function zerosLike(like: Vec, n: number = like.length): Vec {
  return alloc(precisionOf(like), n);
}

/** A copy of `src` in `precision` (rounded to f32 when asked). */
export function toPrecision(src: ArrayLike<number>, precision: Precision): Vec {
  const out = alloc(precision, src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i]!;
  return out;
}
