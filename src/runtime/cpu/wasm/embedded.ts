// The wasm that ternion/inline carries inside its bundles as base64 text, for apps without file serving: the
// main bundle holds the text of both builds, and hands it to its engine worker as the first statement of the
// worker's script (a global under EMBEDDED_WASM_KEY, read and deleted by engine-worker-inline.ts).
import { setEmbeddedWasm, type SimdBuild } from "./loader.ts";

export const EMBEDDED_WASM_KEY = "ternion:embedded-wasm";

/** Base64 of each wasm build. */
export type EmbeddedWasm = Record<SimdBuild, string>;

/** From now on, the kernels load from `wasm` whenever no source is passed: nothing is fetched. */
export function useEmbeddedWasm(wasm: EmbeddedWasm): void {
  setEmbeddedWasm((build) => base64Bytes(wasm[build]));
}

/** Base64 text to bytes (atob exists in browsers, Deno and Node ≥ 16; Uint8Array.fromBase64 is not everywhere yet). */
export function base64Bytes(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
