// The engine API under Deno, from the built package (dist/index.js): createEngine with its model in a Deno
// module Worker (dist/engine-worker.js, the wasm thread pool in nested workers) and createLocalEngine.
import { describe, expect, it } from "vitest";
import { existsSync } from "node:fs";
import { repoRoot } from "./helpers/cli.ts";
import { runDeno } from "./helpers/deno.ts";
import { lacks } from "./helpers/optional-deps.ts";
import { STORIES_CONTINUATION, sharedPath } from "./helpers/shared.ts";

describe.skipIf(lacks("deno"))("Deno", () => {
  it("createEngine (module Worker) and createLocalEngine give the reference greedy text", () => {
    if (!existsSync(repoRoot + "dist/engine-worker.js")) throw new Error("dist/engine-worker.js is missing: run `npm run build` before the tests");
    const r = runDeno(["--allow-read", "--allow-env", "test/deno/engine-smoke.ts", sharedPath("models/stories260K.gguf")]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    expect(out.text.startsWith(STORIES_CONTINUATION), out.text).toBe(true);
    expect(out.streamed).toBe(out.text);
    expect(out.localText).toBe(out.text);
    expect(out.stats).toMatchObject({ promptTokens: 5, generatedTokens: 60, backend: "wasm", threads: 2 });
    expect(typeof out.chat).toBe("string");
    expect(out.typedError).toBe("OptionError/BAD_TOKEN"); // a typed error from the Deno worker keeps its class and code
    expect(out.backend).toBe("wasm");
  });
});
