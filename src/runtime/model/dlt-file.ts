// Reading a DLT matrix (a fine-tuned student's weight, model/tensors.ts) out of a GGUF file, for every backend:
// the TQ2_0 code tensor with rows padded to 256 becomes plain 2-bit code rows of the true length (T2 rows:
// ceil(cols/128) chunks of 32 bytes, cpu/layout.ts), and α, γ come as f16 bits [rows][G].
import { ModelError } from "../errors.ts";
import { metaInt } from "../gguf/metadata.ts";
import { readTensorData } from "../gguf/reader.ts";
import type { ByteSource } from "../gguf/source.ts";
import type { GgufHeader, GgufTensorInfo } from "../gguf/types.ts";
import { GgmlType, tensorTypeTraits } from "../tensor-types/table.ts";
import { DLT_GROUP_KEY, dltScaleNames, isDltMatrix } from "./tensors.ts";
import { checkFiniteF16 } from "./finite-weights.ts";

/** The group sizes g a DLT matrix may have (the backends' kernels are built for these). */
export const DLT_GROUP_SIZES: readonly number[] = [64, 128, 256];

/** Where a DLT matrix's parts are: its true row length, group size and scale tensors. */
export interface DltMatrixInfo {
  codes: GgufTensorInfo;
  rows: number;
  cols: number;
  group: number;
  alpha: GgufTensorInfo;
  gamma: GgufTensorInfo;
}

/** A DLT matrix read into memory. */
export interface DltMatrixData {
  /** T2 code rows: rows × ceil(cols/128)·32 bytes. */
  codes: Uint8Array;
  /** f16 bits, [rows][ceil(cols/group)]. */
  alpha: Uint16Array;
  gamma: Uint16Array;
}

/**
 * The DLT parts of matrix `t` whose true row length is `cols` (from the model's expected shapes), or undefined
 * when `t` is an ordinary matrix. Throws a ModelError when the group size or the scale shapes do not fit.
 */
export function dltMatrixInfo(
  header: GgufHeader,
  byName: ReadonlyMap<string, GgufTensorInfo>,
  t: GgufTensorInfo,
  cols: number,
): DltMatrixInfo | undefined {
  if (!isDltMatrix(t, byName)) return undefined;
  const group = metaInt(header.metadata, DLT_GROUP_KEY);
  if (group === undefined) throw new ModelError("MISSING_KEY", `${t.name} is a DLT matrix but metadata ${DLT_GROUP_KEY} is missing`);
  const names = dltScaleNames(t.name);
  const alpha = byName.get(names.alpha)!;
  const gamma = byName.get(names.gamma)!;
  const G = Math.ceil(cols / group);
  if (alpha.dims[0] !== G || gamma.dims[0] !== G) {
    throw new ModelError(
      "BAD_TENSOR_SHAPE",
      `DLT ${t.name}: ${cols} columns in groups of ${group} need ${G} scales per row, the file has ${alpha.dims[0]}`,
    );
  }
  return { codes: t, rows: t.dims[1] ?? 1, cols, group, alpha, gamma };
}

/** Reads the codes (each padded TQ2_0 block's 64 code bytes are two 128-value T2 chunks), α and γ. */
export async function readDltMatrix(source: ByteSource, header: GgufHeader, m: DltMatrixInfo): Promise<DltMatrixData> {
  const { blockSize, bytesPerBlock } = tensorTypeTraits(GgmlType.TQ2_0);
  const blocksPerRow = m.codes.dims[0]! / blockSize;
  const data = await readTensorData(source, header, m.codes);
  const rowBytes = Math.ceil(m.cols / 128) * 32;
  const codes = new Uint8Array(m.rows * rowBytes);
  for (let r = 0; r < m.rows; r++) {
    for (let c = 0; c < rowBytes / 32; c++) {
      const at = (r * blocksPerRow + (c >> 1)) * bytesPerBlock + 32 * (c & 1);
      codes.set(data.subarray(at, at + 32), r * rowBytes + 32 * c);
    }
  }
  const f16 = async (info: GgufTensorInfo) => {
    const bytes = await readTensorData(source, header, info);
    const bits = new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    checkFiniteF16(info.name, bits);
    return bits;
  };
  return { codes, alpha: await f16(m.alpha), gamma: await f16(m.gamma) };
}
