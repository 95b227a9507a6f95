// Entry point of the wasm module: re-exports every kernel. Kernels work on raw pointers into the one
// (shared, imported) memory; the JS side owns allocation, so no AssemblyScript managed objects are used.
export * from "./kernels/dot_f32";

/** First byte past the module's static data: the JS allocator hands out memory from here on. */
export function heapBase(): usize {
  return __heap_base;
}
