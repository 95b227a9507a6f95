// A model's tensors, moved from the GGUF file into wasm memory in the form the kernels read, one tensor at a
// time, as each type's row in the matrix-type table (./matrix-types.ts) says: ternary matrices stay packed
// (read whole and repacked by the kernel layer), float matrices (F32, F16, Q8_0; BF16 widened to F32) are
// streamed from the file straight into their place in wasm memory in chunks, so no copy of a large tensor (a
// 128k-row embedding) is ever held in JS as well. Norm weights become f32. `weightBytes` says beforehand, from
// the header alone, how much wasm memory all this takes.
import { ModelError } from "../errors.ts";
import { readTensorData } from "../gguf/reader.ts";
import type { ByteSource } from "../gguf/source.ts";
import type { GgufHeader, GgufTensorInfo } from "../gguf/types.ts";
import { type BlockTensors, readBlockAsync } from "../model/block.ts";
import type { ModelConfig } from "../model/config.ts";
import { dltMatrixInfo, readDltMatrix, type DltMatrixInfo } from "../model/dlt-file.ts";
import { modelSalientMatrix, readSalientMatrix, readSalientRowStarts } from "../model/salient-file.ts";
import { expectedTensors } from "../model/tensors.ts";
import { checkFiniteNorm, checkFiniteScales } from "../model/finite-weights.ts";
import { GgmlType, tensorTypeName, tensorTypeTraits } from "../tensor-types/table.ts";
import { embeddingRow } from "./embedding.ts";
import { matrixLayout } from "./layout.ts";
import type { CpuKernels, Matrix } from "./kernels.ts";
import { salientBytes, salientBytesOf, uploadSalient } from "./salient.ts";
import { cpuGgmlTypeNames, CPU_MATRIX_TYPES, matrixType, scaleArrays, uploadStagingBytes, type MatrixType } from "./matrix-types.ts";

/** A block's weights: norm gains as f32 addresses in wasm memory, matrices as the kernels hold them. */
export type LayerWeights = BlockTensors<number, Matrix>;

export interface ModelWeights {
  /** token_embd: looked up by row (./embedding.ts), and the output head when the output is tied. */
  embedding: Matrix;
  layers: LayerWeights[];
  outputNorm: number;
  /** The output head as stored (the embedding when tied); undefined when int8Head replaces it. */
  output: Matrix;
  /** headType "q8_0": the float output head quantized to Q8_0 at load, run with int8 activations (./output-head.ts). */
  int8Head: Matrix | undefined;
}

/**
 * The output head on the CPU: "stored" runs the file's weights as they are; "q8_0" quantizes a float head (F32, F16,
 * BF16) to Q8_0 once at load and runs it with activations quantized to int8 per 32 (half an F16 head's bytes per
 * token; a tied embedding stays as it is, so the copy costs rows·cols·34/32 bytes more).
 */
export type HeadType = "stored" | "q8_0";

/** Whether headType "q8_0" makes an int8 copy of this model's head (a float head whose rows are whole Q8_0 blocks). */
export function hasInt8Head(config: ModelConfig, header: GgufHeader, headType: HeadType): boolean {
  if (headType !== "q8_0") return false;
  const t = tensorMap(header).get(config.tiedOutput ? "token_embd.weight" : "output.weight")!;
  return CPU_MATRIX_TYPES[kernelType(t)].kernel.matmul === "float" && kernelType(t) !== "Q8_0" && t.dims[0]! % 32 === 0;
}

/** Bytes of the int8 head's Q8_0 copy. */
export function int8HeadBytes(config: ModelConfig): number {
  return Math.ceil((((config.vocabSize * config.dim) / 32) * 34) / 64) * 64;
}

/** Bytes read from the file per step when streaming a float tensor into wasm memory. */
const STREAM_CHUNK = 4 << 20;

function tensorMap(header: GgufHeader): Map<string, GgufTensorInfo> {
  return new Map(header.tensors.map((t) => [t.name, t]));
}

/** The matrix type a tensor is uploaded as; a typed error for types the CPU kernels cannot run. */
function kernelType(t: GgufTensorInfo): MatrixType {
  try {
    return matrixType(t.type);
  } catch {
    throw new ModelError(
      "UNSUPPORTED_TENSOR_TYPE",
      `tensor ${t.name} is ${tensorTypeName(t.type)}, which the CPU engine cannot run (${cpuGgmlTypeNames().join(", ")})`,
    );
  }
}

/** Rows × cols of a 2-D tensor (cols = dims[0], the row length). */
function shape(t: GgufTensorInfo): [rows: number, cols: number] {
  return [t.dims.slice(1).reduce((a, b) => a * b, 1), t.dims[0]!];
}

/** wasm bytes of one matrix as the kernels hold it (after any repacking) and of its upload's staged source. */
function matrixBytes(t: GgufTensorInfo, dlt?: DltMatrixInfo): { resident: number; staged: number } {
  const round = (b: number) => Math.ceil(b / 64) * 64;
  const [rows, cols] = dlt ? [dlt.rows, dlt.cols] : shape(t);
  const type: MatrixType = dlt ? "DLT" : kernelType(t);
  const row = CPU_MATRIX_TYPES[type];
  const l = matrixLayout(type, rows, cols, dlt?.group);
  return { resident: round(l.codeBytes) + scaleArrays(row) * round(l.scaleBytes), staged: uploadStagingBytes(row, l, rows) };
}

/**
 * wasm memory the weights need, and the largest transient extra of one upload (the repacked types pass through
 * a staging copy of their source bytes inside wasm memory).
 */
export function weightBytes(
  config: ModelConfig,
  header: GgufHeader,
  headType: HeadType = "stored",
  sideBytes?: ReadonlyMap<string, number>,
): { resident: number; transient: number } {
  const byName = tensorMap(header);
  let resident = 0;
  let transient = 0;
  for (const e of expectedTensors(config)) {
    const t = byName.get(e.name)!;
    if (e.role === "norm") {
      resident += Math.ceil((t.dims[0]! * 4) / 64) * 64;
      continue;
    }
    const dlt = dltMatrixInfo(header, byName, t, e.dims[0]!);
    const bytes = matrixBytes(t, dlt);
    resident += bytes.resident;
    const salient = modelSalientMatrix(byName, t, e);
    // exact from the row starts (salientSideBytes), else the bound the entry count allows
    if (salient) resident += sideBytes?.get(t.name) ?? salientBytes(salient.rows, salient.cols, salient.nnz);
    transient = Math.max(transient, bytes.staged);
  }
  if (hasInt8Head(config, header, headType)) resident += int8HeadBytes(config);
  return { resident, transient };
}

/**
 * The wasm bytes of every block matrix's side matrix, by the matrix's name, from its row starts alone (read and
 * checked here: 4 bytes a row): the memory plan's exact share for them (weightBytes).
 */
export async function salientSideBytes(source: ByteSource, header: GgufHeader, config: ModelConfig): Promise<Map<string, number>> {
  const byName = tensorMap(header);
  const sides = new Map<string, number>();
  for (const e of expectedTensors(config)) {
    if (e.role === "norm") continue;
    const side = modelSalientMatrix(byName, byName.get(e.name)!, e);
    if (side) sides.set(e.name, salientBytesOf(side.rows, await readSalientRowStarts(source, header, side)));
  }
  return sides;
}

/** Uploads every tensor of the model. `onTensor` reports progress (tensors done, total). */
export async function loadWeights(
  K: CpuKernels,
  source: ByteSource,
  header: GgufHeader,
  config: ModelConfig,
  onTensor?: (done: number, total: number) => void,
  headType: HeadType = "stored",
): Promise<ModelWeights> {
  const byName = tensorMap(header);
  const total = expectedTensors(config).length;
  let done = 0;
  const tick = () => onTensor?.(++done, total);
  const get = (name: string) => byName.get(name)!; // presence and shapes were checked by modelConfigFromGguf

  const expected = new Map(expectedTensors(config).map((e) => [e.name, e]));
  const matrix = async (name: string): Promise<Matrix> => {
    const t = get(name);
    const e = expected.get(name)!;
    const dlt = dltMatrixInfo(header, byName, t, e.dims[0]!);
    const side = modelSalientMatrix(byName, t, e);
    // the side matrix is read and checked before the matrix itself is allocated
    const salientData = side ? await readSalientMatrix(source, header, side) : undefined;
    const m = dlt ? await uploadDltMatrix(K, source, header, dlt) : await uploadMatrix(K, source, header, t);
    tick();
    return salientData ? { ...m, salient: uploadSalient(K, salientData) } : m;
  };
  const norm = async (name: string): Promise<number> => {
    const t = get(name);
    const values = new Float32Array(t.dims[0]!);
    tensorTypeTraits(t.type).dequantize(await readTensorData(source, header, t), values);
    checkFiniteNorm(t.name, values);
    tick();
    return K.heap.upload(values);
  };

  const embedding = await matrix("token_embd.weight");
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.layers; l++) {
    layers.push(await readBlockAsync(config, l, { norm: (t) => norm(t.name), matrix: (t) => matrix(t.name) }));
  }
  const outputNorm = await norm("output_norm.weight");
  const output = config.tiedOutput ? embedding : await matrix("output.weight");
  const int8Head = hasInt8Head(config, header, headType) ? quantizeHead(K, output) : undefined;
  return { embedding, layers, outputNorm, output, int8Head };
}

/** A float matrix's rows quantized to Q8_0 (ggml's rounding) into a new matrix, row by row (no copy of it in JS). */
function quantizeHead(K: CpuKernels, m: Matrix): Matrix {
  const q8 = tensorTypeTraits(GgmlType.Q8_0);
  const layout = matrixLayout("Q8_0", m.rows, m.cols);
  const ptr = K.heap.alloc(layout.codeBytes);
  const row = K.heap.alloc(m.cols * 4);
  try {
    for (let r = 0; r < m.rows; r++) {
      embeddingRow(K, m, r, row);
      const at = ptr + r * layout.rowBytes;
      q8.quantizeInto(K.heap.f32View(row, m.cols), K.heap.u8.subarray(at, at + layout.rowBytes));
    }
  } finally {
    K.heap.free(row);
  }
  return K.floatMatrixAt("Q8_0", m.rows, m.cols, ptr);
}
/** A fine-tuned DLT matrix: 2-bit code rows with its per-group α and γ (model/dlt-file.ts). */
async function uploadDltMatrix(K: CpuKernels, source: ByteSource, header: GgufHeader, dlt: DltMatrixInfo): Promise<Matrix> {
  const { codes, alpha, gamma } = await readDltMatrix(source, header, dlt);
  return K.uploadMatrix("DLT", dlt.rows, dlt.cols, codes, { alpha, gamma, groupSize: dlt.group });
}

async function uploadMatrix(K: CpuKernels, source: ByteSource, header: GgufHeader, t: GgufTensorInfo): Promise<Matrix> {
  const [rows, cols] = shape(t);
  const type = kernelType(t);
  const upload = CPU_MATRIX_TYPES[type].upload;
  if (upload.kind !== "copy") {
    // Repacked (ternary) tensors are a quarter of their f32 size or less: read whole, repacked by the kernel layer.
    const data = await readTensorData(source, header, t);
    checkFiniteScales(t, data);
    return K.uploadMatrix(type, rows, cols, data);
  }
  // Copied tensors: allocate their final place in wasm memory and stream the file into it.
  const layout = matrixLayout(type, rows, cols);
  const ptr = K.heap.alloc(layout.codeBytes);
  const start = header.dataOffset + t.offset;
  const block = tensorTypeTraits(t.type).bytesPerBlock;
  const chunk = STREAM_CHUNK - (STREAM_CHUNK % block); // whole blocks, so that each chunk's scales can be checked
  for (let at = 0; at < t.byteLength; at += chunk) {
    const len = Math.min(chunk, t.byteLength - at);
    const bytes = await source.read(start + at, len);
    if (bytes.length !== len) throw new ModelError("TRUNCATED", `tensor ${t.name}: the file ends inside its data`);
    checkFiniteScales(t, bytes, at / block);
    upload.write(K.heap, ptr, at, bytes);
  }
  return K.floatMatrixAt(type, rows, cols, ptr);
}
