// The teacher: every tensor of a GGUF model dequantized to f32 (llama-family models small enough to train on the
// device), with its checked ModelConfig. Platform-neutral: give it any ByteSource, read one tensor at a time (a
// file's bytes are never held whole), and the header when it is read already (a split model's).
//
// A teacher may be ternary already (TQ1_0, TQ2_0 or I2_S matrices, or a DLT student whose matrices are
// α·(code − 1) + γ per group): it is decoded to f32 like any other, and `ternaryTeacher` says so, for a warning.
// A DLT teacher's header is given back as the float model it decodes to (its α/γ tensors and group size key
// gone, each matrix [cols, rows] in F32), which is the base a student is exported on. A matrix with a salient side
// matrix (model/salient-file.ts) is decoded as what the runtime computes with, decode(X.weight) + S, and its four
// side tensors are gone from the header as well: a student has its own (or none).
import { addSalientToDense } from "../runtime/convert/salient-matrix.ts";
import { readGgufHeader, readTensorData } from "../runtime/gguf/reader.ts";
import type { ByteSource } from "../runtime/gguf/source.ts";
import type { GgufHeader, GgufTensorInfo } from "../runtime/gguf/types.ts";
import { type ModelConfig, modelConfigFromGguf } from "../runtime/model/config.ts";
import { type DltMatrixInfo, dltMatrixInfo, readDltMatrix } from "../runtime/model/dlt-file.ts";
import { modelSalientMatrix, readSalientMatrix, type SalientMatrixInfo } from "../runtime/model/salient-file.ts";
import { DLT_GROUP_KEY, dltScaleNames, expectedTensors, salientNames } from "../runtime/model/tensors.ts";
import { f16BitsToF32 } from "../runtime/tensor-types/half.ts";
import { GgmlType, tensorTypeName, tensorTypeTraits } from "../runtime/tensor-types/table.ts";
import { unpackDltCodes } from "../runtime/tensor-types/ternary-codes.ts";

export interface FloatModel {
  header: GgufHeader;
  config: ModelConfig;
  /** Every tensor as f32, by name; matrices [out][in] row-major. */
  tensors: Map<string, Float32Array>;
}

const TERNARY_TYPES: ReadonlySet<number> = new Set([GgmlType.TQ1_0, GgmlType.TQ2_0, GgmlType.I2_S]);

/**
 * What makes the model with this header ternary already (its DLT group size key, or its ternary matrix types
 * and how many), or undefined for a float (or 8-bit) model.
 */
export function ternaryTeacher(header: GgufHeader): string | undefined {
  if (header.metadata.has(DLT_GROUP_KEY)) return `it is a DLT student (${DLT_GROUP_KEY} is set)`;
  const ternary = header.tensors.filter((t) => TERNARY_TYPES.has(t.type));
  if (ternary.length === 0) return undefined;
  const types = [...new Set(ternary.map((t) => tensorTypeName(t.type)))].join(", ");
  return `${ternary.length} of its ${header.tensors.length} tensors are ${types}`;
}

export async function loadFloatModel(source: ByteSource, parsed?: GgufHeader): Promise<FloatModel> {
  const header = parsed ?? (await readGgufHeader(source));
  const config = modelConfigFromGguf(header.metadata, header.tensors);
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  const expected = new Map(expectedTensors(config).map((e) => [e.name, e]));
  const scales = new Set<string>();
  // the side matrices, checked as the runtime checks them (a block's matrices only): folded into their matrix
  const sides = new Map<string, SalientMatrixInfo>();
  for (const t of header.tensors) {
    const e = expected.get(t.name);
    const s = e && modelSalientMatrix(byName, t, e);
    if (s) sides.set(t.name, s);
  }
  const sideTensors = new Set([...sides.keys()].flatMap((name) => Object.values(salientNames(name))));
  const tensors = new Map<string, Float32Array>();
  const infos: GgufTensorInfo[] = [];
  for (const t of header.tensors) {
    if (sideTensors.has(t.name)) continue;
    const k = expected.get(t.name)?.dims[0];
    const dlt = k === undefined ? undefined : dltMatrixInfo(header, byName, t, k);
    let values: Float32Array;
    if (dlt) {
      values = await decodeDlt(source, header, dlt);
      infos.push({ ...t, type: GgmlType.F32, dims: [dlt.cols, dlt.rows] });
      const names = dltScaleNames(t.name);
      scales.add(names.alpha).add(names.gamma);
    } else {
      values = new Float32Array(t.dims.reduce((a, b) => a * b, 1));
      tensorTypeTraits(t.type).dequantize(await readTensorData(source, header, t), values);
      infos.push(t);
    }
    const side = sides.get(t.name);
    if (side) addSalientToDense(await readSalientMatrix(source, header, side), values);
    tensors.set(t.name, values);
  }
  if (scales.size === 0 && sides.size === 0) return { header, config, tensors };
  for (const name of scales) tensors.delete(name);
  const metadata = new Map(header.metadata);
  metadata.delete(DLT_GROUP_KEY);
  return { header: { ...header, metadata, tensors: infos.filter((t) => !scales.has(t.name)) }, config, tensors };
}

/** A DLT matrix as f32 [rows][cols]: α·(code − 1) + γ of each value's group. */
async function decodeDlt(source: ByteSource, header: GgufHeader, m: DltMatrixInfo): Promise<Float32Array> {
  const { codes, alpha, gamma } = await readDltMatrix(source, header, m);
  const unpacked = unpackDltCodes(codes, m.rows, m.cols);
  const G = Math.ceil(m.cols / m.group);
  const out = new Float32Array(m.rows * m.cols);
  for (let r = 0; r < m.rows; r++) {
    for (let c = 0; c < m.cols; c++) {
      const g = r * G + Math.floor(c / m.group);
      out[r * m.cols + c] = f16BitsToF32(alpha[g]!) * (unpacked[r * m.cols + c]! - 1) + f16BitsToF32(gamma[g]!);
    }
  }
  return out;
}
