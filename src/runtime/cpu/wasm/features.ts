// Feature detection for the wasm kernels: SIMD, relaxed SIMD, shared memory (threads).

// () -> v128 { i8x16.splat(0) }                                     (wasm SIMD, "simd128")
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6, 0, 65, 0, 253, 15, 11]);
// () -> v128 { i16x8.relaxed_dot_i8x16_i7x16_s(i8x16.splat(0), i8x16.splat(0)) }   (the instruction we use)
const RELAXED_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 15, 1, 13, 0, 65, 0, 253, 15, 65, 0, 253, 15, 253, 146, 2, 11,
]);

let simdCache: boolean | undefined;
let relaxedCache: boolean | undefined;

export function hasWasm(): boolean {
  return typeof WebAssembly === "object" && typeof WebAssembly.validate === "function";
}

export function simdSupported(): boolean {
  if (simdCache === undefined) simdCache = hasWasm() && WebAssembly.validate(SIMD_PROBE);
  return simdCache;
}

/** Relaxed SIMD (Node ≥ 22, Deno, Chromium; Node 20 only with --experimental-wasm-relaxed-simd). */
export function relaxedSimdSupported(): boolean {
  if (relaxedCache === undefined) relaxedCache = hasWasm() && WebAssembly.validate(RELAXED_PROBE);
  return relaxedCache;
}

/** Why relaxed SIMD is missing, in words a user can act on. */
export function relaxedSimdHint(): string {
  const node = (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node;
  if (node && Number(node.split(".")[0]) < 22) {
    return `Node ${node} has relaxed SIMD only behind --experimental-wasm-relaxed-simd (Node 22+ has it by default)`;
  }
  return "this engine does not support WebAssembly relaxed SIMD";
}

export interface SharedMemorySupport {
  ok: boolean;
  reason?: string;
}

/** Whether a shared WebAssembly.Memory (and so a thread pool) can be created here. */
export function sharedMemorySupport(): SharedMemorySupport {
  if (typeof SharedArrayBuffer === "undefined") {
    const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
    return {
      ok: false,
      reason:
        isolated === false
          ? "SharedArrayBuffer is unavailable: the page is not cross-origin isolated (COOP/COEP headers)"
          : "SharedArrayBuffer is unavailable in this environment",
    };
  }
  // Validated, not created: V8 reserves about 10 GiB of address space for every wasm memory, however small.
  if (!WebAssembly.validate(SHARED_MEMORY_IMPORT)) return { ok: false, reason: "shared WebAssembly.Memory is not supported" };
  return { ok: true };
}

/** A module whose only content is the import of a shared memory: (import "e" "m" (memory 1 1 shared)). */
const SHARED_MEMORY_IMPORT = new Uint8Array([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 2, 9, 1, 1, 0x65, 1, 0x6d, 2, 3, 1, 1]);

/**
 * Node 20/21 only: turns on V8's relaxed-SIMD flag in this process (v8.setFlagsFromString), so that the relaxed
 * build can be used without starting Node with --experimental-wasm-relaxed-simd. Opt-in (it changes a
 * process-wide V8 flag); call it before the kernels are created. Returns whether relaxed SIMD is available after.
 */
export async function enableNodeRelaxedSimd(): Promise<boolean> {
  if (relaxedSimdSupported()) return true;
  const node = (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node;
  if (!node) return false;
  try {
    const v8Name = "node:v8";
    const v8 = (await import(/* @vite-ignore */ v8Name)) as typeof import("node:v8");
    v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
  } catch {
    return false;
  }
  relaxedCache = undefined;
  return relaxedSimdSupported();
}
