// Ternarizes a float model: every linear weight (a 2-D `blk.*.weight`, and `output.weight` on request) is
// replaced by BitNet b1.58's absmean ternarization, γ = mean|W| over the tensor, W' = γ·round(clip(W/γ,
// −1, 1)), packed as TQ2_0, TQ1_0 or I2_S. Embeddings, norms and everything else keep their type and bytes.
//
// Packing W' is lossless for I2_S (its f32 tensor scale is γ) and exact up to the f16 rounding of γ for the
// TQ types (each block's f16 scale is its absmax, γ, or 0 for an all-zero block).
//
// A tensor whose row length the type cannot hold (TQ types need a multiple of 256, I2_S of 128) is stored in
// ternion's grouped ternary layout instead (grouped-ternary.ts): the same absmean rule with one scale per
// group of GROUPED_TERNARY_GROUP values along the row, 2-bit codes, and rows of any length. It stays ternary
// (2 bits a weight plus an f16 scale a group, not F16's 16 bits), so the model is ternary throughout; ternion
// runs it, llama.cpp does not know the layout.
//
// With `salient` (PB-LLM) and/or `gptq` (salient-ternarize.ts), the absmean scale excludes the salient weights,
// their codes are the middle one and the side matrix beside the tensor keeps them (salient-matrix.ts); GPTQ
// and the Hessian metric need each matrix's calibration Hessian, which the caller provides (a HessianSource:
// src/train/calibration.ts runs the model, a layer above this one, on the float weights or sequentially on the
// weights this quantizer reports back).
//
// Tensor data is produced lazily as the writer reaches each tensor: one tensor's source bytes, its f32 values
// and its packed output are in memory at a time.
import { ModelError, OptionError } from "../errors.ts";
import { readTensorData } from "../gguf/reader.ts";
import type { ByteSource } from "../gguf/source.ts";
import { type GgufHeader, type GgufTensorInfo, type GgufValue, GgufValueType as T } from "../gguf/types.ts";
import type { GgufWriteInput, GgufWriteTensor } from "../gguf/writer.ts";
import { DLT_GROUP_KEY } from "../model/tensors.ts";
import { absmeanTernarize } from "../tensor-types/i2_s.ts";
import { GgmlType, tensorTypeName, tensorTypeTraits } from "../tensor-types/table.ts";
import { groupedAbsmeanTernarize, groupedTernaryLayout, packGroupedTernary } from "./grouped-ternary.ts";
import { type PreparedHessian, prepareHessian } from "./hessian.ts";
import { checkSalientColumns, packSalient, salientCount, salientLayout } from "./salient-matrix.ts";
import { type SalientMetric, SALIENT_METRICS, checkSalientFraction, denseOf, salientTernarize } from "./salient-ternarize.ts";

export type QuantizeType = "tq2_0" | "tq1_0" | "i2_s";
export const QUANTIZE_TYPES: readonly QuantizeType[] = ["tq2_0", "tq1_0", "i2_s"];

const TARGET: Record<QuantizeType, { type: GgmlType; fileType: number }> = {
  // llama.cpp's LLAMA_FTYPE_MOSTLY_TQ1_0 / _TQ2_0, and bitnet.cpp's LLAMA_FTYPE_MOSTLY_I2_S.
  tq1_0: { type: GgmlType.TQ1_0, fileType: 36 },
  tq2_0: { type: GgmlType.TQ2_0, fileType: 37 },
  i2_s: { type: GgmlType.I2_S, fileType: 40 },
};

/**
 * The group size of the grouped ternary layout, for rows the target type cannot hold: the smallest the
 * backends' DLT kernels take (model/dlt-file.ts), so that each scale fits the fewest values.
 */
export const GROUPED_TERNARY_GROUP = 64;

/** How QuantizedTensor.type names a tensor stored in the grouped ternary layout. */
export const GROUPED_TERNARY_NAME = "DLT";

export interface QuantizeOptions {
  type: QuantizeType;
  /** Ternarize `output.weight` too (default false: the output head is kept as it is, as BitNet does). */
  includeOutput?: boolean;
  /** Keep this fraction of each ternarized matrix in a side matrix, chosen by the metric (default magnitude). */
  salient?: { fraction: number; metric?: SalientMetric };
  /** GPTQ error compensation (needs `hessians`). */
  gptq?: boolean;
  /** Each ternarized matrix's calibration Hessian by tensor name (src/train/calibration.ts; a Map will do). */
  hessians?: HessianSource;
  /** Called as each tensor's data is produced (done counts from 1). */
  onTensor?: (done: number, total: number, name: string) => void;
}

/** Where GPTQ and the hessian metric get each matrix's Hessian (src/train/calibration.ts makes them). */
export interface HessianSource {
  /** Whether it has the matrix's Hessian: checked for every matrix before anything is written. */
  has(name: string): boolean;
  /** The matrix's Hessian (k × k), asked for when the writer reaches the matrix. */
  get(name: string): Float64Array | undefined;
  /** Told each matrix's quantized weight Ŵ + S (rows × cols) once it is made: a sequential calibration runs the next blocks on it. */
  quantized?(name: string, dense: Float32Array): void;
}

export interface QuantizedTensor {
  name: string;
  dims: number[];
  sourceType: string;
  type: string;
  /** Replaced by its absmean ternarization (in the target type or the grouped ternary layout). */
  ternarized: boolean;
  /** Why the target type could not hold it; set when it went to the grouped ternary layout. */
  grouped?: string;
  /** Entries of its side matrix (salient weights); absent without one. */
  salient?: number;
}

export interface QuantizePlan {
  input: GgufWriteInput;
  /** The ternary type's name ("TQ2_0") and the multiple of it that a row must be. */
  target: { name: string; blockSize: number };
  tensors: QuantizedTensor[];
  /** The ternarized tensors whose rows the target type cannot hold, stored in the grouped ternary layout. */
  grouped: QuantizedTensor[];
}

export function isQuantizeType(s: string): s is QuantizeType {
  return (QUANTIZE_TYPES as readonly string[]).includes(s);
}

/** Which tensors are ternarized: 2-D weights of the blocks, and the output head when asked. */
export function isLinearWeight(info: Pick<GgufTensorInfo, "name" | "dims">, includeOutput = false): boolean {
  if (info.dims.length !== 2) return false;
  if (info.name === "output.weight") return includeOutput;
  return info.name.startsWith("blk.") && info.name.endsWith(".weight");
}

/**
 * Plans the quantized file: which tensor gets which type (decided from the header alone, so the grouped tensors are
 * known before anything is written) and the write input whose tensors are computed on demand.
 */
export function planQuantize(source: ByteSource, header: GgufHeader, options: QuantizeOptions): QuantizePlan {
  if (!isQuantizeType(options.type)) {
    throw new OptionError("BAD_OPTION_VALUE", `quantize type "${String(options.type)}" must be one of ${QUANTIZE_TYPES.join(", ")}`);
  }
  const target = TARGET[options.type];
  const targetTraits = tensorTypeTraits(target.type);
  const total = header.tensors.length;
  let done = 0;
  const progress = (name: string) => options.onTensor?.(++done, total, name);

  if (header.metadata.has(DLT_GROUP_KEY)) {
    throw new ModelError(
      "ALREADY_TERNARY",
      `the model is a grouped ternary (DLT) model (${DLT_GROUP_KEY} is set): quantize the float model it came from`,
    );
  }

  const salient = checkSalientPlan(header, options);
  const prepared = new WeakMap<Float64Array, PreparedHessian>(); // q, k, v (gate, up) share one Hessian

  const tensors: QuantizedTensor[] = [];
  const writes: GgufWriteTensor[] = [];
  for (const info of header.tensors) {
    const sourceType = tensorTypeName(info.type);
    if (!isLinearWeight(info, options.includeOutput)) {
      tensors.push({ name: info.name, dims: info.dims, sourceType, type: sourceType, ternarized: false });
      writes.push({
        name: info.name,
        dims: info.dims,
        type: info.type,
        data: () => readTensorData(source, header, info).then(tap(progress, info.name)),
      });
      continue;
    }
    const [cols, rows] = info.dims as [number, number]; // a linear weight has two dims
    if (salient.fraction > 0 || options.gptq) {
      const fits = cols % targetTraits.blockSize === 0;
      // Only block matrices take a side matrix (model/salient-file.ts refuses one beside the output head).
      const nnz = info.name.startsWith("blk.") ? salientCount(rows, cols, salient.fraction) : 0;
      tensors.push({
        name: info.name,
        dims: info.dims,
        sourceType,
        type: fits ? targetTraits.name : GROUPED_TERNARY_NAME,
        ternarized: true,
        ...(fits ? {} : { grouped: `row length ${cols} is not a multiple of ${targetTraits.blockSize} (${targetTraits.name})` }),
        ...(nnz > 0 ? { salient: nnz } : {}),
      });
      const layout = [
        ...(fits ? [{ name: info.name, dims: info.dims, type: target.type }] : groupedTernaryLayout(info.name, rows, cols, GROUPED_TERNARY_GROUP)),
        ...(nnz > 0 ? salientLayout(info.name, rows, nnz) : []),
      ];
      const hessianOf = (): PreparedHessian | undefined => {
        const h = options.hessians?.get(info.name);
        if (!h) return undefined;
        if (h.length !== cols * cols) throw new ModelError("BAD_HESSIAN", `${info.name}: a Hessian of ${h.length} values for rows of ${cols}`);
        let p = prepared.get(h);
        if (!p) prepared.set(h, (p = prepareHessian(h, cols, undefined, info.name)));
        return p;
      };
      // Every part comes from one ternarization, made when the writer asks for the first and dropped after the last.
      let parts: Promise<Uint8Array[]> | undefined;
      const part = (i: number) => async () => {
        parts ??= tensorF32(source, header, info).then((values) => {
          const t = salientTernarize(values, rows, cols, {
            group: fits ? "tensor" : GROUPED_TERNARY_GROUP,
            salientFraction: nnz > 0 ? salient.fraction : 0,
            salientMetric: salient.metric,
            hessian: salient.needHessian ? hessianOf() : undefined,
            gptq: options.gptq,
            name: info.name,
          });
          options.hessians?.quantized?.(info.name, denseOf(t));
          const codes = fits ? [packTernary(t.codes, t.alpha[0]!, target.type)] : packGroupedTernary(t, rows, cols, GROUPED_TERNARY_GROUP);
          return [...codes, ...(t.salient ? packSalient(t.salient) : [])];
        });
        const all = await parts;
        if (i === layout.length - 1) {
          parts = undefined;
          progress(info.name);
        }
        return all[i]!;
      };
      for (const [i, t] of layout.entries()) writes.push({ ...t, data: part(i) });
      continue;
    }
    if (cols % targetTraits.blockSize === 0) {
      tensors.push({ name: info.name, dims: info.dims, sourceType, type: targetTraits.name, ternarized: true });
      writes.push({
        name: info.name,
        dims: info.dims,
        type: target.type,
        data: async () => {
          const packed = await ternarizeTensor(source, header, info, target.type);
          progress(info.name);
          return packed;
        },
      });
      continue;
    }
    tensors.push({
      name: info.name,
      dims: info.dims,
      sourceType,
      type: GROUPED_TERNARY_NAME,
      ternarized: true,
      grouped: `row length ${cols} is not a multiple of ${targetTraits.blockSize} (${targetTraits.name})`,
    });
    // Codes, α and γ come from one ternarization, made when the writer asks for the codes and dropped once it
    // has taken all three parts.
    let parts: Promise<Uint8Array[]> | undefined;
    const part = (i: number) => async () => {
      parts ??= groupedTernarize(source, header, info, rows, cols);
      const all = await parts;
      if (i === 2) {
        parts = undefined;
        progress(info.name);
      }
      return all[i]!;
    };
    for (const [i, t] of groupedTernaryLayout(info.name, rows, cols, GROUPED_TERNARY_GROUP).entries()) writes.push({ ...t, data: part(i) });
  }

  const metadata = new Map<string, GgufValue>(header.metadata);
  metadata.set("general.file_type", { type: T.UINT32, value: target.fileType });
  metadata.set("general.quantization_version", { type: T.UINT32, value: 2 });
  const grouped = tensors.filter((t) => t.grouped !== undefined);
  if (grouped.length) metadata.set(DLT_GROUP_KEY, { type: T.UINT32, value: GROUPED_TERNARY_GROUP });
  return {
    input: { version: header.version, metadata, tensors: writes },
    target: { name: targetTraits.name, blockSize: targetTraits.blockSize },
    tensors,
    grouped,
  };
}

/**
 * Checks the salient and GPTQ options against the header before anything is read: the fraction's range and
 * metric, a Hessian for every matrix that needs one, rows that 16-bit indices reach, and tensors small enough for
 * the selection's and GPTQ's working arrays.
 */
function checkSalientPlan(header: GgufHeader, o: QuantizeOptions): { fraction: number; metric: SalientMetric; needHessian: boolean } {
  const fraction = o.salient?.fraction ?? 0;
  const metric = o.salient?.metric ?? "magnitude";
  checkSalientFraction(fraction);
  if (!SALIENT_METRICS.includes(metric))
    throw new OptionError("BAD_OPTION_VALUE", `salient metric "${String(metric)}" must be one of ${SALIENT_METRICS.join(", ")}`);
  const needHessian = !!o.gptq || (fraction > 0 && metric === "hessian");
  if (fraction === 0 && !o.gptq) return { fraction, metric, needHessian };
  for (const info of header.tensors) {
    if (!isLinearWeight(info, o.includeOutput)) continue;
    const [cols, rows] = info.dims as [number, number];
    if (fraction > 0 && info.name.startsWith("blk.")) checkSalientColumns(info.name, cols);
    if (rows * cols > SALIENT_MAX_ELEMENTS) {
      throw new ModelError(
        "TENSOR_TOO_LARGE",
        `${info.name}: ${rows * cols} weights exceed the ${SALIENT_MAX_ELEMENTS} that salient selection and GPTQ hold in f64 working arrays`,
      );
    }
    if (needHessian && cols > GPTQ_MAX_COLUMNS) {
      throw new ModelError(
        "TENSOR_TOO_LARGE",
        `${info.name}: rows of ${cols} exceed the ${GPTQ_MAX_COLUMNS} columns a calibration Hessian (k × k, f64) is planned for`,
      );
    }
    if (needHessian && !o.hessians?.has(info.name)) {
      throw new OptionError("MISSING_CALIBRATION", `${info.name}: ${o.gptq ? "GPTQ" : "the hessian salient metric"} needs its calibration Hessian`);
    }
  }
  return { fraction, metric, needHessian };
}

/** Weights of one matrix the salient selection and GPTQ work on at once (f64 scores, sorted copy, working copy: 3 GiB). */
export const SALIENT_MAX_ELEMENTS = 2 ** 27;
/** Longest row a calibration Hessian is made for (a few k × k f64 arrays: 1.5 GiB at 8192). */
export const GPTQ_MAX_COLUMNS = 8192;

/** Codes −1/0/+1 at one scale α, packed as a ternary block type (each block's scale is α, or 0 when all are 0). */
function packTernary(codes: Int8Array, alpha: number, type: GgmlType): Uint8Array {
  const values = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) values[i] = codes[i]! * alpha;
  return tensorTypeTraits(type).quantize(values);
}

/** Reads a matrix [cols, rows] and returns its grouped ternary tensors' bytes: codes, α, γ. */
async function groupedTernarize(source: ByteSource, header: GgufHeader, info: GgufTensorInfo, rows: number, cols: number): Promise<Uint8Array[]> {
  const values = await tensorF32(source, header, info);
  return packGroupedTernary(groupedAbsmeanTernarize(values, rows, cols, GROUPED_TERNARY_GROUP), rows, cols, GROUPED_TERNARY_GROUP);
}

/** Reads a tensor, ternarizes it with the absmean rule and packs it as `type`. */
export async function ternarizeTensor(source: ByteSource, header: GgufHeader, info: GgufTensorInfo, type: GgmlType): Promise<Uint8Array> {
  const values = await tensorF32(source, header, info);
  absmeanTernarize(values, values); // in place: the mean is taken before any value is replaced
  return tensorTypeTraits(type).quantize(values);
}

async function tensorF32(source: ByteSource, header: GgufHeader, info: GgufTensorInfo): Promise<Float32Array> {
  const values = new Float32Array(info.dims.reduce((a, b) => a * b, 1));
  tensorTypeTraits(info.type).dequantize(await readTensorData(source, header, info), values);
  return values;
}

function tap<V>(fn: (name: string) => void, name: string): (v: V) => V {
  return (v) => {
    fn(name);
    return v;
  };
}
