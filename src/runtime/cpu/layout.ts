// The one place that states, byte for byte, how the CPU kernels see weights and activations in wasm memory.
// The AssemblyScript kernels (assembly/kernels/*) and the scalar references (./reference/*) both follow it;
// the pack/unpack helpers of the formats' own bytes are in runtime/tensor-types/ternary-codes.ts. Which of the
// layouts below a type has is its row in the CPU matrix-type table (./matrix-types.ts); matrixLayout derives
// the sizes from that row.
//
// Codes. Every ternary layout stores one 2-bit code per weight: 0, 1, 2 mean −1, 0, +1 (3 is never written).
// The kernels multiply the unsigned codes with int8 activations and subtract the activation sums
// ((c − 1)·q summed = Σ c·q − Σ q), so they never need a sign.
//
// ── Code rows ("T2") and row quads ─ what every ternary kernel reads ────────────────────────────────────────────
//   T2 row: ceil(k/128) chunks of 32 bytes: element e of the row, c = e/128, l = (e%128)/32, m = e%32:
//   code = (byte[32c + m] >> 2l) & 3 (I2_S: >> (6 − 2l)). Past k the codes are 1 (zero).
//   Row quads (how the kernels hold every ternary type after upload): rows 4q…4q+3 are stored together, 4 bytes of
//   each in turn: byte B of row r's T2 row sits at (r/4)·4·rowBytes + 64·(B/16) + 16·((B%16)/4) + 4·(r%4) + B%4
//   (a ragged last quad has unused rows). So one 16-byte vector holds 4 code bytes of 4 rows: a kernel multiplies
//   it with a 4-byte activation broadcast and gets the 4 rows in the 4 i32 lanes, and reads the matrix as one
//   sequential stream (with one stream per row, the matvec ran at half speed once the weights came from memory:
//   bench/README.md).
//   Per-group weight scales (and DLT shifts) are f32 [rows/4][groups][4] — quad-major: a quad's 4 scales of a group
//   are one 16-byte load, and a quad's groups follow one another, so the decode tiles read a quad's scales as
//   they read its codes, in one sequential stream (group-major [groups][rows] put a quad's consecutive groups
//   4·rows bytes apart: a cache miss per group and quad, ≈ 20 % of TQ2_0's decode matvecs; bench/README.md).
//
// ── TQ2_0 (ggml type 35) ─ repacked at upload into row quads + quad-major f32 scales ──────────────────────────────
//   GGUF block = qs[64] then f16 d (66 bytes). Element e of a block: j = e/128, l = (e%128)/32, m = e%32,
//   code = (qs[32j + m] >> 2l) & 3, value = (code − 1)·d. The 64 code bytes of a block are already two T2
//   chunks, so the repack drops each block's d into the scale array: 64 + 4 bytes per block (was 66).
//
// ── TQ1_0 (ggml type 34) ─ repacked at upload into the same row quads + f32 scales ─────────────────────────────────
//   block = qs[48], qh[4], f16 d (54 bytes); five trits per byte (trit n of q = ((u8)(q·3ⁿ)·3) >> 8).
//   e < 160: qs[e%32] trit e/32; 160 ≤ e < 240: x = e−160, qs[32 + x%16] trit x/16; e ≥ 240: x = e−240,
//   qh[x%4] trit x/4. Unpacking base 3 needs byte multiplies that wasm SIMD lacks, so the kernels read the
//   2-bit form instead: 68/54 = 1.26× the bytes, no per-use decoding. stats().tq1Repacked says so.
//
// ── I2_S (bitnet.cpp, id 36 there) ─ codes repacked at upload into row quads, tensor scale read out ───────────
//   Whole tensor: numel/4 bytes of codes then one f32 scale (then padding to numel/4 + 32). Groups of 128
//   weights in 32 bytes, along the row (k must be a multiple of 128): weight j of a group sits in byte j%32 at
//   bits 6 − 2·(j/32). value = (code − 1)·scale.                       row bytes = k/4
//   The bytes of a row are T2's (with the fields in the other bit order), so they go to the same row quads.
//
// ── DLT (ours) ─ 2-bit codes + per-group f16 scale α and shift γ ────────────────────────────────────────────
//   Codes: T2 rows (above), row bytes = ceil(k/128)·32. A TQ2_0 row becomes a DLT row by dropping each block's
//   2 bytes of d. At upload the codes go to row quads (as TQ2_0's) and α and γ become f32 [G][m] (exact).
//   Groups: g ∈ {64, 128, 256} consecutive weights of a row; G = ceil(k/g) groups, the last one may be shorter.
//   α, γ: f16 [m][G]. Ŵ[r][e] = α[r][e/g]·(code − 1) + γ[r][e/g], and
//   y_r = Σ_g α_rg·(T_rg · x_g) + γ_rg·Σ x_g  (the kernel uses the quantized x in the first term, exact Σx in the second).
//
// ── Activations (per token t of n, row length k) ────────────────────────────────────────────────────────────
//   q:   i8 [n][kp], kp = k rounded up to 128, zero padded.   q16: the same as i16 (only for the simd128 build,
//        which has no 8-bit dot product and reads pre-widened activations). Token-major (token t at t·kp values),
//        but inside each 128-value chunk the 16-value vectors are stored in (h, l) order: value e sits at
//        (e & ~127) + 64·h + 16·l + (e & 15), l = (e % 128)/32, h = (e % 32)/16 — the order in which the kernels meet
//        the 2-bit fields of a code chunk (16 bytes = 64 weights at a time). readActivations() undoes it.
//        Capacity only sets how many tokens fit: a decode token is one contiguous kp-byte row.
//   d:   f32 [n][G]  scale of each group      s: i32 [n][G]  Σ q over the group      xs: f32 [n][G] Σ x (DLT)
//   Q8_K (TQ1_0/TQ2_0, llama.cpp's vec_dot_type): groups of 256; max = the first value of largest magnitude,
//        iscale = −127/max, q = min(127, nearest(iscale·x)), d = 1/iscale; bsums: i16 [n][k/16] sums of 16 q.
//   token (I2_S, BitNet b1.58): one group per token; amax = max|x|, q = nearest(x·127/amax), d = amax/127.
//   group (DLT): the same per group of g values.
//   all-zero group: d = 0, q = 0.
//
// ── Float weights ───────────────────────────────────────────────────────────────────────────────────────────
//   F32 rows of k·4 bytes; F16 rows of k·2; Q8_0 rows of k/32 blocks (f16 d, 32 × i8; value = q·d); BF16 is
//   widened to F32 rows as it is uploaded (exact).
//   Activations are f32 [n][k]; outputs f32 [n][m] (token-major).
import { TensorTypeError } from "../errors.ts";
import { CPU_MATRIX_TYPES, matrixType, type MatrixType } from "./matrix-types.ts";
import { codeRowBytes, scaleQuadStride } from "./row-quads.ts";

export type { MatrixType } from "./matrix-types.ts";
export type ActivationKind = "q8k" | "token" | "group";

export interface MatrixLayout {
  type: MatrixType;
  /** Bytes of one row of codes/values as the kernels read them (after any repacking: T2 rows for ternary). */
  rowBytes: number;
  /** Bytes of all the rows' codes/values in wasm (ternary: row quads, so the row count rounds up to 4). */
  codeBytes: number;
  /** Bytes of the f32 weight scales (and of the DLT shifts) [rows/4][groups][4] in wasm (scaleIndex), 0 where
   *  there are none; a ragged last quad has its 4 lanes (the rows past the matrix unused). */
  scaleBytes: number;
  /** Bytes of the whole tensor as it comes in (GGUF / our format), codes only for DLT. */
  sourceBytes: number;
  /** The activation quantization the kernel expects (undefined: f32 activations). */
  activation: ActivationKind | undefined;
  /** Activation group length (256 for Q8_K, k for token, g for DLT). */
  group: number;
  /** Number of activation groups per token. */
  groups: number;
}

function shapeError(msg: string): never {
  throw new TensorTypeError("BAD_TENSOR_SHAPE", msg);
}

/** "a, b or c". */
function alternatives(values: readonly number[]): string {
  return values.length < 2 ? values.join("") : `${values.slice(0, -1).join(", ")} or ${values[values.length - 1]}`;
}

/**
 * Validates a shape (m rows of k values) for a type and describes its layout, from the type's row in the CPU
 * matrix-type table (./matrix-types.ts) and its source format's block size and bytes (the traits table).
 */
export function matrixLayout(type: MatrixType, m: number, k: number, groupSize = 128): MatrixLayout {
  const row = CPU_MATRIX_TYPES[matrixType(type)];
  if (!Number.isInteger(m) || !Number.isInteger(k) || m < 1 || k < 1) shapeError(`${type}: bad shape ${m}×${k}`);
  const block = row.source?.blockSize ?? 1;
  if (k % block) shapeError(`${type} needs a row length that is a multiple of ${block}, got ${k}`);
  const scales = row.scales;
  if (scales.kind === "groups" && !scales.sizes.includes(groupSize)) {
    shapeError(`${type} group size must be ${alternatives(scales.sizes)}, got ${groupSize}`);
  }
  const held = row.rows;
  // values: the format's blocks as they are; codes: T2 rows in row quads (the row count rounds up to 4)
  const rowBytes = held.kind === "values" ? (k / held.format.blockSize) * held.format.bytesPerBlock : codeRowBytes(k);
  const codeBytes = held.kind === "values" ? m * rowBytes : Math.ceil(m / 4) * 4 * rowBytes;
  const group = scales.kind === "blocks" ? block : scales.kind === "groups" ? groupSize : k;
  const groups = Math.ceil(k / group);
  const scaleBytes = scales.kind === "blocks" || scales.kind === "groups" ? Math.ceil(m / 4) * scaleQuadStride(groups) : 0;
  const sourceBytes = row.source ? row.source.byteLength(m * k) : m * rowBytes;
  return { type, rowBytes, codeBytes, scaleBytes, sourceBytes, activation: row.activation, group, groups };
}

/** Padded activation row length. */
export function paddedK(k: number): number {
  return Math.ceil(k / 128) * 128;
}
