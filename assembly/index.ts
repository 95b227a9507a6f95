// Entry point of the wasm module: re-exports every kernel. Kernels work on raw pointers into the one
// (shared, imported) memory; the JS side owns allocation (from heapBase on), so no AssemblyScript managed objects
// are used, and the only data segment is read-only constants (common.ts MASK_*: a worker instantiating the module
// again on the same memory writes the same bytes). Below it (asconfig.json's memoryBase) lies one scratch outside any
// segment, salient.ts X_COPY, which salientSetInput fills on the JS side's thread before each call that reads it.
export { quantQ8K, quantAbsmax } from "./kernels/quant";
export { ternMatmul, ternMatmulSet, repackTq1, repackTq2, repackRows, ternaryCode3 } from "./kernels/ternary";
export { ternMatmulLut } from "./kernels/ternary_lut";
export { f16NonFinite, floatMatmul } from "./kernels/float";
export { int8HeadMatmul } from "./kernels/head_q8";
export { salientMatmul, salientSetInput, ternSalientMatmul, ternSalientMatmulSet } from "./kernels/salient";
export { rmsNorm, rope, softmax, glu, addInto } from "./kernels/ops";
export { attention, kvStore } from "./kernels/attention";
export { trainMatmulFwd, trainMatmulDx, trainMatmulDw } from "./kernels/train";

/** First byte past the module's static data: the JS allocator hands out memory from here on. */
export function heapBase(): usize {
  return __heap_base;
}

/** 1 in the relaxed-SIMD build, 0 in the simd128 build. */
export function isRelaxed(): i32 {
  return ASC_FEATURE_RELAXED_SIMD ? 1 : 0;
}
