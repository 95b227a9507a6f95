// A salient side matrix on the CPU (model/salient-file.ts): its tiles in one block of wasm memory, and the
// product out += S·x (assembly/kernels/salient.ts). The engine adds it inside the ternary matmul's own thread-pool
// call (CpuKernels.matmulQuantized → ternSalientMatmul, matmulQuantizedSet → ternSalientMatmulSet for q/k/v and
// gate/up: each thread after its own rows); salientMatmul below runs the product alone, split over the pool by rows
// (the engine, for a batch's tokens that the Vec-LUT matmul took). x is the f32 input of the matrix, before the
// ternary kernel's int8 quantization.
import type { SalientMatrixData } from "../model/salient-file.ts";
import { SALIENT_DESC_WORDS, SALIENT_OFFSET_COLS, SALIENT_ROW_GROUP, SALIENT_TILE_RECORD, SDESC } from "./abi.ts";
import type { CpuKernels } from "./kernels.ts";

/**
 * A side matrix resident in wasm memory (addresses into one allocation at `ptr`) in the kernel's tiles: the rows
 * with entries of each group of SALIENT_ROW_GROUP rows, sorted by their number of entries (longest first, then by
 * row), four to a tile; a tile holds entry s of each of its rows at step s (a shorter row padded with column 0,
 * value 0) for as many steps as its longest row has entries, rounded up to even (assembly/kernels/salient.ts). An
 * entry's column is stored as the byte offset col·4 where cols ≤ SALIENT_OFFSET_COLS.
 */
export interface SalientMatrix {
  readonly rows: number;
  readonly cols: number;
  /** Entries in the file (the padding not counted). */
  readonly nnz: number;
  readonly ptr: number;
  /**
   * SALIENT_DESC_WORDS u32 (SDESC, abi.ts): the addresses of the parts in the allocation (each group's first tile, the
   * tile records, columns, values, scales, each row's slot, the sums' scratch) and the shape, and the input, which
   * each call sets (setSalientInput).
   */
  readonly desc: number;
}

/**
 * Cost of one entry's gather-multiply-add against the parallel threshold's units (the ternary kernels' weights):
 * a lane load at a random column costs about what a SIMD lane's 16 ternary weights do.
 */
const WORK_PER_ENTRY = 16;

const NO_ROW = 0xff;
/** i32 words of a tile's record: first step, first row of its group, the four row offsets packed. */
const RECORD_WORDS = SALIENT_TILE_RECORD / 4;

const round16 = (b: number) => Math.ceil(b / 16) * 16;

/** The parts' offsets inside the one allocation of `tiles` tiles and `steps` steps, and its size. */
function salientLayout(rows: number, tiles: number, steps: number) {
  const desc = 0;
  const groups = round16(4 * SALIENT_DESC_WORDS);
  const tileRecords = groups + round16(4 * (Math.ceil(rows / SALIENT_ROW_GROUP) + 1));
  const scale = tileRecords + round16(SALIENT_TILE_RECORD * (tiles + 1));
  const slot = scale + round16(16 * tiles);
  const sums = slot + round16(4 * rows);
  const idx = sums + 16 * (tiles + 1);
  const val = idx + round16(8 * steps);
  return { desc, groups, tileRecords, scale, slot, sums, idx, val, bytes: val + round16(4 * steps) };
}

const allocBytes = (layout: { bytes: number }) => Math.ceil(layout.bytes / 64) * 64;

/**
 * wasm bytes at most of a side matrix of `rows` × `cols` with `nnz` entries, when its row lengths are not known. A
 * group's tiles hold at most its entries plus 3 times its longest row in slots (tile i's padding is at most 3 times
 * the drop from its longest row to the next tile's), and never more than 4 slots an entry; plus one step a tile
 * (steps rounded up to even).
 */
export function salientBytes(rows: number, cols: number, nnz: number): number {
  const groups = Math.ceil(rows / SALIENT_ROW_GROUP);
  const tiles = Math.floor(Math.min(rows, nnz) / 4) + groups;
  const slots = Math.min(4 * nnz, nnz + 3 * Math.min(nnz, groups * cols));
  return allocBytes(salientLayout(rows, tiles, Math.ceil(slots / 4) + tiles));
}

/** The wasm bytes of a side matrix with these (checked) row starts: what uploadSalient allocates for it. */
export function salientBytesOf(rows: number, rowStart: Int32Array): number {
  const { tileRows, firstStep } = salientTiles(rows, rowStart);
  return allocBytes(salientLayout(rows, tileRows.length, firstStep[tileRows.length]!));
}

/** The tiles of a side matrix with these (checked) row starts: each tile's rows (absolute) and first step; each group's first tile. */
function salientTiles(rows: number, rowStart: Int32Array): { tileRows: number[][]; firstStep: Int32Array; groupTile: Int32Array } {
  const len = (r: number) => rowStart[r + 1]! - rowStart[r]!;
  const groupCount = Math.ceil(rows / SALIENT_ROW_GROUP);
  const groupTile = new Int32Array(groupCount + 1);
  const tileRows: number[][] = [];
  for (let g = 0; g < groupCount; g++) {
    groupTile[g] = tileRows.length;
    const members: number[] = [];
    for (let r = g * SALIENT_ROW_GROUP; r < Math.min(rows, (g + 1) * SALIENT_ROW_GROUP); r++) if (len(r) > 0) members.push(r);
    members.sort((a, b) => len(b) - len(a) || a - b);
    for (let i = 0; i < members.length; i += 4) tileRows.push(members.slice(i, i + 4));
  }
  groupTile[groupCount] = tileRows.length;
  const firstStep = new Int32Array(tileRows.length + 1);
  for (let t = 0; t < tileRows.length; t++) firstStep[t + 1] = firstStep[t]! + 2 * Math.ceil(len(tileRows[t]![0]!) / 2);
  return { tileRows, firstStep, groupTile };
}

/** Copies a checked side matrix into wasm memory as the kernel's tiles. */
export function uploadSalient(K: CpuKernels, s: SalientMatrixData): SalientMatrix {
  const { tileRows, firstStep, groupTile } = salientTiles(s.rows, s.rowStart);
  const tiles = tileRows.length;
  const steps = firstStep[tiles]!;
  const l = salientLayout(s.rows, tiles, steps);
  const ptr = K.heap.alloc(l.bytes);
  const h = K.heap;
  h.write(ptr + l.groups, groupTile);
  const records = new Int32Array(RECORD_WORDS * (tiles + 1));
  const scale = new Float32Array(4 * tiles);
  const idx = h.u16.subarray((ptr + l.idx) >> 1, ((ptr + l.idx) >> 1) + 4 * steps);
  const val = h.i8.subarray(ptr + l.val, ptr + l.val + 4 * steps);
  idx.fill(0);
  val.fill(0);
  const unit = s.cols <= SALIENT_OFFSET_COLS ? 4 : 1; // byte offsets, or columns
  // a row without entries reads the −0 after the tiles' sums (x + −0 = x for every x, −0 and NaN included)
  const slot = new Uint32Array(s.rows).fill(16 * tiles);
  const sums = new Float32Array(4 * (tiles + 1));
  sums.fill(-0, 4 * tiles);
  for (let t = 0; t < tiles; t++) {
    const members = tileRows[t]!;
    const base = Math.floor(members[0]! / SALIENT_ROW_GROUP) * SALIENT_ROW_GROUP;
    let lanes = 0;
    for (let j = 0; j < 4; j++) {
      const r = members[j];
      lanes |= (r === undefined ? NO_ROW : r - base) << (8 * j);
      if (r === undefined) continue;
      scale[4 * t + j] = s.scale[r]!;
      slot[r] = 4 * (4 * t + j);
      for (let e = s.rowStart[r]!, at = 4 * firstStep[t]! + j; e < s.rowStart[r + 1]!; e++, at += 4) {
        idx[at] = s.idx[e]! * unit;
        val[at] = s.val[e]!;
      }
    }
    records.set([firstStep[t]!, base, lanes | 0], RECORD_WORDS * t);
  }
  records[RECORD_WORDS * tiles] = steps;
  h.write(ptr + l.tileRecords, records);
  h.write(ptr + l.scale, scale);
  h.write(ptr + l.slot, slot);
  h.write(ptr + l.sums, sums);
  const m = { rows: s.rows, cols: s.cols, nnz: s.idx.length, ptr, desc: ptr + l.desc };
  const desc = new Int32Array(SALIENT_DESC_WORDS);
  desc[SDESC.GROUPS] = ptr + l.groups;
  desc[SDESC.TILES] = ptr + l.tileRecords;
  desc[SDESC.IDX] = ptr + l.idx;
  desc[SDESC.VAL] = ptr + l.val;
  desc[SDESC.SCALE] = ptr + l.scale;
  desc[SDESC.SLOT] = ptr + l.slot;
  desc[SDESC.SUMS] = ptr + l.sums;
  desc[SDESC.COLS] = s.cols;
  desc[SDESC.ROWS] = s.rows;
  h.write(m.desc, desc);
  return m;
}

/** Each kernels' scratch for the token quads of a several-token input (f32 [⌈n/4⌉][cols][4]), grown on demand. */
const quadScratch = new WeakMap<CpuKernels, { ptr: number; bytes: number }>();

function quadsFor(K: CpuKernels, n: number, cols: number): number {
  const bytes = Math.ceil(n / 4) * cols * 16;
  let q = quadScratch.get(K);
  if (!q || q.bytes < bytes) {
    if (q) {
      // forgotten before the allocation, which may throw: a later call must not write to or free the old block
      quadScratch.delete(K);
      K.heap.free(q.ptr);
    }
    q = { ptr: K.heap.alloc(bytes), bytes };
    quadScratch.set(K, q);
  }
  return q.ptr;
}

/**
 * Sets the input of the next call (salientMatmul, ternSalientMatmul, ternSalientMatmulSet): x f32 [n][cols] at address
 * x, xStride floats apart. Where cols ≤ SALIENT_OFFSET_COLS the kernel reads one token from its fixed copy of x, and
 * several from x in token quads (a scratch of this K's); this writes them on the calling thread. `copied`: an earlier
 * side matrix of the same pool call has already written them (the matrices of a set read the same x).
 */
export function setSalientInput(K: CpuKernels, s: SalientMatrix, x: number, n: number, xStride = s.cols, copied = false): void {
  const quads = n > 1 && s.cols <= SALIENT_OFFSET_COLS ? quadsFor(K, n, s.cols) : 0;
  K.salientSetInput(s.desc, x, xStride * 4, n, copied ? 0 : 1, quads);
}

export function freeSalient(K: CpuKernels, s: SalientMatrix): void {
  K.heap.free(s.ptr);
}

/**
 * out[t][r] += Σ_c S[r][c]·x[t][c] for n tokens: x f32 [n][cols] at address x (xStride floats between tokens,
 * default cols), out f32 at address out (outStride floats between tokens, default rows).
 */
export function salientMatmul(
  K: CpuKernels,
  s: SalientMatrix,
  x: number,
  n: number,
  out: number,
  xStride = s.cols,
  outStride = s.rows,
  copied = false,
): void {
  if (s.nnz === 0 || n === 0) return;
  setSalientInput(K, s, x, n, xStride, copied);
  K.dispatch("salientMatmul", [s.desc, n, out, outStride * 4], s.rows, SALIENT_ROW_GROUP, s.nnz * n * WORK_PER_ENTRY);
}
