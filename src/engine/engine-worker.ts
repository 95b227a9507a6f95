// The engine worker script (bundled to dist/engine-worker.js by scripts/build.mjs): an EngineHost exposed with
// comlink on the worker's port, then "ready", so the caller never posts before anyone listens.
import { expose } from "comlink";
import { EngineHost, READY_TAG } from "./engine-host.ts";
import { parentPort } from "./worker-port.ts";

const port = await parentPort();
expose(
  new EngineHost(
    (m) => port.post(m),
    () => port.close(),
  ),
  port.endpoint,
);
port.post({ [READY_TAG]: true });
