// Absmean ternarization per group, stored in ternion's grouped ternary (DLT) layout (model/tensors.ts): for a
// matrix whose rows no ternary block type can hold. Each row is cut into groups of g values (the last one
// may be shorter); a group's scale is α = mean|W| over it and its codes T = round(clip(W/α, −1, 1)), so
// Ŵ = α·T with the shift γ = 0. This is BitNet's absmean rule (tensor-types/i2_s.ts) with one scale per group
// instead of one per tensor, which only fits the values more closely.
//
// The file holds the codes as TQ2_0 with rows padded to a multiple of 256 by zero codes (each block's d is
// the mean α of the groups it overlaps, a rough value for readers that ignore α), α and γ as F16 [G, rows],
// and g under the metadata key DLT_GROUP_KEY.
import { dltScaleNames, dltStoredRowLength } from "../model/tensors.ts";
import { GgmlType, tensorTypeTraits } from "../tensor-types/table.ts";
import { packTq2_0 } from "../tensor-types/ternary-codes.ts";

export interface GroupedTernary {
  /** −1/0/+1, rows × cols row-major. */
  codes: Int8Array;
  /** α per group, rows × G row-major (G = ceil(cols / group)). */
  alpha: ArrayLike<number>;
  /** γ per group, as α; absent: 0 (absmean has no shift; a fine-tuned DLT student has one). */
  gamma?: ArrayLike<number>;
}

/** Absmean per group of `group` values along each of `rows` rows of `cols` values. */
export function groupedAbsmeanTernarize(values: Float32Array, rows: number, cols: number, group: number): GroupedTernary {
  const G = Math.ceil(cols / group);
  const codes = new Int8Array(rows * cols);
  const alpha = new Float32Array(rows * G);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < G; g++) {
      const start = r * cols + g * group;
      const end = r * cols + Math.min(cols, (g + 1) * group);
      let sum = 0;
      for (let i = start; i < end; i++) sum += Math.abs(values[i]!);
      // The same 1e-5 floor as the per-tensor rule: an all-zero group gets zero codes and a harmless α.
      const a = Math.fround(Math.max(sum / (end - start), 1e-5));
      alpha[r * G + g] = a;
      for (let i = start; i < end; i++) {
        const x = values[i]! / a;
        codes[i] = x > 0.5 ? 1 : x < -0.5 ? -1 : 0;
      }
    }
  }
  return { codes, alpha };
}

export interface GroupedTernaryPart {
  name: string;
  dims: number[];
  type: GgmlType;
}

/** The three tensors of a grouped ternary matrix `name` [cols, rows], in file order: codes, α, γ. */
export function groupedTernaryLayout(name: string, rows: number, cols: number, group: number): GroupedTernaryPart[] {
  const G = Math.ceil(cols / group);
  const names = dltScaleNames(name);
  return [
    { name, dims: [dltStoredRowLength(cols), rows], type: GgmlType.TQ2_0 },
    { name: names.alpha, dims: [G, rows], type: GgmlType.F16 },
    { name: names.gamma, dims: [G, rows], type: GgmlType.F16 },
  ];
}

/** The bytes of groupedTernaryLayout's three tensors, in the same order. */
export function packGroupedTernary(t: GroupedTernary, rows: number, cols: number, group: number): Uint8Array[] {
  const G = Math.ceil(cols / group);
  const stored = dltStoredRowLength(cols);
  const padded = tq2Codes(t.codes, rows, cols, stored);
  const blocks = stored / 256;
  const d = new Float32Array(rows * blocks);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) {
      let sum = 0;
      let n = 0;
      for (let g = Math.floor((b * 256) / group); g < G && g * group < (b + 1) * 256; g++, n++) sum += t.alpha[r * G + g]!;
      d[r * blocks + b] = n ? sum / n : 0;
    }
  }
  return [
    packTq2_0(padded, d, rows, stored),
    tensorTypeTraits(GgmlType.F16).quantize(Float32Array.from(t.alpha)),
    t.gamma ? tensorTypeTraits(GgmlType.F16).quantize(Float32Array.from(t.gamma)) : new Uint8Array(rows * G * 2), // γ = 0: f16 zero bits
  ];
}

/** Codes −1/0/+1 (rows × cols) as TQ2_0 codes 0/1/2, each row padded to `stored` values with code 1 (zero). */
export function tq2Codes(codes: Int8Array, rows: number, cols: number, stored: number): Uint8Array {
  const out = new Uint8Array(rows * stored).fill(1);
  for (let r = 0; r < rows; r++) for (let e = 0; e < cols; e++) out[r * stored + e] = codes[r * cols + e]! + 1;
  return out;
}
