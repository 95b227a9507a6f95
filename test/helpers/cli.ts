// Runs the built CLI (dist/cli.js) the way a user does, under Node or Deno, and captures its output.
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { runDeno } from "./deno.ts";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
export const cliPath = repoRoot + "dist/cli.js";

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

function requireBuild(): void {
  if (!existsSync(cliPath)) throw new Error("dist/cli.js is missing: run `npm run build` before the tests");
}

/** `input` is piped to its stdin (default: none, stdin at end of file). */
export function runCli(args: string[], options: { input?: string } = {}): CliResult {
  requireBuild();
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: "utf8", cwd: repoRoot, input: options.input ?? "" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * The CLI run without blocking this process (a server in the test keeps answering), with extra environment
 * variables; `onSpawn` gets the child (to kill it mid-run). `deno` runs it under Deno with those permissions.
 */
export function runCliAsync(
  args: string[],
  options: { env?: Record<string, string>; onSpawn?: (child: ReturnType<typeof spawn>) => void; deno?: string[] } = {},
): Promise<CliResult & { signal: NodeJS.Signals | null }> {
  requireBuild();
  const [command, prefix] = options.deno
    ? [`${repoRoot}node_modules/.bin/deno`, ["run", "--quiet", "--no-prompt", ...options.deno]]
    : [process.execPath, []];
  const env = { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1", ...options.env };
  const child = spawn(command, [...prefix, cliPath, ...args], { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
  options.onSpawn?.(child);
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (t: string) => (stdout += t));
  child.stderr.setEncoding("utf8").on("data", (t: string) => (stderr += t));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (status, signal) => resolve({ status, signal, stdout, stderr }));
  });
}

/** The same CLI under Deno (from the `deno` npm package), with read access only. */
export function runCliDeno(args: string[]): CliResult {
  requireBuild();
  const r = runDeno(["--allow-read", "--allow-env", cliPath, ...args]);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
