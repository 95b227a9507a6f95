// The engine worker script (bundled to dist/engine-worker.js by scripts/build.mjs): the engine served on the
// worker's port (engine-host.ts).
import { serveEngine } from "./engine-host.ts";

await serveEngine();
