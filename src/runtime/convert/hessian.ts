// The layer Hessian of GPTQ / PB-LLM and what the quantizer needs of it. For a linear layer y = W·x with
// calibration inputs x_1…x_n (k values each), H = (2/n)·Σ x xᵀ (k × k) is the Hessian of the squared output
// error ‖W x − Ŵ x‖² in each row of W. All arithmetic is f64, row-major k × k.
import { ModelError } from "../errors.ts";

/** GPTQ's dampening: λ = DAMP · mean(diag H) is added to the diagonal, so that H is safely positive definite. */
export const GPTQ_DAMP = 0.01;

/** Adds Σ_t x_t x_tᵀ over the n rows of `x` (n × k) into `sum` (k × k; both triangles). */
export function accumulateInputProducts(sum: Float64Array, x: ArrayLike<number>, n: number, k: number): void {
  const row = new Float64Array(k);
  for (let t = 0; t < n; t++) {
    for (let a = 0; a < k; a++) row[a] = x[t * k + a]!;
    for (let a = 0; a < k; a++) {
      const xa = row[a]!;
      if (xa === 0) continue;
      const base = a * k;
      for (let b = a; b < k; b++) sum[base + b]! += xa * row[b]!;
    }
  }
}

/** H = (2/n)·sum from the upper triangle accumulateInputProducts filled, mirrored into both triangles. */
export function hessianFromProducts(sum: Float64Array, n: number, k: number): Float64Array {
  const h = new Float64Array(k * k);
  const f = n > 0 ? 2 / n : 0;
  for (let a = 0; a < k; a++) {
    for (let b = a; b < k; b++) {
      const v = sum[a * k + b]! * f;
      h[a * k + b] = v;
      h[b * k + a] = v;
    }
  }
  return h;
}

export interface PreparedHessian {
  k: number;
  /** Columns whose calibration inputs were all zero (GPTQ sets their weights to 0: nothing can measure them). */
  dead: Uint8Array;
  /** The diagonal of the damped H⁻¹ (PB-LLM's saliency divides by its square). */
  inverseDiagonal: Float64Array;
  /** Upper-triangular U with H⁻¹ = Uᵀ·U (GPTQ's "Cholesky form" of the inverse), row-major k × k. */
  inverseCholesky: Float64Array;
}

/**
 * Dampens H as GPTQ does (dead columns get H_jj = 1, then λ = damp·mean(diag) on the diagonal) and returns
 * H⁻¹'s diagonal and its upper Cholesky factor. Throws a ModelError when H is not positive definite even then
 * (non-finite calibration activations).
 */
export function prepareHessian(hessian: Float64Array, k: number, damp = GPTQ_DAMP, name = "matrix"): PreparedHessian {
  if (hessian.length !== k * k) throw new ModelError("BAD_HESSIAN", `${name}: a Hessian of ${hessian.length} values is not ${k} × ${k}`);
  const h = Float64Array.from(hessian);
  const dead = new Uint8Array(k);
  let diag = 0;
  for (let j = 0; j < k; j++) {
    if (h[j * k + j] === 0) {
      dead[j] = 1;
      h[j * k + j] = 1;
    }
    diag += h[j * k + j]!;
  }
  const lambda = (damp * diag) / k;
  for (let j = 0; j < k; j++) h[j * k + j]! += lambda;

  const l = choleskyLower(h, k, name); // H = L Lᵀ
  const li = invertLower(l, k); // L⁻¹
  // H⁻¹ = L⁻ᵀ L⁻¹: entry (a, b) = Σ_{c ≥ max(a,b)} L⁻¹[c][a] · L⁻¹[c][b]
  const inv = new Float64Array(k * k);
  for (let a = 0; a < k; a++) {
    for (let b = a; b < k; b++) {
      let s = 0;
      for (let c = b; c < k; c++) s += li[c * k + a]! * li[c * k + b]!;
      inv[a * k + b] = s;
      inv[b * k + a] = s;
    }
  }
  const inverseDiagonal = new Float64Array(k);
  for (let j = 0; j < k; j++) inverseDiagonal[j] = inv[j * k + j]!;
  const lowerOfInverse = choleskyLower(inv, k, name); // H⁻¹ = M Mᵀ, so U = Mᵀ
  const inverseCholesky = new Float64Array(k * k);
  for (let a = 0; a < k; a++) for (let b = 0; b <= a; b++) inverseCholesky[b * k + a] = lowerOfInverse[a * k + b]!;
  return { k, dead, inverseDiagonal, inverseCholesky };
}

function choleskyLower(a: Float64Array, k: number, name: string): Float64Array {
  const l = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * k + j]!;
      for (let c = 0; c < j; c++) s -= l[i * k + c]! * l[j * k + c]!;
      if (i === j) {
        if (!(s > 0)) throw new ModelError("BAD_HESSIAN", `${name}: the calibration Hessian is not positive definite (pivot ${j} is ${s})`);
        l[i * k + i] = Math.sqrt(s);
      } else {
        l[i * k + j] = s / l[j * k + j]!;
      }
    }
  }
  return l;
}

function invertLower(l: Float64Array, k: number): Float64Array {
  const inv = new Float64Array(k * k);
  for (let j = 0; j < k; j++) {
    inv[j * k + j] = 1 / l[j * k + j]!;
    for (let i = j + 1; i < k; i++) {
      let s = 0;
      for (let c = j; c < i; c++) s += l[i * k + c]! * inv[c * k + j]!;
      inv[i * k + j] = -s / l[i * k + i]!;
    }
  }
  return inv;
}
