// Bundles the library entry points and the CLI with esbuild. The wasm is compiled before this by `asc`
// (see package.json "build:wasm") and is loaded at run time by src/runtime/cpu/wasm/loader.ts.
import { build } from "esbuild";
import { chmod, readdir, readFile, rm } from "node:fs/promises";

// Source maps for development; `npm pack` builds without them (package.json "prepack": TERNION_SOURCEMAPS=0), so
// that the tarball carries no map and no bundle names a missing one.
const sourcemap = process.env.TERNION_SOURCEMAPS !== "0";
/** @satisfies {import("esbuild").BuildOptions} */
const common = { bundle: true, format: "esm", target: "es2022", sourcemap, logLevel: "warning" };

// What an earlier build left that this one will not rewrite: declarations of deleted sources (tsc writes
// dist/types after this script), maps when building without them.
await rm("dist/types", { recursive: true, force: true });
for (const file of await readdir("dist").catch(() => [])) if (file.endsWith(".js.map")) await rm(`dist/${file}`);

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
  entryPoints: { "engine-worker": "src/engine/engine-worker.ts" },
  outdir: "dist",
  external: ["node:*"],
});
// ternion/inline (src/inline.ts): one bundle carrying both wasm builds as base64 and its engine worker as text
// (bundled here in memory, minified), through the virtual module "ternion:inline-assets".
const inlineWorker = await build({
  ...common,
  platform: "neutral",
  mainFields: ["module", "main"],
  keepNames: true,
  minify: true,
  sourcemap: false,
  entryPoints: ["src/engine/engine-worker-inline.ts"],
  write: false,
  external: ["node:*"],
});
const inlineWorkerCode = inlineWorker.outputFiles[0]?.text;
if (inlineWorkerCode === undefined) throw new Error("build: esbuild wrote no bundle for src/engine/engine-worker-inline.ts");
/** @type {import("esbuild").Plugin} */
const inlineAssets = {
  name: "ternion-inline-assets",
  setup(b) {
    b.onResolve({ filter: /^ternion:inline-assets$/ }, () => ({ path: "inline-assets", namespace: "ternion" }));
    b.onLoad({ filter: /.*/, namespace: "ternion" }, async () => {
      /** @param {string} file */
      const base64 = async (file) => (await readFile(file)).toString("base64");
      /** @param {string} value */
      const text = (value) => JSON.stringify(value);
      return {
        loader: "js",
        contents: [
          `export const relaxedWasm = ${text(await base64("dist/wasm/ternion-relaxed.wasm"))};`,
          `export const simdWasm = ${text(await base64("dist/wasm/ternion-simd.wasm"))};`,
          `export const engineWorker = ${text(inlineWorkerCode)};`,
        ].join("\n"),
      };
    });
  },
};
await build({
  ...common,
  platform: "neutral",
  mainFields: ["module", "main"],
  entryPoints: { inline: "src/inline.ts" },
  outdir: "dist",
  external: ["node:*"],
  plugins: [inlineAssets],
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
