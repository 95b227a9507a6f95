import { f16TableBits, f32Bits, f32BitsToF16Bits } from "./half.ts";
import { blockwise, GgmlType, type TensorTypeTraits } from "./traits.ts";

// Byte ops (not a Uint16Array view) so that source bytes may sit at any offset and the byte order is
// fixed little-endian. Decoding copies bit patterns out of the 65,536-entry table.
export const F16: TensorTypeTraits = {
  id: GgmlType.F16,
  name: "F16",
  blockSize: 1,
  bytesPerBlock: 2,
  ternary: false,
  byteLength: (elements) => elements * 2,
  ...blockwise(
    "F16",
    1,
    2,
    (src, dst, n) => {
      const bits = f32Bits(src);
      for (let i = 0; i < n; i++) {
        const h = f32BitsToF16Bits(bits[i]!);
        dst[2 * i] = h & 0xff;
        dst[2 * i + 1] = h >>> 8;
      }
    },
    (src, srcByte, dst, n) => {
      const table = f16TableBits();
      const out = f32Bits(dst);
      for (let i = 0, p = srcByte; i < n; i++, p += 2) out[i] = table[src[p]! | (src[p + 1]! << 8)]!;
    },
  ),
};
