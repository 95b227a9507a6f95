import { f32Bits, f32BitsToBf16Bits } from "./half.ts";
import { blockwise, GgmlType, type TensorTypeTraits } from "./traits.ts";

// bf16 is the top half of an f32: decoding is a shift into the f32's bits. Byte ops keep any alignment.
export const BF16: TensorTypeTraits = {
  id: GgmlType.BF16,
  name: "BF16",
  blockSize: 1,
  bytesPerBlock: 2,
  ternary: false,
  byteLength: (elements) => elements * 2,
  ...blockwise(
    "BF16",
    1,
    2,
    (src, dst, n) => {
      const bits = f32Bits(src);
      for (let i = 0; i < n; i++) {
        const h = f32BitsToBf16Bits(bits[i]!);
        dst[2 * i] = h & 0xff;
        dst[2 * i + 1] = h >>> 8;
      }
    },
    (src, srcByte, dst, n) => {
      const out = f32Bits(dst);
      for (let i = 0, p = srcByte; i < n; i++, p += 2) out[i] = ((src[p]! << 16) | (src[p + 1]! << 24)) >>> 0;
    },
  ),
};
