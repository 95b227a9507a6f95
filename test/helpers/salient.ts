// Random salient side matrices (model/salient-file.ts) for tests and benches, and their four GGUF tensors, written
// by the format in docs/ARCHITECTURE.md section 3 (the quantizer that makes real ones lives elsewhere).
import type { GgufWriteInput, GgufWriteTensor } from "../../src/runtime/gguf/writer.ts";
import type { SalientMatrixData } from "../../src/runtime/model/salient-file.ts";
import { modelConfigFromGguf } from "../../src/runtime/model/config.ts";
import { expectedTensors, salientNames } from "../../src/runtime/model/tensors.ts";
import { GgmlType } from "../../src/runtime/tensor-types/table.ts";
import { rng } from "./random.ts";
import type { SyntheticShape } from "./synthetic-model.ts";

const SHAPE = { dim: 256, layers: 2, heads: 4, kvHeads: 2, ffn: 512, vocab: 320, contextLength: 64, seed: 41 } as const;

/** The synthetic models the end-to-end tests give side matrices (test/salient-model.test.ts, test/gpu-salient.test.ts). */
export const SALIENT_SHAPES: Record<string, SyntheticShape> = {
  "bitnet I2_S": { ...SHAPE, name: "salient-i2s", architecture: "bitnet", ternary: GgmlType.I2_S, embedding: GgmlType.F32, tiedOutput: true },
  "llama TQ2_0": { ...SHAPE, name: "salient-tq2", architecture: "llama", ternary: GgmlType.TQ2_0, embedding: GgmlType.F32, tiedOutput: false },
};

export interface RandomSalientOptions {
  /** Share of the positions that are salient. */
  share: number;
  /**
   * How many a row gets: "even" (default) ⌊share·cols⌋ or one more, at random; "binomial" each position on its own
   * with probability `share`, as picking the largest |w| of a tensor of independent weights does (row lengths spread
   * around share·cols, which the CPU kernel's per-row loop feels: bench/README.md).
   */
  rowLengths?: "even" | "binomial";
  seed: number;
  /** Largest |S| (scale·127). Default 1. */
  magnitude?: number;
  /** Rows left empty (ragged-edge tests). */
  emptyRows?: readonly number[];
  /** Rows with every column salient. */
  fullRows?: readonly number[];
}

/** The columns of a row where each of `cols` is taken with probability p: geometric gaps between them. */
function binomialColumns(cols: number, p: number, r: () => number): Uint16Array {
  const out: number[] = [];
  if (p <= 0) return new Uint16Array(0);
  for (let c = -1; ; ) {
    c += p >= 1 ? 1 : 1 + Math.floor(Math.log(1 - r()) / Math.log(1 - p));
    if (c >= cols) break;
    out.push(c);
  }
  return Uint16Array.from(out);
}

/** A random side matrix of rows × cols: sorted distinct columns per row, values in ±1…127, per-row scales. */
export function randomSalient(rows: number, cols: number, o: RandomSalientOptions): SalientMatrixData {
  const r = rng(o.seed);
  const perRow: Uint16Array[] = [];
  let nnz = 0;
  for (let row = 0; row < rows; row++) {
    let cs: Uint16Array;
    if (o.fullRows?.includes(row)) cs = Uint16Array.from({ length: cols }, (_, i) => i);
    else if (o.emptyRows?.includes(row)) cs = new Uint16Array(0);
    else if (o.rowLengths === "binomial") cs = binomialColumns(cols, o.share, r);
    else {
      const want = Math.min(cols, Math.floor(o.share * cols + r()));
      const picked = new Set<number>();
      while (picked.size < want) picked.add(Math.floor(r() * cols));
      cs = Uint16Array.from(picked).sort();
    }
    perRow.push(cs);
    nnz += cs.length;
  }
  const rowStart = new Int32Array(rows + 1);
  const idx = new Uint16Array(nnz);
  const val = new Int8Array(nnz);
  const scale = new Float32Array(rows);
  let e = 0;
  for (let row = 0; row < rows; row++) {
    rowStart[row] = e;
    idx.set(perRow[row]!, e);
    for (let j = 0; j < perRow[row]!.length; j++) {
      const q = 1 + Math.floor(r() * 127);
      val[e + j] = r() < 0.5 ? -q : q;
    }
    e += perRow[row]!.length;
    scale[row] = ((o.magnitude ?? 1) / 127) * (0.5 + r());
  }
  rowStart[rows] = nnz;
  return { rows, cols, rowStart, idx, val, scale };
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** The four side-matrix tensors of matrix `weight`, as the format writes them. */
export function salientTensors(weight: string, s: SalientMatrixData): GgufWriteTensor[] {
  const n = salientNames(weight);
  const nnz = s.idx.length;
  // GGUF has no empty tensor (dims ≥ 1): a matrix without salient weights has no side tensors at all
  if (nnz === 0) throw new Error(`the side matrix of ${weight} has no entries: write no side tensors for it`);
  return [
    { name: n.rows, dims: [s.rows + 1], type: GgmlType.I32, data: async () => bytesOf(s.rowStart) },
    { name: n.idx, dims: [nnz], type: GgmlType.I16, data: async () => bytesOf(s.idx) },
    { name: n.val, dims: [nnz], type: GgmlType.I8, data: async () => bytesOf(s.val) },
    { name: n.scale, dims: [s.rows], type: GgmlType.F32, data: async () => bytesOf(s.scale) },
  ];
}

/**
 * `model` with a random side matrix beside every block matrix (share of salient positions `share`), of the matrix's
 * true shape (a DLT matrix's rows are stored padded: model/tensors.ts).
 */
export function withRandomSalient(
  model: GgufWriteInput,
  share: number,
  seed: number,
  magnitude = 1,
  rowLengths: RandomSalientOptions["rowLengths"] = "even",
): { model: GgufWriteInput; sides: Map<string, SalientMatrixData> } {
  const sides = new Map<string, SalientMatrixData>();
  const tensors = [...model.tensors];
  const config = modelConfigFromGguf(
    model.metadata,
    model.tensors.map((t) => ({ name: t.name, dims: [...t.dims], type: t.type })),
  );
  let i = 0;
  for (const e of expectedTensors(config)) {
    if (!e.name.startsWith("blk.") || e.role !== "matrix") continue;
    const s = randomSalient(e.dims[1]!, e.dims[0]!, { share, seed: seed + 7919 * i++, magnitude, rowLengths });
    if (s.idx.length === 0) continue;
    sides.set(e.name, s);
    tensors.push(...salientTensors(e.name, s));
  }
  return { model: { ...model, tensors }, sides };
}
