// A salient side matrix on the CPU (model/salient-file.ts): its CSR arrays in one block of wasm memory, and the
// product out += S·x (assembly/kernels/salient.ts). The engine adds it inside the ternary matmul's own thread-pool
// call (CpuKernels.matmulQuantized → ternSalientMatmul, matmulQuantizedSet → ternSalientMatmulSet for q/k/v and
// gate/up: each thread after its own rows); salientMatmul below runs
// the product alone, split over the pool by rows. x is the f32 input of the matrix, before the ternary kernel's int8
// quantization.
import type { SalientMatrixData } from "../model/salient-file.ts";
import type { CpuKernels } from "./kernels.ts";

/**
 * A side matrix resident in wasm memory (addresses into one allocation at `ptr`), every row's entries padded with
 * zero entries (column 0, value 0) to a multiple of 4, so that the kernel's loop has no ragged tail of single entries.
 */
export interface SalientMatrix {
  readonly rows: number;
  readonly cols: number;
  /** Entries in the file (the padding not counted). */
  readonly nnz: number;
  readonly ptr: number;
  /** i32 [rows + 1]: row starts in blocks of 4 entries. */
  readonly blocks: number;
  /** u16 [4·blocks[rows]] */
  readonly idx: number;
  /** i8 [4·blocks[rows]] */
  readonly val: number;
  /** f32 [rows] */
  readonly scale: number;
  /** Six u32: blocks, idx, val, scale, then the input x and its stride, which each call sets (setSalientInput). */
  readonly desc: number;
}

/**
 * Cost of one entry's gather-multiply-add against the parallel threshold's units (the ternary kernels' weights):
 * a lane load at a random column costs about what a SIMD lane's 16 ternary weights do.
 */
const WORK_PER_ENTRY = 16;

const round16 = (b: number) => Math.ceil(b / 16) * 16;

/** The parts' offsets inside the one allocation of `blocks` blocks of 4 entries, and its size. */
function salientLayout(rows: number, blocks: number) {
  const desc = 0;
  const rowStart = 32;
  const scale = rowStart + round16(4 * (rows + 1));
  const idx = scale + round16(4 * rows);
  const val = idx + round16(8 * blocks);
  // 4 bytes past the last block: the kernel reads a pair of blocks' values as one 8-byte load
  return { desc, rowStart, scale, idx, val, bytes: val + round16(4 * blocks + 4) };
}

/** wasm bytes at most of a side matrix of `rows` rows and `nnz` entries (the padding at its largest: the memory plan). */
export function salientBytes(rows: number, nnz: number): number {
  return Math.ceil(salientLayout(rows, Math.floor((nnz + 3 * rows) / 4)).bytes / 64) * 64;
}

/** Copies a checked side matrix into wasm memory, each row padded to whole blocks of 4 entries. */
export function uploadSalient(K: CpuKernels, s: SalientMatrixData): SalientMatrix {
  const blocks = new Int32Array(s.rows + 1);
  for (let r = 0; r < s.rows; r++) blocks[r + 1] = blocks[r]! + Math.ceil((s.rowStart[r + 1]! - s.rowStart[r]!) / 4);
  const total = blocks[s.rows]!;
  const l = salientLayout(s.rows, total);
  const ptr = K.heap.alloc(l.bytes);
  const h = K.heap;
  h.write(ptr + l.rowStart, blocks);
  h.write(ptr + l.scale, s.scale);
  const idx = h.u16.subarray((ptr + l.idx) >> 1, ((ptr + l.idx) >> 1) + 4 * total);
  const val = h.i8.subarray(ptr + l.val, ptr + l.val + 4 * total);
  idx.fill(0);
  val.fill(0);
  for (let r = 0; r < s.rows; r++) {
    const a = s.rowStart[r]!;
    const b = s.rowStart[r + 1]!;
    idx.set(s.idx.subarray(a, b), 4 * blocks[r]!);
    val.set(s.val.subarray(a, b), 4 * blocks[r]!);
  }
  const nnz = s.idx.length;
  const m = {
    rows: s.rows,
    cols: s.cols,
    nnz,
    ptr,
    blocks: ptr + l.rowStart,
    idx: ptr + l.idx,
    val: ptr + l.val,
    scale: ptr + l.scale,
    desc: ptr + l.desc,
  };
  h.i32.set([m.blocks, m.idx, m.val, m.scale, 0, 0], m.desc >> 2);
  return m;
}

/** Sets the input of the next fused call (ternSalientMatmul, ternSalientMatmulSet): x f32 [n][cols] at address x, xStride floats apart (the i32 view stores addresses past 2 GiB by their bits, which the kernel reads as u32). */
export function setSalientInput(K: CpuKernels, s: SalientMatrix, x: number, xStride = s.cols): void {
  K.heap.i32.set([x, xStride * 4], (s.desc >> 2) + 4);
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
  const args = [s.blocks, s.idx, s.val, s.scale, x, xStride * 4, n, out, outStride * 4];
  K.dispatch("salientMatmul", args, s.rows, 4, s.nnz * n * WORK_PER_ENTRY);
}
