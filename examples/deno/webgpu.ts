// Deno's built-in WebGPU (navigator.gpu): the model on the GPU when the machine offers an adapter, on wasm
// otherwise. backend "webgpu" asks for the GPU even on a software adapter (lavapipe, SwiftShader), where
// "auto" would choose wasm.
// Run: deno run --allow-read examples/deno/webgpu.ts [model.gguf]      (after `npm run build`; Deno before 2.x: add --unstable-webgpu)
import { createLocalEngine } from "ternion";

const model = Deno.args[0] ?? new URL("../../../shared/models/stories260K.gguf", import.meta.url);
const adapter = await navigator.gpu?.requestAdapter();
if (!adapter) console.log("no WebGPU adapter here: running on wasm");

const engine = await createLocalEngine({ model, backend: adapter ? "webgpu" : "wasm", contextLength: 128 });
try {
  const info = await engine.info();
  console.log(`backend ${info.backend}${info.adapter ? ` on ${info.adapter}` : ""}`);
  const r = await engine.complete("Once upon a time", { maxTokens: 20, temperature: 0 });
  console.log(`Once upon a time${r.text}`);
  console.log(`${r.stats.generatedTokens} tokens at ${r.stats.decodeTokensPerSecond.toFixed(1)} tokens/s on ${r.stats.backend}`);
} finally {
  await engine.dispose();
}
