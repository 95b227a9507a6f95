// The CPU backend's kernel layer: one wasm instance (the build picked by feature detection) on a memory the
// JS side owns, a thread pool over that memory, weight upload (packed, never expanded to f32), activation
// quantization and the typed wrappers of every kernel. Layouts: ./layout.ts.
import { ropeAngles } from "../model/rope-angles.ts";
import { OptionError, TensorTypeError, TernionError } from "../errors.ts";
import { sharedMemorySupport } from "./wasm/features.ts";
import { WasmHeap } from "./wasm/heap.ts";
import { loadKernels, type LoadOptions, type SimdBuild } from "./wasm/loader.ts";
import { matrixLayout, paddedK, type ActivationKind, type MatrixLayout } from "./layout.ts";
import { scaleIndex, scaleQuadStride } from "./row-quads.ts";
import { CPU_MATRIX_TYPES, matrixType, uploadStagingBytes, type MatrixType } from "./matrix-types.ts";
import { f16BitsToF32 } from "../tensor-types/half.ts";
import { ACT, FAM, LUT_FORM, LUT_TOKENS, MSET, MSET_ENTRY_WORDS, SALIENT_ROW_GROUP, TILE, WT } from "./abi.ts";
import { CONTROL_BLOCK_BYTES, ThreadPool } from "./threads.ts";
import { type SalientMatrix, salientMatmul, setSalientInput } from "./salient.ts";

/** The kernel exports, in the order the thread pool refers to them. */
const EXPORTS = [
  "quantQ8K",
  "quantAbsmax",
  "ternMatmul",
  "ternMatmulSet",
  "ternMatmulLut",
  "repackTq1",
  "repackTq2",
  "repackRows",
  "ternaryCode3",
  "floatMatmul",
  "f16NonFinite",
  "rmsNorm",
  "rope",
  "softmax",
  "glu",
  "attention",
  "kvStore",
  // training (assembly/kernels/train.ts; src/train/kernels.ts calls them through dispatch)
  "trainMatmulFwd",
  "trainMatmulDx",
  "trainMatmulDw",
  // the int8 output head (assembly/kernels/head_q8.ts)
  "int8HeadMatmul",
  // the salient side matrix's product (assembly/kernels/salient.ts; ./salient.ts wraps it)
  "salientMatmul",
  "ternSalientMatmul",
  "ternSalientMatmulSet",
  // the residual stream's adds (assembly/kernels/ops.ts)
  "addInto",
] as const;
export type ExportName = (typeof EXPORTS)[number];
const FN: Record<ExportName, number> = Object.fromEntries(EXPORTS.map((n, i) => [n, i])) as Record<ExportName, number>;

/** The ternary kernel families and float weight formats the matrix-type table (./matrix-types.ts) names. */
export type TernaryFamily = keyof typeof FAM;
export type FloatWeightFormat = keyof typeof WT;
/** Ternary tile shapes (./abi.ts TILE), and "lut": the Vec-LUT matmul (assembly/kernels/ternary_lut.ts) for every
 *  token count where the weights allow it (not DLT with 64-weight groups: those keep the "auto" tiles). */
export type TernaryTile = "auto" | "rows4" | "r1t4" | "r2t4" | "lut";
const TILE_CODE: Record<TernaryTile, number> = {
  auto: TILE.AUTO,
  rows4: TILE.ROWS4,
  r1t4: TILE.R1T4,
  r2t4: TILE.R2T4,
  lut: TILE.AUTO,
};
/**
 * The fewest tokens per thread for which "auto" takes the Vec-LUT matmul: it splits the tokens in tiles of
 * LUT_TOKENS, so below one tile per thread the multiply-add tiles (split by rows) keep every thread busy. At one tile
 * and more it won on every 700M shape (bench/README.md, "Vec-LUT prefill").
 */
export const LUT_MIN_TOKENS = LUT_TOKENS;
/**
 * The shortest tail (n mod LUT_TOKENS) that "auto" gives the Vec-LUT matmul a tile of its own for: a partial tile
 * costs a whole one, and the multiply-add tiles run at ≈ 0.8 of the table lookups' speed, so a tail of fewer than
 * 0.8·16 ≈ 12 tokens is cheaper through them.
 */
export const LUT_TAIL_TOKENS = 12;

/**
 * How the Vec-LUT sweep finds each code byte's table row (./abi.ts LUT_FORM; results are the same): "map", a byte-map
 * load per code byte in the loop, or "addresses", the table rows' addresses computed 16 code bytes at a time per row
 * quad. Node 20's V8 (11.3) runs "map" faster (700M prefill 9.5 against 10.0 ms a token), V8 15 "addresses" (Deno 2.9:
 * 12.0 against 10.0; Chromium 156, one 1536² matmul: 171 against 190 GOPS): bench/README.md, "the Vec-LUT sweep per
 * runtime".
 */
export type LutForm = "map" | "addresses";
const LUT_FORM_CODE: Record<LutForm, number> = { map: LUT_FORM.MAP, addresses: LUT_FORM.ADDRESSES };

/**
 * The Vec-LUT sweep form for a runtime: "map" under a V8 of major version 11 or less (Node 20), else "addresses" (a
 * browser, whose V8 version a page cannot read, included). v8: the runtime's V8 version (default: this one's, where
 * it tells it: Node's and Deno's process.versions.v8).
 */
export function defaultLutForm(v8 = (globalThis as { process?: { versions?: { v8?: string } } }).process?.versions?.v8): LutForm {
  const major = v8 === undefined ? Number.NaN : Number.parseInt(v8, 10);
  return major <= 11 ? "map" : "addresses";
}

/** Code bytes (4 weights each) per panel of the Vec-LUT matmul: its tables, 81·32 bytes per code byte, stay in L2. */
export const LUT_PANEL_BYTES = 64;
/**
 * The most bytes of row accumulators (rows × LUT_TOKENS × 4) for which matrices that share their input share the
 * Vec-LUT tables too: past it the accumulators' traffic between panels costs more than the tables saved (2 MiB L2:
 * 700M q/k/v, 295 KB, −7 % and gate/up, 524 KB, −2 %; 2B gate/up, 885 KB, +6 %; bench/README.md).
 */
export const LUT_SHARED_ACC_BYTES = 640 * 1024;

/**
 * Bytes of one thread's Vec-LUT scratch for `rows` T2 rows of `rowBytes` and `groups` scale groups per row
 * (assembly/kernels/ternary_lut.ts lays it out): the byte map or a row quad's table-row addresses and a row quad's results (1024 + 16·LUT_TOKENS bytes), the
 * tile's activation scales and Σx (groups × LUT_TOKENS × 8), its activations by code byte (rowBytes × 4 × LUT_TOKENS
 * × 2), the rows' accumulators (rows × LUT_TOKENS × 4) and one panel's tables (81 rows × LUT_TOKENS i16 per code
 * byte).
 */
export function lutSlotBytes(rowBytes: number, groups: number, rows: number): number {
  const head = Math.ceil((1024 + 16 * LUT_TOKENS + groups * LUT_TOKENS * 8) / 64) * 64;
  const panel = Math.min(LUT_PANEL_BYTES, rowBytes);
  return head + rowBytes * 4 * LUT_TOKENS * 2 + rows * LUT_TOKENS * 4 + panel * 81 * LUT_TOKENS * 2;
}

export interface CpuKernelsOptions extends LoadOptions {
  /** Threads, the caller included. Default: the number of cores. 1 = no workers. */
  threads?: number;
  /** Initial wasm memory (bytes); it grows on demand up to `maximumMemoryBytes`. */
  initialMemoryBytes?: number;
  /**
   * The most the wasm memory may grow to (bytes; default 4 GiB). A shared memory reserves this much address
   * space up front, so a model passes what its plan needs.
   */
  maximumMemoryBytes?: number;
  /** Register tile of the ternary matmul (a tuning knob: results never change). Default "auto". */
  tile?: TernaryTile;
  /** How the Vec-LUT sweep finds its table rows (a tuning knob: results never change). Default: defaultLutForm(). */
  lutForm?: LutForm;
  /** µs an idle worker busy-polls after its last job before it sleeps (threads.ts; default 500). */
  spin?: number;
  /** Work (multiply-adds, or elements) below which a call runs on the calling thread only. 0: always split. */
  parallelThreshold?: number;
}

export interface CpuKernelStats {
  /** Which wasm build runs: "relaxed" (relaxed SIMD) or "simd128". */
  simd: SimdBuild;
  simdReason: string;
  /** Threads taking part in each kernel call, the caller included. */
  threads: number;
  threadsRequested: number;
  /** Why fewer threads than requested run (no SharedArrayBuffer, worker start failure). */
  threadFallbackReason: string | undefined;
  sharedMemory: boolean;
  /** TQ1_0 (and TQ2_0) weights are repacked at upload to 2-bit codes in row quads + f32 block scales (layout.ts):
   *  for TQ1_0 68/54 of the bytes, and no base-3 decoding in the kernels. */
  tq1Repacked: true;
  /** Ternary matmul tile: "auto" = 1 quad (4 rows) × 1–2 tokens for n ≤ 2, above it 2 quads × 3 tokens (relaxed;
   *  simd128 and DLT g = 64: 1 quad × 4 / 3 / 2), and from 16 tokens per thread the Vec-LUT matmul (lutTokens);
   *  "r1t4" forces the single-quad token tile, "r2t4" the multiply-add one of auto, "lut" the Vec-LUT matmul. */
  tile: TernaryTile;
  /** The Vec-LUT sweep's form (LutForm). */
  lutForm: LutForm;
  /** Bytes allocated on the wasm heap / total wasm memory. */
  heapBytes: number;
  memoryBytes: number;
  /** The heap's high-water mark: the wasm memory touched so far (the rest of memoryBytes is only reserved). */
  peakHeapBytes: number;
  /** Bytes of the Vec-LUT matmul's scratch (one slot per thread: lutSlotBytes), 0 until it first runs. */
  lutScratchBytes: number;
  /** Where the wasm came from. */
  wasmFrom: string;
}

/** A weight matrix (rows × cols, y = W·x) resident in wasm memory. */
export interface Matrix {
  readonly type: MatrixType;
  readonly rows: number;
  readonly cols: number;
  readonly layout: MatrixLayout;
  /** Codes / values as the kernels read them. */
  readonly ptr: number;
  /** I2_S tensor scale (1 otherwise). */
  readonly scale: number;
  /** f32, quad-major [rows/4][groups][4] (./row-quads.ts scaleIndex): TQ1_0/TQ2_0 block scales, DLT α (0 otherwise). */
  readonly scales: number;
  /** f32, as the scales: DLT γ (0 otherwise). */
  readonly shifts: number;
  readonly groupSize: number;
  /** Uploaded as TQ1_0 and repacked to TQ2_0's layout. */
  readonly repackedFrom: MatrixType | undefined;
  /** A salient side matrix S added to the product (y = W·x + S·x, x the f32 input: ./salient.ts). */
  readonly salient?: SalientMatrix;
  /** F16: no half is ±inf/NaN (checked at upload: f16AllFinite), so the matvec need not watch for them. */
  readonly f16Finite?: boolean;
  /**
   * Ternary: a code of 3 (no quantizer writes it; a hostile or broken file) is among the codes (checked at upload).
   * The multiply-add kernels read it as +2, as llama.cpp does; the Vec-LUT tables have no row for it, so such a matrix
   * stays on the multiply-add tiles and every path gives the same numbers.
   */
  readonly code3?: boolean;
}

/** Quantized activations of up to `capacity` tokens (see layout.ts). */
export interface QuantizedActivations {
  readonly kind: ActivationKind;
  readonly k: number;
  readonly kp: number;
  readonly group: number;
  readonly groups: number;
  readonly capacity: number;
  n: number;
  readonly q: number;
  /** i16 copy (simd128 build only, else 0). */
  readonly q16: number;
  readonly d: number;
  readonly s: number;
  /** Σx per group (DLT only, else 0). */
  readonly xs: number;
  /** Q8_K sums of 16 (i16 [n][k/16]; q8k only, else 0). */
  readonly bsums: number;
}

export interface DltExtra {
  /** f16 bits, [rows][ceil(cols/groupSize)]. */
  alpha: Uint16Array;
  gamma: Uint16Array;
  groupSize: number;
}

async function defaultThreads(): Promise<number> {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  if (nav?.hardwareConcurrency) return nav.hardwareConcurrency;
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (p?.versions?.node) {
    const osName = "node:os";
    try {
      const os = (await import(/* @vite-ignore */ osName)) as typeof import("node:os");
      return os.availableParallelism?.() ?? os.cpus().length;
    } catch {
      return 1;
    }
  }
  return 1;
}

export class CpuKernels {
  readonly heap: WasmHeap;
  readonly build: SimdBuild;
  /** Sets a side matrix's input for the next call, on this thread (assembly/kernels/salient.ts salientSetInput; ./salient.ts). */
  readonly salientSetInput: (desc: number, x: number, xStrideBytes: number, n: number, copy: number, quads: number) => void;
  private readonly pool: ThreadPool;
  private readonly info: Omit<CpuKernelStats, "heapBytes" | "memoryBytes" | "peakHeapBytes" | "threads" | "lutScratchBytes">;
  private tile: TernaryTile;
  private readonly minWork: number;
  private scratch = new Map<string, QuantizedActivations>();
  /** Entries of the last ternary matmul set (ternMatmulSet), reused by every set call. */
  private setEntries = { ptr: 0, count: 0 };
  /** The Vec-LUT matmul's per-thread scratch (slots of slotBytes) and the word its instances count slots with. */
  private lut = { counter: 0, ptr: 0, slotBytes: 0 };
  /** The last RoPE angle table (wasm f32 [n][nRot/2][2]) and what it was computed for. */
  private readonly ropeTable = { ptr: 0, bytes: 0, n: 0, nRot: 0, base: 0, freqScale: 0, pos: new Float64Array(0) };
  private disposed = false;

  private constructor(
    heap: WasmHeap,
    build: SimdBuild,
    pool: ThreadPool,
    info: Omit<CpuKernelStats, "heapBytes" | "memoryBytes" | "peakHeapBytes" | "threads" | "lutScratchBytes">,
    minWork: number,
    salientSetInput: (desc: number, x: number, xStrideBytes: number, n: number, copy: number, quads: number) => void,
  ) {
    this.heap = heap;
    this.build = build;
    this.salientSetInput = salientSetInput;
    this.pool = pool;
    this.info = info;
    this.tile = info.tile;
    this.minWork = minWork;
  }

  static async create(opts: CpuKernelsOptions = {}): Promise<CpuKernels> {
    const requested = opts.threads ?? (await defaultThreads());
    if (!Number.isInteger(requested) || requested < 1) throw new OptionError("BAD_OPTION", `threads must be an integer ≥ 1, got ${requested}`);
    const tile = opts.tile ?? "auto";
    if (!(tile in TILE_CODE)) throw new OptionError("BAD_OPTION", `unknown tile ${String(tile)}`);
    const lutForm = opts.lutForm ?? defaultLutForm();
    if (!(lutForm in LUT_FORM_CODE)) throw new OptionError("BAD_OPTION", `unknown Vec-LUT form ${String(lutForm)}`);
    let fallback: string | undefined;
    let shared = opts.sharedMemory ?? true;
    if (shared) {
      const sm = sharedMemorySupport();
      if (!sm.ok) {
        shared = false;
        fallback = sm.reason;
      }
    } else if (requested > 1) fallback = "sharedMemory: false was requested";
    const loaded = await loadKernels({ ...opts, sharedMemory: shared });
    const initialBytes = opts.initialMemoryBytes ?? 16 << 20;
    const memory = WasmHeap.createMemory(initialBytes, shared, opts.maximumMemoryBytes);
    const instance = await WebAssembly.instantiate(loaded.module, { env: { memory } });
    const raw = instance.exports as unknown as Record<string, (...a: number[]) => number>;
    const heap = new WasmHeap(memory, raw["heapBase"]!(), WasmHeap.maximumOf(initialBytes, opts.maximumMemoryBytes));
    const ex = Object.fromEntries(EXPORTS.map((n) => [n, raw[n]])) as unknown as Record<ExportName, (...a: number[]) => void>;
    for (const n of [...EXPORTS, "salientSetInput"])
      if (typeof raw[n] !== "function") throw new TernionError("WASM_INVALID", `the wasm lacks export ${n}`);
    const control = heap.calloc(CONTROL_BLOCK_BYTES);
    const fns = EXPORTS.map((n) => ex[n]);
    let pool: ThreadPool;
    if (requested > 1 && shared) {
      try {
        pool = await ThreadPool.create(
          { threads: requested, module: loaded.module, bytes: loaded.bytes, memory, names: EXPORTS, control, spin: opts.spin },
          fns,
        );
      } catch (e) {
        fallback = `workers could not start: ${(e as Error).message}`;
        pool = ThreadPool.single(memory, control, fns);
      }
    } else {
      pool = ThreadPool.single(memory, control, fns);
    }
    return new CpuKernels(
      heap,
      loaded.build,
      pool,
      {
        simd: loaded.build,
        simdReason: loaded.reason,
        threadsRequested: requested,
        threadFallbackReason: pool.size < requested ? fallback : undefined,
        sharedMemory: shared,
        tq1Repacked: true,
        tile,
        lutForm,
        wasmFrom: loaded.from,
      },
      opts.parallelThreshold ?? 1 << 16,
      raw.salientSetInput!, // called on this thread only, never through the pool
    );
  }

  get threads(): number {
    return this.pool.size;
  }

  stats(): CpuKernelStats {
    return {
      ...this.info,
      tile: this.tile,
      threads: this.pool.size,
      heapBytes: this.heap.used,
      memoryBytes: this.heap.byteLength,
      peakHeapBytes: this.heap.highWater,
      lutScratchBytes: this.lut.slotBytes * this.pool.size,
    };
  }

  /** Changes the ternary matmul tile (a tuning knob: results never change). */
  setTile(t: TernaryTile): void {
    if (!(t in TILE_CODE)) throw new OptionError("BAD_OPTION", `unknown tile ${String(t)}`);
    this.tile = t;
  }

  /** How many threads a call of `work` units gets. */
  private parts(work: number): number {
    return work >= this.minWork ? this.pool.size : 1;
  }

  private check(): void {
    if (this.disposed) throw new TernionError("DISPOSED", "these CPU kernels were disposed");
  }

  // ── weights ───────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Copies a weight tensor (rows × cols, cols = GGUF dims[0]) into wasm memory in the kernels' layout, as its row
   * in the matrix-type table (./matrix-types.ts) says: float rows copied (BF16 widened), ternary codes repacked
   * to row quads with their block scales, a tensor scale read from the source bytes.
   * DLT needs `dlt` (α, γ, group size); `data` is then the DLT codes (layout.ts).
   */
  uploadMatrix(type: number | MatrixType, rows: number, cols: number, data: Uint8Array, dlt?: DltExtra): Matrix {
    this.check();
    const t = matrixType(type);
    const row = CPU_MATRIX_TYPES[t];
    const layout = matrixLayout(t, rows, cols, dlt?.groupSize ?? 128);
    if (data.byteLength < layout.sourceBytes) {
      throw new TensorTypeError("BAD_TENSOR_DATA", `${t} ${rows}×${cols} needs ${layout.sourceBytes} bytes, got ${data.byteLength}`);
    }
    const G = layout.groups;
    const perGroup = row.scales.kind === "groups";
    if (perGroup && (!dlt || dlt.alpha.length < rows * G || dlt.gamma.length < rows * G)) {
      if (!dlt) throw new OptionError("BAD_OPTION", `a ${t} matrix needs its alpha, gamma and group size`);
      throw new TensorTypeError("BAD_TENSOR_DATA", `${t} ${rows}×${cols} (g = ${layout.group}) needs ${rows * G} alpha and gamma values`);
    }
    let scale = 1;
    let scales = 0;
    let shifts = 0;
    const work = this.parts(rows * cols);
    const upload = row.upload;
    const staged = data.subarray(0, uploadStagingBytes(row, layout, rows));
    const ptr = this.heap.alloc(layout.codeBytes);
    // the padding rows of a last, partial row quad: zero codes, never garbage (hasCode3 reads them)
    if (rows % 4 && row.kernel.matmul === "ternary") this.heap.u8.fill(0, ptr + (rows & ~3) * layout.rowBytes, ptr + layout.codeBytes);
    if (upload.kind === "repack-blocks") {
      scales = this.heap.alloc(layout.scaleBytes);
      this.repackFrom(staged, (src) => this.pool.run(FN[upload.kernel], [src, ptr, scales, G], rows, 1, work));
    } else if (upload.kind === "repack-rows") {
      this.repackFrom(staged, (src) => this.pool.run(FN.repackRows, [src, ptr, layout.rowBytes], rows, 1, work));
    } else {
      upload.write(this.heap, ptr, 0, data.subarray(0, layout.sourceBytes));
    }
    if (row.scales.kind === "tensor") scale = row.scales.read(data, rows * cols);
    if (perGroup) {
      scales = this.heap.alloc(layout.scaleBytes);
      shifts = this.heap.alloc(layout.scaleBytes);
      const f = this.heap.f32;
      for (let r = 0; r < rows; r++) {
        for (let g = 0; g < G; g++) {
          f[(scales >> 2) + scaleIndex(G, r, g)] = f16BitsToF32(dlt!.alpha[r * G + g]!);
          f[(shifts >> 2) + scaleIndex(G, r, g)] = f16BitsToF32(dlt!.gamma[r * G + g]!);
        }
      }
    }
    if (row.kernel.matmul === "float") return this.floatMatrixAt(t, rows, cols, ptr);
    const repackedFrom = upload.kind === "repack-blocks" ? t : undefined;
    const code3 = this.hasCode3(ptr, layout.codeBytes);
    return { type: t, rows, cols, layout, ptr, scale, scales, shifts, groupSize: layout.group, repackedFrom, code3 };
  }

  /**
   * The Matrix of float values (F32, F16, Q8_0) that the caller already wrote at `ptr` in their kernel layout
   * (matrixLayout; a streamed upload, or a head quantized at load): an F16 one is checked for ±inf/NaN halves here,
   * as uploadMatrix checks its own.
   */
  floatMatrixAt(type: MatrixType, rows: number, cols: number, ptr: number): Matrix {
    this.check();
    if (CPU_MATRIX_TYPES[type].kernel.matmul !== "float") throw new OptionError("BAD_OPTION", `${type} is not a float weight type`);
    const layout = matrixLayout(type, rows, cols);
    const f16Finite = type === "F16" ? this.f16AllFinite(ptr, rows * cols) : undefined;
    return { type, rows, cols, layout, ptr, scale: 1, scales: 0, shifts: 0, groupSize: layout.group, repackedFrom: undefined, f16Finite };
  }

  /** True when a 2-bit field of the `bytes` code bytes at `ptr` is 3 (a pass over them, threaded). */
  private hasCode3(ptr: number, bytes: number): boolean {
    return this.scanFinds(FN.ternaryCode3, ptr, bytes, 16, bytes * 4);
  }

  /** True when none of the `count` halves at `ptr` is ±inf/NaN (a pass over them, threaded). */
  f16AllFinite(ptr: number, count: number): boolean {
    this.check();
    return !this.scanFinds(FN.f16NonFinite, ptr, count, 8, count);
  }

  /**
   * Runs a scan kernel `fn(ptr, flag, start, end)` over [0, count) split at multiples of `align` (work: its size for
   * the thread split): each part sets the i32 at `flag` when it finds what it looks for. True when one did.
   */
  private scanFinds(fn: number, ptr: number, count: number, align: number, work: number): boolean {
    const flag = this.heap.alloc(4);
    try {
      this.heap.i32[flag >> 2] = 0;
      this.pool.run(fn, [ptr, flag], count, align, this.parts(work));
      return this.heap.i32[flag >> 2] !== 0;
    } finally {
      this.heap.free(flag);
    }
  }

  /** Runs `repack(src)` on a copy of `bytes` in wasm memory (an upload's source side), freed afterwards. */
  private repackFrom(bytes: Uint8Array, repack: (src: number) => void): void {
    const src = this.heap.alloc(bytes.byteLength);
    try {
      this.heap.write(src, bytes);
      repack(src);
    } finally {
      this.heap.free(src);
    }
  }

  freeMatrix(m: Matrix): void {
    this.heap.free(m.ptr);
    if (m.scales) this.heap.free(m.scales);
    if (m.shifts) this.heap.free(m.shifts);
  }

  // ── activations ───────────────────────────────────────────────────────────────────────────────────────────

  /** Buffers for the quantized activations of up to `capacity` tokens of length k. */
  allocActivations(kind: ActivationKind, k: number, capacity: number, group = kind === "q8k" ? 256 : k): QuantizedActivations {
    this.check();
    if (kind === "q8k" && k % 256) throw new TensorTypeError("BAD_TENSOR_SHAPE", `Q8_K activations need k a multiple of 256, got ${k}`);
    if (kind === "group" && !(group >= 1)) throw new OptionError("BAD_OPTION", `bad group size ${group}`);
    const g = kind === "q8k" ? 256 : kind === "token" ? k : group;
    const groups = Math.ceil(k / g);
    const kp = paddedK(k);
    const h = this.heap;
    return {
      kind,
      k,
      kp,
      group: g,
      groups,
      capacity,
      n: 0,
      q: h.alloc(capacity * kp),
      q16: this.build === "simd128" ? h.alloc(capacity * kp * 2) : 0,
      d: h.alloc(capacity * groups * 4),
      s: h.alloc(capacity * groups * 4),
      xs: kind === "group" ? h.alloc(capacity * groups * 4) : 0,
      bsums: kind === "q8k" ? h.alloc(capacity * (k / 16) * 2) : 0,
    };
  }

  freeActivations(a: QuantizedActivations): void {
    for (const p of [a.q, a.q16, a.d, a.s, a.xs, a.bsums]) if (p) this.heap.free(p);
  }

  /** Quantizes n tokens of f32 x ([n][k] at address x) into `a`. */
  quantize(a: QuantizedActivations, x: number, n: number): void {
    this.check();
    if (n > a.capacity) throw new OptionError("BAD_OPTION", `${n} tokens exceed the activation buffer (${a.capacity})`);
    a.n = n;
    const parts = this.parts(n * a.k * 4);
    if (a.kind === "q8k") {
      this.pool.run(FN.quantQ8K, [x, a.k, a.q, a.q16, a.kp, a.capacity, a.d, a.s, a.bsums], n, 1, parts);
    } else {
      this.pool.run(FN.quantAbsmax, [x, a.k, a.group, a.q, a.q16, a.kp, a.capacity, a.d, a.s, a.xs], n, 1, parts);
    }
  }

  /** The quantized activations as plain arrays: q [n][kp], d/s/xs [n][groups], bsums [n][k/16] (tests, debugging). */
  readActivations(a: QuantizedActivations): {
    q: Int8Array;
    q16?: Int16Array;
    d: Float32Array;
    s: Int32Array;
    xs?: Float32Array;
    bsums?: Int16Array;
  } {
    const h = this.heap;
    const { n, kp, groups, capacity: cap } = a;
    const q = new Int8Array(n * kp);
    const q16 = a.q16 ? new Int16Array(n * kp) : undefined;
    const i8 = h.i8;
    const i16 = h.i16;
    for (let t = 0; t < n; t++) {
      for (let e = 0; e < kp; e++) {
        // token-major, 16-value vectors of each 128-chunk ordered (half, field): assembly/kernels/quant.ts
        const p = t * kp + (e & ~127) + ((e & 16) << 2) + ((e & 96) >> 1) + (e & 15);
        q[t * kp + e] = i8[a.q + p]!;
        if (q16) q16[t * kp + e] = i16[(a.q16 >> 1) + p]!;
      }
    }
    const grab = <T extends Float32Array | Int32Array>(ptr: number, view: T, make: (len: number) => T): T => {
      const out = make(n * groups);
      for (let t = 0; t < n; t++) for (let g = 0; g < groups; g++) out[t * groups + g] = view[(ptr >> 2) + g * cap + t]!;
      return out;
    };
    const d = grab(a.d, h.f32, (l) => new Float32Array(l));
    const s = grab(a.s, h.i32, (l) => new Int32Array(l));
    const xs = a.xs ? grab(a.xs, h.f32, (l) => new Float32Array(l)) : undefined;
    const bsums = a.bsums ? h.i16.slice(a.bsums >> 1, (a.bsums >> 1) + n * (a.k / 16)) : undefined;
    return { q, q16, d, s, xs, bsums };
  }

  /** The activation kind and group a matrix's kernel expects (undefined: float matmul, f32 activations). */
  activationFor(m: Matrix): { kind: ActivationKind; group: number } | undefined {
    const l = m.layout;
    return l.activation ? { kind: l.activation, group: l.group } : undefined;
  }

  // ── matmul ────────────────────────────────────────────────────────────────────────────────────────────────

  /**
   * out[t][r] = Σ_i W[r][i]·x[t][i] for a ternary W and activations already quantized for it.
   * out: f32 address; outStride: floats between tokens (default rows). x: the f32 input the activations were
   * quantized from ([n][cols]), which a matrix with a salient side matrix needs for its product (./salient.ts).
   */
  matmulQuantized(w: Matrix, a: QuantizedActivations, out: number, outStride = w.rows, x = 0): void {
    this.check();
    const { fam, upg, nUnits } = this.ternaryArgs(w, a);
    if (w.salient && !x) throw new OptionError("BAD_OPTION", `${w.type} ${w.rows}×${w.cols} has a salient side matrix: pass the f32 input x`);
    const l = w.layout;
    // the first t0 tokens by table lookups, the rest (a short tail, or all) by the multiply-add tiles
    const t0 = this.lutTokens([w], a.n);
    if (t0) {
      this.matmulLut([w], a, t0, [out], outStride);
      // the side matrix's product of those tokens in a call of its own (the table lookups split tokens, it rows)
      if (w.salient) salientMatmul(this, w.salient, x, t0, out, w.cols, outStride);
    }
    if (t0 === a.n) return;
    const at = this.activationsFrom(a, t0);
    const args = [
      fam,
      w.ptr,
      l.rowBytes,
      at.q,
      at.cs,
      w.scales,
      w.shifts,
      scaleQuadStride(l.groups),
      at.d,
      at.s,
      at.xs,
      a.capacity * 4,
      nUnits,
      upg,
      l.groups,
      w.scale,
      a.n - t0,
      out + t0 * outStride * 4,
      outStride * 4,
      TILE_CODE[this.tile],
    ];
    if (w.salient) {
      // the side matrix's product in the same thread-pool call: each thread adds it to the rows it computed (tokens
      // from t0), shares cut at its row groups
      setSalientInput(this, w.salient, x + t0 * w.cols * 4, a.n - t0);
      this.pool.run(FN.ternSalientMatmul, [...args, w.salient.desc], w.rows, this.salientAlign(w.rows), this.parts(w.rows * w.cols * (a.n - t0)));
      return;
    }
    this.pool.run(FN.ternMatmul, args, w.rows, 4, this.parts(w.rows * w.cols * (a.n - t0)));
  }

  /**
   * How many of n tokens (the first ones) matmulQuantized runs through the Vec-LUT matmul, the rest through the
   * multiply-add tiles: the one place that chooses. "auto": whole tiles of LUT_TOKENS, and a last partial tile only
   * from LUT_TAIL_TOKENS on (it costs a whole tile), once there are LUT_MIN_TOKENS per thread; "lut": all n.
   */
  private lutTokens(ws: readonly Matrix[], n: number): number {
    const fits = (w: Matrix) => {
      const { kernel, scales } = CPU_MATRIX_TYPES[w.type];
      // a code byte's 4 fields must share one scale group: DLT needs groups of 128 or 256; a matrix with a code of 3
      // has no table row for it (Matrix.code3)
      return kernel.matmul === "ternary" && !w.code3 && (scales.kind !== "groups" || w.layout.group >= 128);
    };
    if (!ws.every(fits) || (this.tile !== "auto" && this.tile !== "lut")) return 0;
    if (this.tile === "lut") return n;
    const rest = n % LUT_TOKENS;
    const lutN = rest >= LUT_TAIL_TOKENS ? n : n - rest;
    const work = ws.reduce((sum, w) => sum + w.rows * w.cols * n, 0);
    return lutN >= LUT_MIN_TOKENS * this.parts(work) ? lutN : 0;
  }

  /**
   * The Vec-LUT matmul (assembly/kernels/ternary_lut.ts) of the first n tokens for matrices of one type and row
   * length that read `a` (q/k/v, gate/up: each panel's tables built once for all of them): tokens split across the
   * threads in tiles of LUT_TOKENS. outStride: floats between tokens, when there is one matrix (default rows).
   */
  private matmulLut(ws: readonly Matrix[], a: QuantizedActivations, n: number, outs: readonly number[], outStride?: number): void {
    const w = ws[0]!;
    const l = w.layout;
    const { rows, work } = this.writeSetEntries(ws, a, outs, 0, outStride);
    const slotBytes = lutSlotBytes(l.rowBytes, l.groups, rows);
    const lut = this.lut;
    if (!lut.counter) lut.counter = this.heap.calloc(64);
    if (lut.slotBytes < slotBytes) {
      if (lut.ptr) this.heap.free(lut.ptr);
      lut.ptr = this.heap.alloc(slotBytes * this.pool.size);
      lut.slotBytes = slotBytes;
    }
    const span = CPU_MATRIX_TYPES[w.type].scales.kind === "groups" ? l.group / 4 : 64;
    const args = [
      this.setEntries.ptr,
      ws.length,
      a.q,
      a.kp,
      a.d,
      a.xs,
      a.capacity * 4,
      span,
      l.groups,
      LUT_PANEL_BYTES,
      LUT_FORM_CODE[this.info.lutForm],
      lut.counter,
      lut.ptr,
      lut.slotBytes,
      this.pool.size,
    ];
    this.pool.run(FN.ternMatmulLut, args, n, LUT_TOKENS, this.parts((work * n) / a.n));
  }

  /**
   * The MSET entries (abi.ts) of matrices that read `a`, for outputs from token t0 on: each matrix's own
   * ternMatmul arguments and its rows in the set's range, every matrix starting at a row quad. Returns the range's
   * rows and the work (multiply-adds) of all n tokens. outStride: floats between tokens (default each one's rows).
   */
  private writeSetEntries(
    ws: readonly Matrix[],
    a: QuantizedActivations,
    outs: readonly number[],
    t0: number,
    outStride?: number,
  ): { rows: number; work: number } {
    if (this.setEntries.count < ws.length) {
      if (this.setEntries.ptr) this.heap.free(this.setEntries.ptr);
      this.setEntries = { ptr: this.heap.alloc(Math.max(4, ws.length) * MSET_ENTRY_WORDS * 4), count: Math.max(4, ws.length) };
    }
    const i32 = this.heap.i32;
    const f32 = this.heap.f32;
    // each matrix starts at a row quad, so that every share (cut at multiples of 4) starts at one of its quads; in a
    // set with a side matrix at a row group, so that shares cut at groups cut no side matrix's group
    const unit = ws.some((w) => w.salient) ? SALIENT_ROW_GROUP : 4;
    let rows = 0;
    let work = 0;
    for (let i = 0; i < ws.length; i++) {
      const w = ws[i]!;
      const { fam, upg, nUnits } = this.ternaryArgs(w, a);
      const stride = (outStride ?? w.rows) * 4;
      const e = (this.setEntries.ptr >> 2) + i * MSET_ENTRY_WORDS;
      i32[e + MSET.FAM] = fam;
      i32[e + MSET.CODES] = w.ptr;
      i32[e + MSET.ROW_BYTES] = w.layout.rowBytes;
      i32[e + MSET.SCALES] = w.scales;
      i32[e + MSET.SHIFTS] = w.shifts;
      i32[e + MSET.SCALE_STRIDE] = scaleQuadStride(w.layout.groups);
      i32[e + MSET.UNITS] = nUnits;
      i32[e + MSET.UPG] = upg;
      i32[e + MSET.GROUPS] = w.layout.groups;
      f32[e + MSET.TENSOR_SCALE] = w.scale;
      i32[e + MSET.OUT] = outs[i]! + t0 * stride;
      i32[e + MSET.OUT_STRIDE] = stride;
      i32[e + MSET.ROWS] = w.rows;
      i32[e + MSET.START] = rows;
      i32[e + MSET.SALIENT] = w.salient?.desc ?? 0;
      rows += Math.ceil(w.rows / unit) * unit;
      work += w.rows * w.cols * a.n;
    }
    return { rows, work };
  }

  /**
   * The multiply-add kernels' activation arguments for tokens t0… of `a`: the quantized values this build reads (i8
   * in the relaxed build, the i16 copy in simd128) and the bytes between tokens, then the scale, Σq and Σx rows.
   */
  private activationsFrom(a: QuantizedActivations, t0: number): { q: number; cs: number; d: number; s: number; xs: number } {
    const relaxed = this.build === "relaxed";
    const cs = relaxed ? a.kp : a.kp * 2;
    return { q: (relaxed ? a.q : a.q16) + t0 * cs, cs, d: a.d + t0 * 4, s: a.s + t0 * 4, xs: a.xs ? a.xs + t0 * 4 : 0 };
  }

  /**
   * Where the pool cuts the rows of a call with a side matrix: at its row groups, so that no group's tiles are computed
   * by two threads (each stores only its own rows of a group it shares), while that leaves every thread several
   * chunks; else at row quads (many threads, few rows: the balance is worth the shared groups' repeated work).
   */
  private salientAlign(rows: number): number {
    return rows >= SALIENT_ROW_GROUP * 4 * this.pool.size ? SALIENT_ROW_GROUP : 4;
  }

  /** The per-matrix arguments of ternMatmul, after checking that `a` is the activation `w`'s kernel reads. */
  private ternaryArgs(w: Matrix, a: QuantizedActivations): { fam: number; upg: number; nUnits: number } {
    const l = w.layout;
    if (!l.activation) throw new OptionError("BAD_OPTION", `${w.type} is not ternary: use matmul() with f32 activations`);
    if (a.kind !== l.activation || a.k !== w.cols || a.group !== l.group) {
      throw new OptionError("BAD_OPTION", `activations (${a.kind}, k ${a.k}, group ${a.group}) do not fit ${w.type} ${w.rows}×${w.cols}`);
    }
    const { kernel, scales } = CPU_MATRIX_TYPES[w.type];
    if (kernel.matmul !== "ternary") throw new OptionError("BAD_OPTION", `${w.type} has no ternary kernel`);
    // the kernel reads the side matrix's row groups over the matrix's rows, and x over its columns
    if (w.salient && (w.salient.rows !== w.rows || w.salient.cols !== w.cols)) {
      throw new OptionError("BAD_OPTION", `${w.type} ${w.rows}×${w.cols} has a salient side matrix of ${w.salient.rows}×${w.salient.cols}`);
    }
    return {
      fam: FAM[kernel.family],
      // 64-weight units per scale group where the scales are per group (DLT); the other families ignore it
      upg: scales.kind === "groups" ? l.group / 64 : 4,
      // whole 128-weight chunks (a ragged DLT row's last chunk included: its padding is zero)
      nUnits: 2 * Math.ceil(w.cols / 128),
    };
  }

  /**
   * outs[i] = matmulQuantized(ws[i], a, outs[i], …, x) for ternary matrices that read the same activations (q/k/v,
   * gate/up), as one thread-pool call over all their rows (ternMatmulSet; ternSalientMatmulSet where one has a salient
   * side matrix, whose product reads the f32 input x): one dispatch and one barrier instead of one per matrix, and the
   * threads' shares cut from the rows of all of them. Bit-identical to the separate calls.
   */
  matmulQuantizedSet(ws: readonly Matrix[], a: QuantizedActivations, outs: readonly number[], x = 0): void {
    this.check();
    if (ws.length !== outs.length) throw new OptionError("BAD_OPTION", `${ws.length} matrices but ${outs.length} outputs`);
    for (const w of ws) {
      this.ternaryArgs(w, a); // every matrix reads `a`, checked before anything runs
      if (w.salient && !x) throw new OptionError("BAD_OPTION", `${w.type} ${w.rows}×${w.cols} has a salient side matrix: pass the f32 input x`);
    }
    // a batch's first tokens by table lookups, each panel's tables shared by the matrices while their rows'
    // accumulators stay small (else one matrix at a time); the rest by the multiply-add tiles
    const t0 = this.lutTokens(ws, a.n);
    if (t0) {
      const accBytes = ws.reduce((sum, w) => sum + w.rows, 0) * LUT_TOKENS * 4;
      if (accBytes <= LUT_SHARED_ACC_BYTES) this.matmulLut(ws, a, t0, outs);
      else for (let i = 0; i < ws.length; i++) this.matmulLut([ws[i]!], a, t0, [outs[i]!]);
      // side matrices' products of those tokens, each in a call of its own; they read the same x, written once
      let written = false;
      ws.forEach((w, i) => {
        if (!w.salient || w.salient.nnz === 0) return;
        salientMatmul(this, w.salient, x, t0, outs[i]!, w.cols, w.rows, written);
        written = true;
      });
    }
    if (t0 === a.n) return;
    const { rows, work } = this.writeSetEntries(ws, a, outs, t0);
    const at = this.activationsFrom(a, t0);
    const args = [this.setEntries.ptr, ws.length, at.q, at.cs, at.d, at.s, at.xs, a.capacity * 4, a.n - t0, TILE_CODE[this.tile]];
    let copied = false; // the set's side matrices read the same x: one copy (or set of token quads) for all
    for (const w of ws) {
      if (!w.salient) continue;
      setSalientInput(this, w.salient, x + t0 * w.cols * 4, a.n - t0, w.cols, copied);
      copied = true;
    }
    const side = ws.some((w) => w.salient);
    this.pool.run(
      side ? FN.ternSalientMatmulSet : FN.ternMatmulSet,
      args,
      rows,
      side ? this.salientAlign(rows) : 4,
      this.parts((work * (a.n - t0)) / a.n),
    );
  }

  /** out = x·Wᵀ for float weights (F32, F16, Q8_0, BF16 held as F32) and f32 activations x [n][cols] at address x. */
  matmulFloat(w: Matrix, x: number, n: number, out: number, outStride = w.rows): void {
    this.check();
    const kernel = CPU_MATRIX_TYPES[w.type].kernel;
    if (kernel.matmul !== "float") throw new OptionError("BAD_OPTION", `${w.type} is ternary: quantize the activations and use matmulQuantized()`);
    const ty = WT[kernel.format];
    this.pool.run(
      FN.floatMatmul,
      [ty, w.ptr, w.layout.rowBytes, x, w.cols * 4, w.cols, n, out, outStride * 4, w.f16Finite ? 1 : 0],
      w.rows,
      4,
      this.parts(w.rows * w.cols * n),
    );
  }

  /**
   * out[t][r] = Σ_i W[r][i]·x[t][i] for Q8_0 weights and activations quantized to int8 per group of 32 (the int8
   * output head: assembly/kernels/head_q8.ts). out: f32 address; outStride: floats between tokens (default rows).
   */
  matmulInt8Head(w: Matrix, a: QuantizedActivations, out: number, outStride = w.rows): void {
    this.check();
    if (w.type !== "Q8_0") throw new OptionError("BAD_OPTION", `the int8 head needs Q8_0 weights, got ${w.type}`);
    if (a.kind !== "group" || a.group !== 32 || a.k !== w.cols) {
      throw new OptionError("BAD_OPTION", `activations (${a.kind}, k ${a.k}, group ${a.group}) do not fit the int8 head ${w.rows}×${w.cols}`);
    }
    this.pool.run(
      FN.int8HeadMatmul,
      [w.ptr, w.layout.rowBytes, a.q, a.kp, a.d, a.capacity, w.cols, a.n, out, outStride * 4],
      w.rows,
      4,
      this.parts(w.rows * w.cols * a.n),
    );
  }

  /**
   * y = x·Wᵀ for any matrix type: ternary types quantize x first (per the type's convention, into a scratch
   * buffer kept between calls). x: f32 [n][cols] address; out: f32 [n][rows] address.
   */
  linear(w: Matrix, x: number, n: number, out: number, outStride = w.rows): void {
    const act = this.activationFor(w);
    if (!act) {
      this.matmulFloat(w, x, n, out, outStride);
      return;
    }
    const key = `${act.kind}:${w.cols}:${act.group}`;
    let a = this.scratch.get(key);
    if (!a || a.capacity < n) {
      if (a) this.freeActivations(a);
      a = this.allocActivations(act.kind, w.cols, Math.max(n, a ? a.capacity * 2 : 1), act.group);
      this.scratch.set(key, a);
    }
    this.quantize(a, x, n);
    this.matmulQuantized(w, a, out, outStride, x);
  }

  // ── other ops ─────────────────────────────────────────────────────────────────────────────────────────────

  /** RMSNorm of n rows of k values at x into out (may equal x); w: f32 [k] address or 0. */
  rmsNorm(x: number, w: number, out: number, n: number, k: number, eps: number): void {
    this.check();
    this.pool.run(FN.rmsNorm, [x, w, out, k, eps], n, 1, this.parts(n * k * 4));
  }

  /**
   * RoPE in place on x: f32 [n][heads·headDim] at positions pos. nRot: rotated dims per head (default headDim).
   * neox: pairs (i, i + nRot/2) instead of (2i, 2i+1). Angles as llama.cpp: θ_0 = pos·freqScale,
   * θ_{i+1} = θ_i·base^(−2/nRot), in f32.
   */
  rope(
    x: number,
    n: number,
    heads: number,
    headDim: number,
    pos: ArrayLike<number>,
    opts: { base?: number; neox?: boolean; nRot?: number; freqScale?: number } = {},
  ): void {
    this.check();
    const nRot = opts.nRot ?? headDim;
    if (nRot % 2 || nRot > headDim) throw new OptionError("BAD_OPTION", `bad rotary dims ${nRot} for head size ${headDim}`);
    if (pos.length < n) throw new OptionError("BAD_OPTION", `need ${n} positions, got ${pos.length}`);
    const half = nRot / 2;
    const bytes = n * half * 8;
    const base = opts.base ?? 10000;
    const freqScale = opts.freqScale ?? 1;
    const t = this.ropeTable;
    // a forward step rotates q and k of every layer at the same positions: the table is computed once for them
    const same = t.n === n && t.nRot === nRot && t.base === base && t.freqScale === freqScale && t.pos.every((p, i) => p === pos[i]);
    if (!same) {
      if (t.bytes < bytes) {
        if (t.ptr) this.heap.free(t.ptr);
        t.ptr = this.heap.alloc(bytes);
        t.bytes = bytes;
      }
      ropeAngles(this.heap.f32, t.ptr >> 2, pos, n, nRot, base, freqScale);
      Object.assign(t, { n, nRot, base, freqScale, pos: Float64Array.from({ length: n }, (_, i) => pos[i]!) });
    }
    this.pool.run(FN.rope, [x, heads, headDim, nRot, t.ptr, opts.neox ? 1 : 0], n, 1, this.parts(n * heads * headDim * 4));
  }

  /** Softmax of scale·x over each of `rows` rows of `len` values, in place. */
  softmax(x: number, rows: number, len: number, scale = 1): void {
    this.check();
    this.pool.run(FN.softmax, [x, len, scale], rows, 1, this.parts(rows * len * 8));
  }

  /** out = silu(g) ⊙ u (SwiGLU), count elements; u = 0: out = silu(g). */
  swiglu(g: number, u: number, out: number, count: number): void {
    this.check();
    this.pool.run(FN.glu, [ACT.SILU, g, u, out], count, 64, this.parts(count * 4));
  }

  /** x += y, count f32 elements (the residual stream). */
  addInto(x: number, y: number, count: number): void {
    this.check();
    this.pool.run(FN.addInto, [x, y], count, 64, this.parts(count * 8));
  }

  /** out = relu(g)² ⊙ u (BitNet b1.58's FFN), count elements; u = 0: out = relu(g)². */
  relu2glu(g: number, u: number, out: number, count: number): void {
    this.check();
    this.pool.run(FN.glu, [ACT.RELU2, g, u, out], count, 64, this.parts(count * 4));
  }

  /**
   * Runs a kernel export by name through the thread pool, over [0, total) split at multiples of `align`,
   * threads only when `work` reaches the parallel threshold. For kernel wrappers kept in their own files
   * (./attention.ts).
   */
  dispatch(name: ExportName, args: readonly number[], total: number, align: number, work: number): void {
    this.check();
    this.pool.run(FN[name], args, total, align, this.parts(work));
  }

  /** Stops the workers and forgets the memory. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.pool.dispose();
    this.scratch.clear();
    this.setEntries = { ptr: 0, count: 0 };
  }
}
