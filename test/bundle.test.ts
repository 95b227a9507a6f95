// Bundling ternion into an app (issue 8). An app bundled by esbuild from the built package's ternion/inline
// entry runs with no file beside it: the wasm (base64) and the engine worker (text, started from a data: URL
// under Node) are inside the bundle. And the default entry writes its wasm and worker as literal
// `new URL("./…", import.meta.url)` expressions naming files that exist beside it, the form bundlers that emit
// assets (Vite, webpack, Parcel) follow. The same bundling in a browser: test/browser.test.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "esbuild";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot } from "./helpers/cli.ts";
import { runDeno } from "./helpers/deno.ts";
import { lacks } from "./helpers/optional-deps.ts";
import { STORIES_CONTINUATION, sharedPath } from "./helpers/shared.ts";

const TOKENS = 30;

const APP = `
import { createEngine, createLocalEngine } from "ternion/inline";
const model = process.argv[2];
const worker = await createEngine({ model, backend: "wasm", threads: 2 });
const r = await worker.complete("Once upon a time", { temperature: 0, maxTokens: ${TOKENS} });
const info = await worker.info();
await worker.dispose();
const local = await createLocalEngine({ model, backend: "wasm", threads: 1 });
const l = await local.complete("Once upon a time", { temperature: 0, maxTokens: ${TOKENS} });
await local.dispose();
console.log(JSON.stringify({ text: r.text, tokens: r.tokens.length, localText: l.text, backend: info.backend, threads: info.threads }));
`;

let dir: string;
beforeAll(() => {
  for (const f of ["dist/inline.js", "dist/index.js", "dist/engine-worker.js"]) {
    if (!existsSync(repoRoot + f)) throw new Error(`${f} is missing: run \`npm run build\` before the tests`);
  }
  dir = mkdtempSync(join(tmpdir(), "ternion-bundle-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("an app bundled with esbuild", () => {
  it("from ternion/inline runs with nothing beside its bundle, worker and in-thread engines giving the reference text", async () => {
    // The app installs ternion the way npm would (node_modules/ternion), and esbuild resolves ternion/inline
    // through the package's exports.
    const app = join(dir, "app");
    mkdirSync(join(app, "node_modules"), { recursive: true });
    symlinkSync(repoRoot, join(app, "node_modules", "ternion"), "dir");
    writeFileSync(join(app, "main.ts"), APP);
    await build({
      entryPoints: [join(app, "main.ts")],
      outfile: join(app, "out", "app.mjs"),
      bundle: true,
      platform: "node",
      format: "esm",
      logLevel: "silent",
    });
    expect(readdirSync(join(app, "out"))).toEqual(["app.mjs"]);

    // Shipped alone: a folder with the bundle and nothing else, far from the package.
    const shipped = join(dir, "shipped");
    mkdirSync(shipped);
    renameSync(join(app, "out", "app.mjs"), join(shipped, "app.mjs"));
    rmSync(app, { recursive: true });
    const r = spawnSync(process.execPath, [join(shipped, "app.mjs"), sharedPath("models/stories260K.gguf")], {
      cwd: shipped,
      encoding: "utf8",
      timeout: 100_000,
    });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout.trim());
    expect(out.tokens).toBe(TOKENS);
    expect(out.text.length).toBeGreaterThan(60);
    expect(STORIES_CONTINUATION.startsWith(out.text), out.text).toBe(true);
    expect(out.localText).toBe(out.text);
    expect(out.backend).toBe("wasm");
    expect(out.threads).toBe(2); // the inline worker (a data: URL) starts its kernel threads too
  });
});

describe.skipIf(lacks("deno"))("ternion/inline under Deno", () => {
  it("the engine worker starts from a Blob URL and loads the embedded wasm: the reference text", () => {
    // The built bundle copied into a folder of its own with the app that imports it: nothing beside it to fetch.
    const deno = join(dir, "deno");
    mkdirSync(deno);
    copyFileSync(repoRoot + "dist/inline.js", join(deno, "inline.js"));
    const script = join(deno, "app.ts");
    writeFileSync(script, APP.replace('"ternion/inline"', '"./inline.js"').replace("process.argv[2]", "Deno.args[0]"));
    const r = runDeno(["--allow-read", "--allow-env", script, sharedPath("models/stories260K.gguf")], { cwd: deno, timeout: 100_000 });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout.trim());
    expect(out.tokens).toBe(TOKENS);
    expect(STORIES_CONTINUATION.startsWith(out.text), out.text).toBe(true);
    expect(out.localText).toBe(out.text);
  });
});

describe("the default entry", () => {
  const literal = /new URL\("([^"]+)", import\.meta\.url\)/g;

  it.each(["dist/index.js", "dist/engine-worker.js"])('%s: every new URL("./…", import.meta.url) names a file beside it', (file) => {
    const text = readFileSync(repoRoot + file, "utf8");
    const targets = [...text.matchAll(literal)].map((m) => m[1]!);
    for (const t of targets) expect(existsSync(new URL(t, `file://${repoRoot}${file}`)), `${file}: ${t}`).toBe(true);
    expect(targets).toEqual(expect.arrayContaining(["./wasm/ternion-simd.wasm", "./wasm/ternion-relaxed.wasm"]));
    if (file === "dist/index.js") expect(targets).toContain("./engine-worker.js");
  });
});
