// A trained student as a GGUF file.
//
// "dlt" (ternion's own, docs/ARCHITECTURE.md section 3; naming in runtime/model/tensors.ts): each block matrix is its
// codes as TQ2_0 (rows padded to a multiple of 256 with zero codes; block scale d = the mean α of the block,
// so a reader that ignores α/γ still sees a rough approximation), plus F16 X.dlt_alpha and X.dlt_gamma
// [G, rows], and the group size in the metadata. Lossless up to α, γ → f16.
//
// "tq2_0" (llama.cpp): plain TQ2_0, which has one scale d per 256 weights and no shift, so it needs rows that
// are a multiple of 256. Each block keeps its codes T and takes the least-squares scale d = Σ Ŵ·T / Σ T² of
// Ŵ = α·T + γ. That is exact when γ = 0 and α is constant over the block (g = 256, or equal scales);
// otherwise the shift is folded away and `foldError` states the relative error ‖Ŵ − d·T‖ / ‖Ŵ‖.
//
// A student with salient weights (salient.ts) has, beside each block matrix, its side matrix: the four
// X.salient_* tensors (runtime/convert/salient-matrix.ts, docs/ARCHITECTURE.md section 3) in either format.
//
// Everything that is not a block matrix (embedding, norms with their trained gains, head, any extra tensor)
// is written as F32.
import { ModelError } from "../runtime/errors.ts";
import type { GgufWriteInput, GgufWriteTensor } from "../runtime/gguf/writer.ts";
import { type GgufHeader, type GgufValue, GgufValueType } from "../runtime/gguf/types.ts";
import { DLT_GROUP_KEY } from "../runtime/model/tensors.ts";
import { packTq2_0 } from "../runtime/tensor-types/ternary-codes.ts";
import { GgmlType, tensorTypeTraits } from "../runtime/tensor-types/table.ts";
import { roundF16 } from "../runtime/tensor-types/half.ts";
import { groupedTernaryLayout, packGroupedTernary, tq2Codes } from "../runtime/convert/grouped-ternary.ts";
import { type SalientMatrix, packSalient, salientLayout, salientMatrixFromDense } from "../runtime/convert/salient-matrix.ts";
import type { DltLinear } from "./linear.ts";
import { dltGroups } from "./dlt.ts";
import { modelLinears, type TrainModel } from "./model.ts";

export type ExportFormat = "dlt" | "tq2_0";
export const EXPORT_FORMATS: readonly ExportFormat[] = ["dlt", "tq2_0"];

export interface StudentExport {
  input: GgufWriteInput;
  /** tq2_0 only: ‖Ŵ − d·T‖ / ‖Ŵ‖ over all block matrices (0: exact up to f16 scales). */
  foldError?: number;
}

/**
 * The GGUF of `student`. `base` is the teacher's header (metadata and tensor order) and `tensors` its f32
 * values, for tensors the student does not own.
 */
export function exportStudent(
  student: TrainModel,
  base: GgufHeader,
  tensors: ReadonlyMap<string, Float32Array>,
  format: ExportFormat,
): StudentExport {
  const dlt = new Map<string, DltLinear>();
  for (const l of modelLinears(student)) if (l.kind === "dlt") dlt.set(l.name, l);
  if (dlt.size === 0) throw new ModelError("NOT_A_STUDENT", "the model has no DLT matrices to export");
  const group = [...dlt.values()][0]!.group;
  const params = new Map(student.params.map((p) => [p.name, p]));

  if (format === "tq2_0") {
    const bad = [...dlt.values()].find((l) => l.cols % 256 !== 0);
    if (bad) {
      throw new ModelError(
        "UNSUPPORTED_SHAPE",
        `--export tq2_0 needs rows that are a multiple of 256 (TQ2_0's block); ${bad.name} has ${bad.cols}: export the dlt format instead`,
      );
    }
  }

  const metadata = new Map<string, GgufValue>(base.metadata);
  if (format === "dlt") metadata.set(DLT_GROUP_KEY, { type: GgufValueType.UINT32, value: group });
  else metadata.delete(DLT_GROUP_KEY);

  const out: GgufWriteTensor[] = [];
  let errNum = 0;
  let errDen = 0;
  for (const t of base.tensors) {
    const lin = dlt.get(t.name);
    if (lin && format === "dlt") {
      out.push(...dltTensors(lin), ...salientTensors(lin, "dlt"));
      continue;
    }
    if (lin) {
      const r = tq2Tensor(lin);
      errNum += r.err;
      errDen += r.norm;
      out.push({ name: t.name, dims: [lin.cols, lin.rows], type: GgmlType.TQ2_0, data: r.data }, ...salientTensors(lin, "tq2_0"));
      continue;
    }
    const values = params.get(t.name)?.value ?? tensors.get(t.name);
    if (!values) throw new ModelError("MISSING_TENSOR", `tensor ${t.name} has no values to export`);
    out.push({ name: t.name, dims: t.dims, type: GgmlType.F32, data: tensorBytes(GgmlType.F32, values) });
  }
  const input: GgufWriteInput = { version: 3, metadata, tensors: out };
  return format === "tq2_0" ? { input, foldError: errDen > 0 ? Math.sqrt(errNum / errDen) : 0 } : { input };
}

/** Values as a tensor of `type` (F32 or F16), through the type table's own rounding. */
function tensorBytes(type: GgmlType.F32 | GgmlType.F16, values: ArrayLike<number>): Uint8Array {
  return tensorTypeTraits(type).quantize(Float32Array.from(values));
}

/** The DLT layout: codes (rows padded to 256), α, γ — written as quantize writes a grouped ternary matrix. */
function dltTensors(l: DltLinear): GgufWriteTensor[] {
  const data = packGroupedTernary(l.ternary, l.rows, l.cols, l.group);
  return groupedTernaryLayout(l.name, l.rows, l.cols, l.group).map((t, i) => ({ ...t, data: data[i]! }));
}

/**
 * The side matrix of a student's salient weights (none without them): S = w_s − what the file's ternary part
 * decodes to at that position (code 0: the F16 γ of its group in the DLT layout, 0 in TQ2_0), so that
 * decode(X.weight) + S is the kept weight up to S's int8 rounding.
 */
export function studentSalientMatrix(l: DltLinear, format: ExportFormat): SalientMatrix | null {
  if (!l.salient) return null;
  const G = dltGroups(l);
  const side = new Float64Array(l.rows * l.cols);
  l.salient.positions.forEach((i, e) => {
    const ternary = format === "dlt" ? roundF16(l.ternary.gamma[Math.floor(i / l.cols) * G + Math.floor((i % l.cols) / l.group)]!) : 0;
    side[i] = l.salient!.values.value[e]! - ternary;
  });
  return salientMatrixFromDense(side, l.salient.mask, l.rows, l.cols, l.name);
}

function salientTensors(l: DltLinear, format: ExportFormat): GgufWriteTensor[] {
  const s = studentSalientMatrix(l, format);
  if (!s) return [];
  const data = packSalient(s);
  return salientLayout(l.name, l.rows, s.idx.length).map((t, i) => ({ ...t, data: data[i]! }));
}

/** TQ2_0 with least-squares block scales, and the squared error and squared norm of Ŵ it leaves. */
function tq2Tensor(l: DltLinear): { data: Uint8Array; err: number; norm: number } {
  const G = dltGroups(l);
  const nb = l.cols / 256;
  const d = new Float32Array(l.rows * nb);
  const w = (r: number, e: number) => {
    const gi = r * G + Math.floor(e / l.group);
    return l.ternary.alpha[gi]! * l.ternary.codes[r * l.cols + e]! + l.ternary.gamma[gi]!;
  };
  let err = 0;
  let norm = 0;
  for (let r = 0; r < l.rows; r++) {
    for (let b = 0; b < nb; b++) {
      let wt = 0;
      let tt = 0;
      for (let e = b * 256; e < (b + 1) * 256; e++) {
        const t = l.ternary.codes[r * l.cols + e]!;
        wt += w(r, e) * t;
        tt += t * t;
      }
      const scale = tt > 0 ? wt / tt : 0;
      d[r * nb + b] = scale;
      const dq = roundF16(scale);
      for (let e = b * 256; e < (b + 1) * 256; e++) {
        if (l.salient?.mask[r * l.cols + e]) continue; // the side matrix holds that weight whole
        const x = w(r, e);
        const y = dq * l.ternary.codes[r * l.cols + e]!;
        err += (x - y) * (x - y);
        norm += x * x;
      }
    }
  }
  return { data: packTq2_0(tq2Codes(l.ternary.codes, l.rows, l.cols, l.cols), d, l.rows, l.cols), err, norm };
}
