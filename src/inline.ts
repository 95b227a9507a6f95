// ternion/inline: the public API with the wasm (both builds, as base64) and the engine worker (as text) inside
// this one bundle, for apps bundled by a tool that does not follow `new URL("./…", import.meta.url)` (esbuild)
// or served without files beside the script: nothing is fetched but the model. The worker starts from a Blob
// URL (browsers, Deno) or a data: URL (Node). The text comes from the virtual module that scripts/build.mjs
// fills in when it bundles this entry.
import { engineWorker, relaxedWasm, simdWasm } from "ternion:inline-assets";
import type { Engine } from "./engine/engine.ts";
import { createEngine as createWorkerEngine, type WorkerEngineOptions } from "./engine/worker-engine.ts";
import { isNode } from "./engine/worker-port.ts";
import { EMBEDDED_WASM_KEY, useEmbeddedWasm, type EmbeddedWasm } from "./runtime/cpu/wasm/embedded.ts";

export * from "./index.ts";

const wasm: EmbeddedWasm = { relaxed: relaxedWasm, simd128: simdWasm };
useEmbeddedWasm(wasm);

let workerUrl: string | undefined;

/** The engine worker's script, its first statement handing it the wasm; made once and kept for restarts. */
function inlineWorkerUrl(): string {
  if (workerUrl === undefined) {
    const text = `globalThis[${JSON.stringify(EMBEDDED_WASM_KEY)}] = ${JSON.stringify(wasm)};\n${engineWorker}`;
    // Node's worker_threads take file: and data: URLs only; browsers and Deno take a Blob URL (which, unlike
    // data:, keeps the page's origin, and so its cross-origin isolation).
    workerUrl = isNode() ? `data:text/javascript,${encodeURIComponent(text)}` : URL.createObjectURL(new Blob([text], { type: "text/javascript" }));
  }
  return workerUrl;
}

/** createEngine with the embedded worker (unless `workerUrl` names another). */
export function createEngine(options: WorkerEngineOptions): Promise<Engine> {
  return createWorkerEngine({ ...options, workerUrl: options?.workerUrl ?? inlineWorkerUrl() });
}
