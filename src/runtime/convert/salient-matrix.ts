// The salient side matrix of a ternary matrix (PB-LLM's kept weights), as the writer builds it: a sparse
// matrix S in compressed-row form beside `X.weight` (the four tensors model/tensors.ts `salientNames` names;
// docs/ARCHITECTURE.md section 3). Each row's values are stored as int8 q with one f32 scale per row,
// S[r][c] = scale[r]·q, scale[r] = max|s| over the row / 127, so every kept value is within scale[r]/2 of the
// value it stands for. Readers: model/salient-file.ts.
import { ModelError } from "../errors.ts";
import { SALIENT_MAX_COLS, SALIENT_MAX_VALUE, type SalientMatrixData } from "../model/salient-file.ts";
import { salientNames } from "../model/tensors.ts";
import { GgmlType } from "../tensor-types/table.ts";

/** A side matrix as the writer builds it: the reader's shape (row starts, u16 columns, int8 q, row scales). */
export type SalientMatrix = SalientMatrixData;

/** Refuses a row length that 16-bit column indices cannot reach (`name`: the matrix, for the message). */
export function checkSalientColumns(name: string, cols: number): void {
  if (cols > SALIENT_MAX_COLS) {
    throw new ModelError(
      "SALIENT_ROWS_TOO_LONG",
      `${name}: rows of ${cols} values are longer than the ${SALIENT_MAX_COLS} a side matrix's 16-bit column indices reach`,
    );
  }
}

/**
 * The side matrix holding `values[r·cols + c]` at every position where `mask` is 1 (rows × cols row-major), in
 * row order. A position is kept even when its value rounds to q = 0, so nnz is the mask's count, which the
 * caller fixed from the shapes before it computed any value.
 */
export function salientMatrixFromDense(values: ArrayLike<number>, mask: Uint8Array, rows: number, cols: number, name = "matrix"): SalientMatrix {
  checkSalientColumns(name, cols);
  let nnz = 0;
  for (let i = 0; i < rows * cols; i++) nnz += mask[i]!;
  const rowStart = new Int32Array(rows + 1);
  const idx = new Uint16Array(nnz);
  const val = new Int8Array(nnz);
  const scale = new Float32Array(rows);
  let at = 0;
  for (let r = 0; r < rows; r++) {
    rowStart[r] = at;
    let amax = 0;
    for (let c = 0; c < cols; c++) if (mask[r * cols + c]) amax = Math.max(amax, Math.abs(values[r * cols + c]!));
    const s = Math.fround(amax / SALIENT_MAX_VALUE);
    if (!Number.isFinite(s)) throw new ModelError("NON_FINITE_WEIGHT", `${name}: row ${r} has a salient weight that is not finite`);
    scale[r] = s;
    for (let c = 0; c < cols; c++) {
      if (!mask[r * cols + c]) continue;
      idx[at] = c;
      val[at] = s > 0 ? Math.max(-SALIENT_MAX_VALUE, Math.min(SALIENT_MAX_VALUE, Math.round(values[r * cols + c]! / s))) : 0;
      at++;
    }
  }
  rowStart[rows] = at;
  return { rows, cols, rowStart, idx, val, scale };
}

/** dense (rows × cols) += S: a teacher's Ŵ + S (train/teacher.ts), tests and the experiment's dense evaluation. */
export function addSalientToDense(s: SalientMatrix, dense: Float32Array | Float64Array): void {
  for (let r = 0; r < s.rows; r++) {
    for (let e = s.rowStart[r]!; e < s.rowStart[r + 1]!; e++) dense[r * s.cols + s.idx[e]!]! += s.scale[r]! * s.val[e]!;
  }
}

export interface SalientTensorPart {
  name: string;
  dims: number[];
  type: GgmlType;
}

/** The four tensors of the side matrix of `weight` (m rows, nnz entries), in file order: rows, idx, val, scale. */
export function salientLayout(weight: string, rows: number, nnz: number): SalientTensorPart[] {
  const names = salientNames(weight);
  return [
    { name: names.rows, dims: [rows + 1], type: GgmlType.I32 },
    { name: names.idx, dims: [nnz], type: GgmlType.I16 },
    { name: names.val, dims: [nnz], type: GgmlType.I8 },
    { name: names.scale, dims: [rows], type: GgmlType.F32 },
  ];
}

/** The bytes of salientLayout's four tensors, little-endian, in the same order. */
export function packSalient(s: SalientMatrix): Uint8Array[] {
  const le = (a: Int32Array | Uint16Array | Float32Array) => {
    const out = new Uint8Array(a.byteLength);
    const view = new DataView(out.buffer);
    for (let i = 0; i < a.length; i++) {
      if (a instanceof Int32Array) view.setInt32(4 * i, a[i]!, true);
      else if (a instanceof Uint16Array) view.setUint16(2 * i, a[i]!, true);
      else view.setFloat32(4 * i, a[i]!, true);
    }
    return out;
  };
  return [le(s.rowStart), le(s.idx), new Uint8Array(s.val.buffer, s.val.byteOffset, s.val.length).slice(), le(s.scale)];
}

/** Salient entries of an m × k matrix at fraction p: fixed by the shape alone, so a file's header is known first. */
export function salientCount(rows: number, cols: number, fraction: number): number {
  return Math.round(fraction * rows * cols);
}
