// The heavy dev dependencies that only some tests need (optional-deps/package.json, an npm workspace that
// `npm ci --workspaces=false` leaves out): a test that needs one says so with `describe.skipIf(lacks("deno"))`.
// Outside CI a missing one skips the test, with a line saying what it needs; in CI (CI set) nothing is skipped:
// CI installs everything, so a missing package fails the tests that need it.
import { existsSync } from "node:fs";
import type { Llama } from "node-llama-cpp";
import { repoRoot } from "./cli.ts";

export type OptionalDependency = "node-llama-cpp" | "webgpu" | "deno" | "playwright-core";

const reported = new Set<string>();

/** Whether `name` is installed beside the project (Node resolves the tests' imports from there). */
export function installed(name: OptionalDependency): boolean {
  return existsSync(`${repoRoot}node_modules/${name}/package.json`);
}

/** True when one of `deps` is missing and this is not CI: the caller skips what needs it. */
export function lacks(...deps: OptionalDependency[]): boolean {
  const missing = deps.filter((d) => !installed(d));
  if (missing.length === 0 || process.env.CI) return false;
  const line = `skipped: needs ${missing.join(", ")} (optional-deps/package.json: a plain \`npm ci\` installs it)`;
  if (!reported.has(line)) console.warn(line);
  reported.add(line);
  return true;
}

/** llama.cpp through node-llama-cpp's prebuilt CPU build (never compiled here), imported only when a test runs. */
export async function cpuLlama(logLevel: "error" | "disabled"): Promise<Llama> {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  return getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel[logLevel] });
}
