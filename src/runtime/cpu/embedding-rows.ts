// How one row of a matrix, as the kernels hold it in wasm memory (./layout.ts), decodes to f32: the
// embedding-row readers that the CPU matrix-type table (./matrix-types.ts) names for each type. One row per
// token, so plain JS is fast enough.
import type { TensorTypeTraits } from "../tensor-types/traits.ts";
import type { Matrix } from "./kernels.ts";
import { quadByteOffset, scaleIndex } from "./row-quads.ts";
import type { WasmHeap } from "./wasm/heap.ts";

/** Writes row r of m as f32 [m.cols] at address `out`. */
export type EmbeddingRowReader = (heap: WasmHeap, m: Matrix, r: number, out: number) => void;

/** Rows held as the bytes of a format (F32, F16, Q8_0 as in the file; BF16 widened to F32): its dequantize. */
export function storedValuesReader(format: TensorTypeTraits): EmbeddingRowReader {
  return (heap, m, r, out) => {
    const row = m.ptr + r * m.layout.rowBytes;
    const dst = heap.f32.subarray(out >> 2, (out >> 2) + m.cols);
    format.dequantizeRange(heap.u8.subarray(row, row + m.layout.rowBytes), m.cols, 0, dst);
  };
}

/**
 * Ternary code rows in row quads: element e at byte B = 32·(e/128) + e%32 of its T2 row, in the 2-bit field
 * (e%128)/32 counted from the low bits ("t2") or from the top ("i2s"). value = (code − 1)·scale, plus the shift
 * where the matrix has shifts (DLT); the scale is per group, f32, quad-major (./row-quads.ts scaleIndex), or the tensor's one scale.
 */
export function codeRowReader(fieldOrder: "t2" | "i2s"): EmbeddingRowReader {
  const fromTop = fieldOrder === "i2s";
  return (heap, m, r, out) => {
    const u8 = heap.u8;
    const f32 = heap.f32;
    const o = out >> 2;
    const group = m.layout.group;
    for (let e = 0; e < m.cols; e++) {
      const l = (e & 127) >> 5;
      const B = 32 * (e >> 7) + (e & 31);
      const byte = u8[m.ptr + quadByteOffset(m.layout.rowBytes, r, B)]!;
      const code = (byte >> (fromTop ? 6 - 2 * l : 2 * l)) & 3;
      const at = scaleIndex(m.layout.groups, r, Math.floor(e / group));
      const value = (code - 1) * (m.scales ? f32[(m.scales >> 2) + at]! : m.scale);
      // no shift added where there is none: x + 0 would turn a −0 into +0
      f32[o + e] = m.shifts ? value + f32[(m.shifts >> 2) + at]! : value;
    }
  };
}
