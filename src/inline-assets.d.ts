// The virtual module that scripts/build.mjs resolves when it bundles src/inline.ts (ternion/inline).
declare module "ternion:inline-assets" {
  /** Base64 of dist/wasm/ternion-relaxed.wasm. */
  export const relaxedWasm: string;
  /** Base64 of dist/wasm/ternion-simd.wasm. */
  export const simdWasm: string;
  /** The bundled text of src/engine/engine-worker-inline.ts. */
  export const engineWorker: string;
}
