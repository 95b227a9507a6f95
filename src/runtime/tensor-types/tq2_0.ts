import { GgmlType, type TensorTypeTraits } from "./traits.ts";

export const TQ2_0: TensorTypeTraits = {
  id: GgmlType.TQ2_0,
  name: "TQ2_0",
  blockSize: 256,
  bytesPerBlock: 66,
  ternary: true,
  byteLength: (elements) => (elements / 256) * 66,
  quantize(src) {
    throw new Error("TODO: TQ2_0 quantize");
  },
  dequantize(src, dst) {
    throw new Error("TODO: TQ2_0 dequantize");
  },
};
