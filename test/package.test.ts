// The package as a user gets it (issue 13). `npm pack` runs on a fresh copy of the working tree (what git
// tracks or would track, no dist/), so its prepack has to build; the tarball is installed into an empty
// project, and there: the `ternion` command, createEngine under Node ESM, CommonJS require and Deno, an app
// bundled by esbuild, and tsc on consumer files without skipLibCheck. One pack and one install serve every check.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { build } from "esbuild";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { repoRoot } from "./helpers/cli.ts";
import { runDeno } from "./helpers/deno.ts";
import { DEFAULT_MODEL_CONTINUATION, STORIES_CONTINUATION, sharedPath } from "./helpers/shared.ts";

const TOKENS = 8;

/** The same program for every runtime: load stories260K, generate TOKENS greedy tokens, print the text as JSON. */
const program = (importLine: string, modelArg: string) => `${importLine}
const engine = await createEngine({ model: ${modelArg}, backend: "wasm", threads: 1 });
const r = await engine.complete("Once upon a time", { maxTokens: ${TOKENS}, temperature: 0 });
await engine.dispose();
console.log(JSON.stringify({ text: r.text, tokens: r.tokens.length }));
`;

let dir: string;
let app: string;
let tarball: string;
let packed: { path: string; size: number }[];

function run(command: string, args: string[], cwd: string, timeout = 120_000): SpawnSyncReturns<string> {
  return spawnSync(command, args, { cwd, encoding: "utf8", timeout });
}

function succeeded(r: SpawnSyncReturns<string>, what: string): string {
  if (r.error) throw new Error(`${what}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${what} exited with ${r.status}:\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

/** The output of `program`: the greedy continuation, the start of stories260K's reference text. */
function expectGreedyText(r: SpawnSyncReturns<string>): void {
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  const out = JSON.parse(r.stdout.trim()) as { text: string; tokens: number };
  expect(out.tokens).toBe(TOKENS);
  expect(out.text.length).toBeGreaterThan(10);
  expect(STORIES_CONTINUATION.startsWith(out.text), out.text).toBe(true);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ternion-package-"));

  // A fresh clone of the working tree: the files git tracks or would track (never dist/), the shared install.
  const clone = join(dir, "clone");
  const files = succeeded(run("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], repoRoot), "git ls-files")
    .split("\0")
    .filter((f) => f !== "" && f !== "node_modules" && existsSync(repoRoot + f));
  for (const f of files) {
    mkdirSync(join(clone, dirname(f)), { recursive: true });
    cpSync(repoRoot + f, join(clone, f));
  }
  symlinkSync(join(repoRoot, "node_modules"), join(clone, "node_modules"), "dir");
  expect(existsSync(join(clone, "dist"))).toBe(false);

  const pack = JSON.parse(succeeded(run("npm", ["pack", "--json", "--pack-destination", dir], clone, 300_000), "npm pack")) as [
    { filename: string; files: { path: string; size: number }[] },
  ];
  tarball = join(dir, pack[0].filename);
  packed = pack[0].files;

  app = join(dir, "app");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  succeeded(run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", tarball], app, 180_000), "npm install of the tarball");
}, 480_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the packed tarball", () => {
  it("carries the built bundles, wasm, declarations, the default model, README and LICENSE, and no source map or .wat", () => {
    const paths = packed.map((f) => f.path);
    for (const f of [
      "LICENSE",
      "README.md",
      "package.json",
      "dist/index.js",
      "dist/node.js",
      "dist/inline.js",
      "dist/engine-worker.js",
      "dist/cli.js",
      "models/stories260K-ternary.gguf",
      "models/README.md",
    ]) {
      expect(paths).toContain(f);
    }
    for (const f of [
      "dist/wasm/ternion-simd.wasm",
      "dist/wasm/ternion-relaxed.wasm",
      "dist/types/index.d.ts",
      "dist/types/node.d.ts",
      "dist/types/inline.d.ts",
    ]) {
      expect(paths).toContain(f);
    }
    expect(paths.filter((p) => p.endsWith(".map") || p.endsWith(".wat"))).toEqual([]);
    expect(paths.filter((p) => !p.startsWith("dist/") && !p.startsWith("models/") && !["LICENSE", "README.md", "package.json"].includes(p))).toEqual(
      [],
    );
    expect(paths.filter((p) => p.startsWith("models/"))).toHaveLength(2);
  });

  it("installs into an empty project with its dependencies", () => {
    const installed = join(app, "node_modules");
    expect(readdirSync(join(installed, "ternion", "dist")).filter((f) => f.endsWith(".map"))).toEqual([]);
    expect(existsSync(join(installed, "comlink"))).toBe(true);
    expect(existsSync(join(installed, "@huggingface", "jinja"))).toBe(true);
  });
});

describe("the installed package", () => {
  it("npx ternion --help", () => {
    const r = run("npx", ["--no", "--", "ternion", "--help"], app);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^usage: ternion <command>/);
    expect(r.stdout).toContain("generate");
  });

  it("npx ternion --version prints the package's version", () => {
    const r = run("npx", ["--no", "--", "ternion", "--version"], app);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(`ternion ${JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")).version}`);
  });

  it("npx ternion generate without --model runs the shipped ternary model", () => {
    const r = run(
      "npx",
      ["--no", "--", "ternion", "generate", "--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "40", "--threads", "1"],
      app,
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.startsWith("Once upon a time" + DEFAULT_MODEL_CONTINUATION), r.stdout).toBe(true);
  });

  it('import { createEngine } from "ternion" under Node (ESM)', () => {
    writeFileSync(join(app, "esm.mjs"), program('import { createEngine } from "ternion";', "process.argv[2]"));
    expectGreedyText(run(process.execPath, ["esm.mjs", sharedPath("models/stories260K.gguf")], app));
  });

  it('require("ternion") from CommonJS', () => {
    // Node's require(esm): dist/node.js must have no top-level await anywhere in its module graph.
    const body = program('const { createEngine } = require("ternion");', "process.argv[2]");
    writeFileSync(join(app, "cjs.cjs"), body.replace(/\n(const engine[\s\S]*)$/, "\n(async () => {\n$1})();\n"));
    expectGreedyText(run(process.execPath, ["cjs.cjs", sharedPath("models/stories260K.gguf")], app));
  });

  it('import { createEngine } from "ternion" under Deno (node_modules)', () => {
    writeFileSync(join(app, "deno.mjs"), program('import { createEngine } from "ternion";', "Deno.args[0]"));
    expectGreedyText(runDeno(["--allow-read", "deno.mjs", sharedPath("models/stories260K.gguf")], { cwd: app }));
  });

  it("an esbuild bundle (ternion/inline, README's way for esbuild) runs alone, away from node_modules", async () => {
    writeFileSync(join(app, "bundled.mjs"), program('import { createEngine } from "ternion/inline";', "process.argv[2]"));
    const shipped = join(dir, "shipped");
    await build({
      entryPoints: [join(app, "bundled.mjs")],
      outfile: join(shipped, "app.mjs"),
      bundle: true,
      platform: "node",
      format: "esm",
      logLevel: "silent",
    });
    expect(readdirSync(shipped)).toEqual(["app.mjs"]);
    expectGreedyText(run(process.execPath, ["app.mjs", sharedPath("models/stories260K.gguf")], shipped));
  });

  it.each([
    ["Node (module nodenext)", "nodenext", "node-app.ts"],
    ["a Node project without the DOM's types (lib es2022, @types/node)", "node-only", "node-app.ts"],
    ["a bundled app (moduleResolution bundler)", "bundler", "browser-app.ts"],
  ])("tsc --noEmit on a consumer of the public API in %s, without skipLibCheck", (_name, setup, file) => {
    const project = join(app, `types-${setup}`);
    mkdirSync(project);
    writeFileSync(join(project, file), CONSUMERS[file]!);
    const compilerOptions =
      setup === "nodenext"
        ? { module: "nodenext", target: "es2022", types: [] }
        : setup === "node-only"
          ? // A server or script: no DOM (so no WebGPU or WebAssembly types from it), Node's own types only.
            { module: "nodenext", target: "es2022", lib: ["es2022"], types: ["node"], typeRoots: [join(repoRoot, "node_modules", "@types")] }
          : { module: "esnext", moduleResolution: "bundler", target: "es2022", types: [] };
    // No skipLibCheck: every declaration file the package ships and the consumer reaches is checked.
    writeFileSync(
      join(project, "tsconfig.json"),
      JSON.stringify({ compilerOptions: { ...compilerOptions, strict: true, noEmit: true }, files: [file] }),
    );
    const r = run(join(repoRoot, "node_modules", ".bin", "tsc"), ["-p", "tsconfig.json"], project);
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });
});

/** Consumer files: README's examples, the types an app names, the error classes it catches. */
const CONSUMERS: Record<string, string> = {
  "node-app.ts": `
import { createEngine, createLocalEngine, GgufError, openFileSource, readGgufHeader, tokenizerFromGguf, type ChatCompletionChunk, type Engine, type EngineInfo } from "ternion";

const source = await openFileSource("model.gguf");
const header = await readGgufHeader(source);
const ids: number[] = tokenizerFromGguf(header.metadata).encode("Once upon a time", { addBos: true });
await source.close();
const engine: Engine = await createEngine({ model: "model.gguf", backend: "auto", onProgress: ({ phase, loaded, total }) => console.log(phase, loaded / total) });
const stream = engine.generate("Once upon a time", { maxTokens: 60, temperature: 0 });
for await (const { text } of stream) console.log(text);
const { stats } = await stream.result;
const info: EngineInfo = await engine.info();
const chunks: AsyncIterable<ChatCompletionChunk> = await engine.chat.completions.create({ messages: [{ role: "user", content: "Hi" }], stream: true });
for await (const chunk of chunks) console.log(chunk.choices[0]?.delta.content);
const local = await createLocalEngine({ model: new Uint8Array(ids), gpu: "webgpu" });
try {
  await local.perplexity("text", { ctx: 64 });
} catch (e) {
  if (e instanceof GgufError) console.log(e.code, e.offset);
}
console.log(stats.decodeTokensPerSecond, info.backendReason);
`,
  "browser-app.ts": `
import { createEngine, type BackendChoice, type Engine, type EngineFinetuneOptions, type LoadProgress } from "ternion/inline";
import { blobSource, readGgufHeader, TernionError } from "ternion";

declare const file: File;
const header = await readGgufHeader(blobSource(file));
const backend: BackendChoice = "auto";
const engine: Engine = await createEngine({ model: file, backend, onProgress: (p: LoadProgress) => console.log(p.phase) });
const options: EngineFinetuneOptions = { data: "Once upon a time", steps: 4, mode: "blockwise", onProgress: ({ step, loss }) => console.log(step, loss) };
const student: Uint8Array = (await engine.finetune(options)).student;
try {
  await engine.dispose();
} catch (e) {
  if (e instanceof TernionError) console.log(e.code, e.message);
}
console.log(header.tensors.length, student.length);
`,
};
