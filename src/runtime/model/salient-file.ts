// Reading a salient side matrix (PB-LLM's kept weights) out of a GGUF file, for every backend. Beside a ternary
// X.weight with m rows of true length k, four tensors hold a sparse matrix S in compressed-row form
// (model/tensors.ts salientNames; docs/ARCHITECTURE.md section 3):
//   X.salient_rows  I32 [m + 1]  row r's entries are [rows[r], rows[r+1]); rows[0] = 0, non-decreasing, rows[m] = nnz
//   X.salient_idx   I16 [nnz]    column, read unsigned (k ≤ 65536), strictly increasing within a row, < k
//   X.salient_val   I8  [nnz]    q in −127…127
//   X.salient_scale F32 [m]      S[r][c] = scale[r]·q
// The effective weight is decode(X.weight) + S. Everything the header says is checked before any data is read
// (the GGUF reader has already bounded every tensor by the file, so nnz is too); the data's structure is checked
// as it is read, before a backend allocates anything for it.
import { ModelError } from "../errors.ts";
import { readTensorData } from "../gguf/reader.ts";
import type { ByteSource } from "../gguf/source.ts";
import type { GgufHeader, GgufTensorInfo } from "../gguf/types.ts";
import { GgmlType, tensorTypeName, tensorTypeTraits } from "../tensor-types/table.ts";
import type { TensorShape } from "./config.ts";
import { salientNames } from "./tensors.ts";

/** Largest row length a side matrix can index: its column indices are unsigned 16-bit. */
export const SALIENT_MAX_COLS = 65536;
/** Largest magnitude of a stored value (−128 is refused, so that values are symmetric). */
export const SALIENT_MAX_VALUE = 127;

/** Where a side matrix's four tensors are, with the shape of the matrix it belongs to. */
export interface SalientMatrixInfo {
  /** The ternary matrix's name (X.weight). */
  weight: string;
  rows: number;
  cols: number;
  nnz: number;
  tensors: { rows: GgufTensorInfo; idx: GgufTensorInfo; val: GgufTensorInfo; scale: GgufTensorInfo };
}

/** A side matrix read and checked: CSR row starts, unsigned column indices, int8 values, per-row scales. */
export interface SalientMatrixData {
  rows: number;
  cols: number;
  /** [rows + 1] */
  rowStart: Int32Array;
  /** [nnz] */
  idx: Uint16Array;
  /** [nnz] */
  val: Int8Array;
  /** [rows] */
  scale: Float32Array;
}

/** Whether any of the side-matrix tensors of `weight` is in the file. */
export function hasSalientTensors(weight: string, byName: ReadonlyMap<string, TensorShape>): boolean {
  return Object.values(salientNames(weight)).some((n) => byName.has(n));
}

/**
 * The side matrix of matrix `t` (m = rows, true row length `cols`), or undefined when it has none. Throws a
 * ModelError when only some of the four tensors are there, when one has the wrong type or shape, when `t` is not
 * ternary, or when the rows are longer than 16-bit indices reach.
 */
export function salientMatrixInfo(
  byName: ReadonlyMap<string, GgufTensorInfo>,
  t: GgufTensorInfo,
  rows: number,
  cols: number,
): SalientMatrixInfo | undefined {
  const names = salientNames(t.name);
  const found = Object.entries(names).filter(([, n]) => byName.has(n));
  if (found.length === 0) return undefined;
  if (found.length < 4) {
    const missing = Object.values(names).filter((n) => !byName.has(n));
    throw new ModelError(
      "MISSING_TENSOR",
      `side matrix of ${t.name}: ${found.map(([, n]) => n).join(", ")} present but ${missing.join(", ")} missing`,
    );
  }
  if (!tensorTypeTraits(t.type).ternary) {
    throw new ModelError(
      "BAD_TENSOR_TYPE",
      `${t.name} is ${tensorTypeName(t.type)}: a side matrix (${names.idx}) belongs only beside a ternary matrix`,
    );
  }
  if (cols > SALIENT_MAX_COLS) {
    throw new ModelError(
      "BAD_TENSOR_SHAPE",
      `side matrix of ${t.name}: rows of ${cols} columns exceed the ${SALIENT_MAX_COLS} its 16-bit indices reach`,
    );
  }
  const get = (name: string, type: GgmlType, length: number | undefined): GgufTensorInfo => {
    const info = byName.get(name)!;
    const flat = info.dims.slice(1).every((d) => d === 1);
    if (info.type !== type) {
      throw new ModelError("BAD_TENSOR_TYPE", `side-matrix tensor ${name} is ${tensorTypeName(info.type)}, expected ${tensorTypeName(type)}`);
    }
    if (!flat || (length !== undefined && info.dims[0] !== length)) {
      throw new ModelError(
        "BAD_TENSOR_SHAPE",
        `side-matrix tensor ${name} has shape [${info.dims.join(", ")}], expected [${length ?? "nnz"}] for ${t.name} with ${rows} rows`,
      );
    }
    return info;
  };
  const rowT = get(names.rows, GgmlType.I32, rows + 1);
  const idxT = get(names.idx, GgmlType.I16, undefined);
  const nnz = idxT.dims[0]!;
  const valT = get(names.val, GgmlType.I8, nnz);
  const scaleT = get(names.scale, GgmlType.F32, rows);
  if (nnz > rows * cols) {
    throw new ModelError("BAD_TENSOR_SHAPE", `side matrix of ${t.name}: ${nnz} entries exceed its ${rows}×${cols} positions`);
  }
  return { weight: t.name, rows, cols, nnz, tensors: { rows: rowT, idx: idxT, val: valT, scale: scaleT } };
}

/**
 * The side matrix of the model tensor `t` expected as `e` (model/tensors.ts), or undefined. Only a block's matrices
 * take one (the embedding and the output head run other kernels): side tensors beside those are refused, not
 * ignored.
 */
export function modelSalientMatrix(
  byName: ReadonlyMap<string, GgufTensorInfo>,
  t: GgufTensorInfo,
  e: { name: string; dims: readonly number[] },
): SalientMatrixInfo | undefined {
  if (!e.name.startsWith("blk.")) {
    if (hasSalientTensors(t.name, byName)) {
      throw new ModelError("UNSUPPORTED_SALIENT_MATRIX", `${t.name} has a salient side matrix; only a block's matrices may have one`);
    }
    return undefined;
  }
  return salientMatrixInfo(byName, t, e.dims[1] ?? 1, e.dims[0]!);
}

/** Reads the four tensors and checks the CSR structure, the indices, the values and the scales. */
export async function readSalientMatrix(source: ByteSource, header: GgufHeader, s: SalientMatrixInfo): Promise<SalientMatrixData> {
  const bytes = async (info: GgufTensorInfo) => {
    const b = await readTensorData(source, header, info);
    return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  };
  const rowStart = new Int32Array(await bytes(s.tensors.rows));
  const idx = new Uint16Array(await bytes(s.tensors.idx));
  const val = new Int8Array(await bytes(s.tensors.val));
  const scale = new Float32Array(await bytes(s.tensors.scale));
  const data = { rows: s.rows, cols: s.cols, rowStart, idx, val, scale };
  checkSalientMatrix(s.weight, data);
  return data;
}

/**
 * Reads a side matrix's row starts alone (4 bytes a row) and checks them: what the CPU's memory plan needs to size its
 * tiles exactly (runtime/cpu/salient.ts) before the rest is read.
 */
export async function readSalientRowStarts(source: ByteSource, header: GgufHeader, s: SalientMatrixInfo): Promise<Int32Array> {
  const b = await readTensorData(source, header, s.tensors.rows);
  const rowStart = new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  checkSalientRowStarts(s.weight, s.rows, s.nnz, rowStart);
  return rowStart;
}

/** The checks of a side matrix's row starts: rows + 1 of them, from 0, non-decreasing, up to the entry count. */
function checkSalientRowStarts(weight: string, rows: number, nnz: number, rowStart: Int32Array): void {
  const tensor = salientNames(weight).rows;
  const bad = (what: string) => new ModelError("BAD_SALIENT_MATRIX", `side-matrix tensor ${tensor}: ${what}`);
  if (rowStart.length !== rows + 1) throw bad(`${rowStart.length - 1} rows do not fit ${rows} rows`);
  if (rowStart[0] !== 0) throw bad(`rows[0] is ${rowStart[0]}, must be 0`);
  if (rowStart[rows] !== nnz) throw bad(`rows[${rows}] is ${rowStart[rows]}, must be the entry count ${nnz}`);
  for (let r = 0; r < rows; r++) {
    const a = rowStart[r]!;
    const b = rowStart[r + 1]!;
    if (b < a) throw bad(`rows[${r + 1}] = ${b} is below rows[${r}] = ${a}`);
    if (b > nnz) throw bad(`rows[${r + 1}] = ${b} exceeds the entry count ${nnz}`);
  }
}

/** The checks of a side matrix's data, each failure a ModelError naming the tensor, row and entry. */
export function checkSalientMatrix(weight: string, s: SalientMatrixData): void {
  const names = salientNames(weight);
  const { rows, cols, rowStart, idx, val, scale } = s;
  const nnz = idx.length;
  const bad = (tensor: string, what: string) => new ModelError("BAD_SALIENT_MATRIX", `side-matrix tensor ${tensor}: ${what}`);
  if (rowStart.length !== rows + 1 || val.length !== nnz || scale.length !== rows) {
    throw bad(names.rows, `${rowStart.length - 1} rows, ${val.length} values and ${scale.length} scales do not fit ${rows} rows and ${nnz} indices`);
  }
  checkSalientRowStarts(weight, rows, nnz, rowStart);
  for (let r = 0; r < rows; r++) {
    const a = rowStart[r]!;
    const b = rowStart[r + 1]!;
    for (let e = a; e < b; e++) {
      const c = idx[e]!;
      if (c >= cols) throw bad(names.idx, `entry ${e} (row ${r}) has column ${c}, the row has ${cols}`);
      if (e > a && c <= idx[e - 1]!) throw bad(names.idx, `entry ${e} (row ${r}): column ${c} does not follow column ${idx[e - 1]} (must increase)`);
    }
    if (!Number.isFinite(scale[r]!))
      throw new ModelError("NON_FINITE_WEIGHTS", `tensor ${names.scale} holds a non-finite value: row ${r} is ${scale[r]}`);
  }
  for (let e = 0; e < nnz; e++) {
    if (val[e]! < -SALIENT_MAX_VALUE) throw bad(names.val, `entry ${e} is ${val[e]}, values lie in −${SALIENT_MAX_VALUE}…${SALIENT_MAX_VALUE}`);
  }
}

/** S as a dense f32 [rows][cols] (tests and dense references only). */
export function denseSalient(s: SalientMatrixData): Float32Array {
  const out = new Float32Array(s.rows * s.cols);
  for (let r = 0; r < s.rows; r++) {
    for (let e = s.rowStart[r]!; e < s.rowStart[r + 1]!; e++) out[r * s.cols + s.idx[e]!] = Math.fround(s.scale[r]! * s.val[e]!);
  }
  return out;
}

/** Bits the side matrix of an m-row matrix with nnz entries costs: 8 + 16 per entry, 32 per row start and per scale. */
export function salientBits(rows: number, nnz: number): number {
  return nnz * (8 + 16) + 32 * (rows + 1) + 32 * rows;
}

/** Bits per weight of a ternary matrix (`ternaryBits` in all) with its side matrix, over m·k weights. */
export function salientBitsPerWeight(ternaryBits: number, rows: number, cols: number, nnz: number): number {
  return (ternaryBits + salientBits(rows, nnz)) / (rows * cols);
}
