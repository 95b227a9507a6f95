// The examples (examples/node, examples/deno) run as a user runs them, against the built package (`npm run
// build` first), on stories260K by default: each prints what it shows, and that output is checked here.
import { describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { repoRoot } from "./helpers/cli.ts";
import { LAVAPIPE_ICD, runDeno as deno } from "./helpers/deno.ts";
import { lacks } from "./helpers/optional-deps.ts";
import { sharedPath } from "./helpers/shared.ts";

const GREEDY_40 = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball.";
const GREEDY_20 = "Once upon a time, there was a little girl named Lily. She loved to play outsid";

function requireBuild(): void {
  if (!existsSync(repoRoot + "dist/node.js")) throw new Error("dist/ is missing: run `npm run build` before the tests");
  sharedPath("models/stories260K.gguf"); // the examples' default model
}

function runNode(example: string) {
  requireBuild();
  return spawnSync(process.execPath, [`examples/node/${example}`], { cwd: repoRoot, encoding: "utf8", timeout: 60_000 });
}

/** `deno run` with read access only (all the examples need), and lavapipe as the Vulkan driver where installed. */
function runDeno(example: string) {
  requireBuild();
  return deno(["--allow-read", `examples/deno/${example}`], { webgpu: true, timeout: 60_000 });
}

/** "(N prompt tokens, M of them reused …)" of each chat turn. */
function chatTurns(stdout: string): { prompt: number; reused: number }[] {
  return [...stdout.matchAll(/\((\d+) prompt tokens, (\d+) of them reused from the KV cache; finish: (\w+)\)/g)].map((m) => ({
    prompt: Number(m[1]),
    reused: Number(m[2]),
  }));
}

const platforms = [
  ["node", runNode, ".mjs"],
  ["deno", runDeno, ".ts"],
] as const;

describe.each(platforms.filter(([name]) => name !== "deno" || !lacks("deno")))("examples/%s", (_name, run, ext) => {
  it("generate: streams the greedy continuation and its statistics", () => {
    const r = run(`generate${ext}`);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout.startsWith(GREEDY_40), r.stdout).toBe(true);
    expect(r.stdout).toMatch(/\n40 tokens at \d+ tokens\/s \(wasm, \d+ threads, (relaxed|simd128)\), stopped: max-tokens\n$/);
  });

  it("chat: two streamed turns, the second reusing the first's KV cache", () => {
    const r = run(`chat${ext}`);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("> Tell me about a little cat.\n");
    expect(r.stdout).toContain("> What did the cat do next?\n");
    const [first, second] = chatTurns(r.stdout);
    expect(first).toMatchObject({ reused: 0 });
    expect(second!.prompt).toBeGreaterThan(first!.prompt + 40);
    expect(second!.reused).toBeGreaterThan(first!.prompt);
  });

  it("worker: queued calls in order, a cancelled generation, a typed error across the worker", () => {
    const r = run(`worker${ext}`);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^loaded \d+ bytes\nllama, 5 layers, context 2048: wasm \(auto: .*\), \d+ threads\n/);
    expect(r.stdout).toContain(`1: ${GREEDY_20}\n`);
    expect(r.stdout).toMatch(/\n2: The little dog\S* /);
    expect(r.stdout).toMatch(/\ncancelled after \d+ tokens: stopReason abort\n/);
    expect(r.stdout).toContain("typed error: ContextError PROMPT_TOO_LONG");
  });
});

describe.skipIf(lacks("deno"))("examples/deno/webgpu.ts", () => {
  it("runs the model on Deno's WebGPU when there is an adapter (lavapipe in CI), else on wasm", () => {
    const r = runDeno("webgpu.ts");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`\n${GREEDY_20}\n`);
    if (existsSync(LAVAPIPE_ICD)) {
      expect(r.stdout).toMatch(/^backend webgpu on .*llvmpipe/);
      expect(r.stdout).toMatch(/\n20 tokens at [\d.]+ tokens\/s on webgpu\n$/);
    } else expect(r.stdout).toMatch(/^(backend webgpu|no WebGPU adapter here: running on wasm)/);
  });
});
