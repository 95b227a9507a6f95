import { GgmlType, type TensorTypeTraits } from "./traits.ts";

export const F32: TensorTypeTraits = {
  id: GgmlType.F32,
  name: "F32",
  blockSize: 1,
  bytesPerBlock: 4,
  ternary: false,
  byteLength: (elements) => elements * 4,
  quantize(src) {
    throw new Error("TODO: F32 quantize");
  },
  dequantize(src, dst) {
    throw new Error("TODO: F32 dequantize");
  },
};
