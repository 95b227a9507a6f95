import { HOST_LITTLE_ENDIAN } from "./half.ts";
import { blockwise, GgmlType, type TensorTypeTraits } from "./traits.ts";

// GGUF stores f32 little-endian; on a little-endian host (every one we target) that is a plain byte copy,
// which also copes with source bytes at any alignment. DataView covers the rest.
export const F32: TensorTypeTraits = {
  id: GgmlType.F32,
  name: "F32",
  blockSize: 1,
  bytesPerBlock: 4,
  ternary: false,
  byteLength: (elements) => elements * 4,
  ...blockwise(
    "F32",
    1,
    4,
    (src, dst, n) => {
      if (HOST_LITTLE_ENDIAN) {
        dst.set(new Uint8Array(src.buffer, src.byteOffset, n * 4));
        return;
      }
      const view = new DataView(dst.buffer, dst.byteOffset, n * 4);
      for (let i = 0; i < n; i++) view.setFloat32(i * 4, src[i]!, true);
    },
    (src, srcByte, dst, n) => {
      if (HOST_LITTLE_ENDIAN) {
        new Uint8Array(dst.buffer, dst.byteOffset, n * 4).set(src.subarray(srcByte, srcByte + n * 4));
        return;
      }
      const view = new DataView(src.buffer, src.byteOffset + srcByte, n * 4);
      for (let i = 0; i < n; i++) dst[i] = view.getFloat32(i * 4, true);
    },
  ),
};
