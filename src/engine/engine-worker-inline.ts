// The engine worker of ternion/inline (bundled by scripts/build.mjs and carried as text inside dist/inline.js):
// engine-worker.ts with the wasm embedded. src/inline.ts starts the script with one statement that puts the
// base64 of both builds on the global object, so that this worker never fetches a file (a Blob or data: URL
// has no directory to find one in anyway).
import { TernionError } from "../runtime/errors.ts";
import { EMBEDDED_WASM_KEY, useEmbeddedWasm, type EmbeddedWasm } from "../runtime/cpu/wasm/embedded.ts";
import { serveEngine } from "./engine-host.ts";

const g = globalThis as Record<string, unknown>;
const wasm = g[EMBEDDED_WASM_KEY] as EmbeddedWasm | undefined;
if (!wasm) throw new TernionError("WASM_NOT_FOUND", `the inline engine worker was started without its wasm (${EMBEDDED_WASM_KEY})`);
delete g[EMBEDDED_WASM_KEY];
useEmbeddedWasm(wasm);

await serveEngine();
