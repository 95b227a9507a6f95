import { GgmlType, type TensorTypeTraits } from "./traits.ts";

export const I2_S: TensorTypeTraits = {
  id: GgmlType.I2_S,
  name: "I2_S",
  blockSize: 128,
  bytesPerBlock: 32,
  ternary: true,
  byteLength: (elements) => elements / 4 + 32,
  quantize(src) {
    throw new Error("TODO: I2_S quantize");
  },
  dequantize(src, dst) {
    throw new Error("TODO: I2_S dequantize");
  },
};
