import { GgmlType, type TensorTypeTraits } from "./traits.ts";

export const F16: TensorTypeTraits = {
  id: GgmlType.F16,
  name: "F16",
  blockSize: 1,
  bytesPerBlock: 2,
  ternary: false,
  byteLength: (elements) => elements * 2,
  quantize(src) {
    throw new Error("TODO: F16 quantize");
  },
  dequantize(src, dst) {
    throw new Error("TODO: F16 dequantize");
  },
};
