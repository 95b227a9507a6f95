// Runs the built CLI (dist/cli.js) the way a user does, under Node or Deno, and captures its output.
import { spawnSync } from "node:child_process";
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

/** The same CLI under Deno (from the `deno` npm package), with read access only. */
export function runCliDeno(args: string[]): CliResult {
  requireBuild();
  const r = runDeno(["--allow-read", "--allow-env", cliPath, ...args]);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
