// A salient side matrix on the CPU (model/salient-file.ts): its CSR arrays in one block of wasm memory, and the
// product out += S·x that the projection adds after a ternary matrix's own (assembly/kernels/salient.ts), split
// over the thread pool by rows. x is the f32 input of the matrix, before the ternary kernel's int8 quantization.
import type { SalientMatrixData } from "../model/salient-file.ts";
import type { CpuKernels } from "./kernels.ts";

/** A side matrix resident in wasm memory (addresses into one allocation at `ptr`). */
export interface SalientMatrix {
  readonly rows: number;
  readonly cols: number;
  readonly nnz: number;
  readonly ptr: number;
  /** i32 [rows + 1] */
  readonly rowStart: number;
  /** u16 [nnz] */
  readonly idx: number;
  /** i8 [nnz] */
  readonly val: number;
  /** f32 [rows] */
  readonly scale: number;
}

/**
 * Cost of one entry's gather-multiply-add against the parallel threshold's units (the ternary kernels' weights):
 * a scalar load at a random column costs about what a SIMD lane's 16 ternary weights do.
 */
const WORK_PER_ENTRY = 16;

const round16 = (b: number) => Math.ceil(b / 16) * 16;

/** The parts' offsets inside the one allocation, and its size. */
function salientLayout(rows: number, nnz: number) {
  const rowStart = 0;
  const scale = rowStart + round16(4 * (rows + 1));
  const idx = scale + round16(4 * rows);
  const val = idx + round16(2 * nnz);
  return { rowStart, scale, idx, val, bytes: val + round16(nnz) };
}

/** wasm bytes a side matrix of `rows` rows and `nnz` entries takes (the memory plan counts them). */
export function salientBytes(rows: number, nnz: number): number {
  return Math.ceil(salientLayout(rows, nnz).bytes / 64) * 64;
}

/** Copies a checked side matrix into wasm memory. */
export function uploadSalient(K: CpuKernels, s: SalientMatrixData): SalientMatrix {
  const nnz = s.idx.length;
  const l = salientLayout(s.rows, nnz);
  const ptr = K.heap.alloc(l.bytes);
  K.heap.write(ptr + l.rowStart, s.rowStart);
  K.heap.write(ptr + l.scale, s.scale);
  K.heap.write(ptr + l.idx, s.idx);
  K.heap.write(ptr + l.val, s.val);
  return { rows: s.rows, cols: s.cols, nnz, ptr, rowStart: ptr + l.rowStart, idx: ptr + l.idx, val: ptr + l.val, scale: ptr + l.scale };
}

export function freeSalient(K: CpuKernels, s: SalientMatrix): void {
  K.heap.free(s.ptr);
}

/**
 * out[t][r] += Σ_c S[r][c]·x[t][c] for n tokens: x f32 [n][cols] at address x (xStride floats between tokens,
 * default cols), out f32 at address out (outStride floats between tokens, default rows).
 */
export function salientMatmul(K: CpuKernels, s: SalientMatrix, x: number, n: number, out: number, xStride = s.cols, outStride = s.rows): void {
  if (s.nnz === 0 || n === 0) return;
  const args = [s.rowStart, s.idx, s.val, s.scale, x, xStride * 4, n, out, outStride * 4];
  K.dispatch("salientMatmul", args, s.rows, 4, s.nnz * n * WORK_PER_ENTRY);
}
