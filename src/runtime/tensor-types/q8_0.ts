import { GgmlType, type TensorTypeTraits } from "./traits.ts";

export const Q8_0: TensorTypeTraits = {
  id: GgmlType.Q8_0,
  name: "Q8_0",
  blockSize: 32,
  bytesPerBlock: 34,
  ternary: false,
  byteLength: (elements) => (elements / 32) * 34,
  quantize(src) {
    throw new Error("TODO: Q8_0 quantize");
  },
  dequantize(src, dst) {
    throw new Error("TODO: Q8_0 dequantize");
  },
};
