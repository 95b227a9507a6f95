import { GgmlType, type TensorTypeTraits } from "./traits.ts";

export const TQ1_0: TensorTypeTraits = {
  id: GgmlType.TQ1_0,
  name: "TQ1_0",
  blockSize: 256,
  bytesPerBlock: 54,
  ternary: true,
  byteLength: (elements) => (elements / 256) * 54,
  quantize(src) {
    throw new Error("TODO: TQ1_0 quantize");
  },
  dequantize(src, dst) {
    throw new Error("TODO: TQ1_0 dequantize");
  },
};
