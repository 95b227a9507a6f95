// Bundles the library entry points and the CLI with esbuild. The wasm is compiled before this by `asc`
// (see package.json "build:wasm") and is loaded at run time by src/runtime/wasm/loader.ts.
import { build } from "esbuild";
import { chmod } from "node:fs/promises";

const common = { bundle: true, format: "esm", target: "es2022", sourcemap: true, logLevel: "warning" };

await build({
  ...common,
  platform: "neutral",
  mainFields: ["module", "main"], // comlink has no "exports" map
  entryPoints: { index: "src/index.ts" },
  outdir: "dist",
  external: ["node:*"],
});
// The engine worker (createEngine finds it beside the bundles): self-contained and platform-neutral, so that
// Node, Deno and browsers run the same file; keepNames keeps error class names, which cross the worker boundary.
await build({
  ...common,
  platform: "neutral",
  mainFields: ["module", "main"],
  keepNames: true,
  entryPoints: { "engine-worker": "src/runtime/engine/engine-worker.ts" },
  outdir: "dist",
  external: ["node:*"],
});
await build({
  ...common,
  platform: "node",
  entryPoints: { node: "src/node.ts" },
  outdir: "dist",
  packages: "external",
});
await build({
  ...common,
  platform: "node",
  entryPoints: { cli: "src/cli/main.ts" },
  outdir: "dist",
  packages: "external",
  banner: { js: "#!/usr/bin/env node" },
});
await chmod("dist/cli.js", 0o755);
