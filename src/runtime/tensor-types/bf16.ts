import { GgmlType, type TensorTypeTraits } from "./traits.ts";

export const BF16: TensorTypeTraits = {
  id: GgmlType.BF16,
  name: "BF16",
  blockSize: 1,
  bytesPerBlock: 2,
  ternary: false,
  byteLength: (elements) => elements * 2,
  quantize(src) {
    throw new Error("TODO: BF16 quantize");
  },
  dequantize(src, dst) {
    throw new Error("TODO: BF16 dequantize");
  },
};
