// Running Deno (the `deno` dev dependency) from a test: no update check, no colours, and for WebGPU a runtime
// directory and Mesa's lavapipe as the Vulkan driver where it is installed (Debian's mesa-vulkan-drivers, as CI
// has), else whatever drivers the loader finds.
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

export const LAVAPIPE_ICD = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json";

export interface DenoRun {
  /** Working directory (default the repository). */
  cwd?: string;
  /** Set up Vulkan for Deno's built-in WebGPU. */
  webgpu?: boolean;
  timeout?: number;
}

/** `deno run --quiet --no-prompt <args>`; the permissions are the caller's, in `args`. */
export function runDeno(args: string[], o: DenoRun = {}): SpawnSyncReturns<string> {
  const env: Record<string, string | undefined> = { ...process.env, DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" };
  if (o.webgpu) {
    env.XDG_RUNTIME_DIR = process.env.XDG_RUNTIME_DIR ?? mkdtempSync(join(tmpdir(), "ternion-xdg-"));
    if (existsSync(LAVAPIPE_ICD)) env.VK_ICD_FILENAMES = LAVAPIPE_ICD;
    else delete env.VK_ICD_FILENAMES;
  }
  return spawnSync(repoRoot + "node_modules/.bin/deno", ["run", "--quiet", "--no-prompt", ...args], {
    cwd: o.cwd ?? repoRoot,
    encoding: "utf8",
    env,
    timeout: o.timeout ?? 110_000,
  });
}
