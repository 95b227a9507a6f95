// ggml's plain integer tensor types I8, I16 and I32 (little-endian, one value per element). They hold index and
// value arrays beside a matrix (a salient side matrix: model/salient-file.ts), never a matrix of their own, so no
// backend's matrix-type table has a row for them (`integer: true`). quantize rounds to the nearest integer and
// clamps to the type's range; dequantize widens the (signed) values to f32.
import { blockwise, GgmlType, type TensorTypeTraits } from "./traits.ts";

function integerType(id: GgmlType, name: string, bytes: 1 | 2 | 4): TensorTypeTraits {
  const max = 2 ** (8 * bytes - 1) - 1;
  const min = -max - 1;
  const get = (v: DataView, at: number) => (bytes === 1 ? v.getInt8(at) : bytes === 2 ? v.getInt16(at, true) : v.getInt32(at, true));
  const set = (v: DataView, at: number, x: number) =>
    bytes === 1 ? v.setInt8(at, x) : bytes === 2 ? v.setInt16(at, x, true) : v.setInt32(at, x, true);
  return {
    id,
    name,
    blockSize: 1,
    bytesPerBlock: bytes,
    ternary: false,
    integer: true,
    byteLength: (elements) => elements * bytes,
    ...blockwise(
      name,
      1,
      bytes,
      (src, dst, n) => {
        const view = new DataView(dst.buffer, dst.byteOffset, n * bytes);
        for (let i = 0; i < n; i++) set(view, i * bytes, Math.min(max, Math.max(min, Math.round(src[i]!))) || 0);
      },
      (src, srcByte, dst, n) => {
        const view = new DataView(src.buffer, src.byteOffset + srcByte, n * bytes);
        for (let i = 0; i < n; i++) dst[i] = get(view, i * bytes);
      },
    ),
  };
}

export const I8 = integerType(GgmlType.I8, "I8", 1);
export const I16 = integerType(GgmlType.I16, "I16", 2);
export const I32 = integerType(GgmlType.I32, "I32", 4);
