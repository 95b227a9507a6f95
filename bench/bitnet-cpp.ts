// bitnet.cpp (microsoft/BitNet, native AVX2 I2_S kernels) as an engine of bench/decode.ts: its `llama-bench`,
// built by ../shared/tools/bitnet-cpp/build.sh into a folder outside the repository, run on the same I2_S file
// as ternion. llama-bench measures pp<P> (a P-token prompt into an empty context) and tg<D> (D tokens decoded
// one at a time at positions 0 … D−1, after no prompt), each after its own warm-up run.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TernionError } from "../src/runtime/errors.ts";

/** bitnet.cpp failed, or printed something that is not llama-bench's JSON. */
export class BitnetCppError extends TernionError {}

/** The folders searched when no --bitnet-cpp is given: the name first, then build.sh's default OUT. */
export function defaultBitnetCppDirs(cache: string): string[] {
  return [join(cache, "bitnet-cpp"), join(cache, "bitnet.cpp")];
}

/** The folder holding `llama-bench` (and its libllama.so / libggml.so): `dir` itself or `dir/bin`; undefined when neither has it. */
export function findBitnetCppBin(dirs: readonly string[]): string | undefined {
  for (const dir of dirs) for (const bin of [join(dir, "bin"), dir]) if (existsSync(join(bin, "llama-bench"))) return bin;
  return undefined;
}

/**
 * bitnet.cpp's bin folder, from --bitnet-cpp DIR or else the cache's default folders; when there is none, the
 * one line that says so (the bench goes on without bitnet.cpp).
 */
export function locateBitnetCpp(dir: string | undefined, cache: string): { bin: string } | { notice: string } {
  const dirs = dir === undefined ? defaultBitnetCppDirs(cache) : [dir];
  const bin = findBitnetCppBin(dirs);
  if (bin) return { bin };
  return { notice: `bitnet.cpp: no llama-bench in ${dirs.join(" or ")} (../shared/tools/bitnet-cpp/build.sh builds it); going on without it` };
}

export interface LlamaBenchFigures {
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
}

/**
 * The pp and tg figures of llama-bench's `-o json` output (an array with one object per test; a test is a
 * prompt test when n_gen is 0 and a generation test when n_prompt is 0).
 */
export function parseLlamaBenchJson(text: string, prefill: number, decode: number): LlamaBenchFigures {
  let tests: unknown;
  try {
    tests = JSON.parse(text.slice(text.indexOf("[")));
  } catch {
    throw new BitnetCppError("BAD_OUTPUT", `llama-bench printed no JSON array: ${JSON.stringify(text.slice(0, 200))}`);
  }
  if (!Array.isArray(tests)) throw new BitnetCppError("BAD_OUTPUT", "llama-bench's JSON is not an array of tests");
  const figure = (nPrompt: number, nGen: number, label: string): number => {
    const test = tests.find((t) => t?.n_prompt === nPrompt && t?.n_gen === nGen);
    const ts = test?.avg_ts;
    if (typeof ts !== "number" || !(ts > 0)) throw new BitnetCppError("BAD_OUTPUT", `llama-bench's JSON has no ${label} test with a positive avg_ts`);
    return ts;
  };
  return { prefillTokensPerSecond: figure(prefill, 0, `pp${prefill}`), decodeTokensPerSecond: figure(0, decode, `tg${decode}`) };
}

/** Runs llama-bench once (one repetition of pp and tg) in a fresh process; peak RSS from /usr/bin/time when there is one. */
export function runBitnetCpp(
  bin: string,
  model: string,
  threads: number,
  prefill: number,
  decode: number,
): LlamaBenchFigures & { peakRssMb: number | undefined } {
  const bench = join(bin, "llama-bench");
  const args = ["-m", model, "-p", String(prefill), "-n", String(decode), "-t", String(threads), "-r", "1", "-o", "json"];
  const timer = "/usr/bin/time";
  const scratch = mkdtempSync(join(tmpdir(), "ternion-bitnet-cpp-"));
  const rssFile = join(scratch, "rss");
  try {
    const timed = existsSync(timer);
    const r = spawnSync(timed ? timer : bench, timed ? ["-f", "%M", "-o", rssFile, bench, ...args] : args, {
      encoding: "utf8",
      maxBuffer: 1 << 24,
      env: { ...process.env, LD_LIBRARY_PATH: [bin, process.env.LD_LIBRARY_PATH].filter(Boolean).join(":") },
    });
    if (r.status !== 0) {
      const why = r.error ? String(r.error) : `exit status ${r.status}`;
      throw new BitnetCppError("RUN_FAILED", `bitnet.cpp's llama-bench on ${model} failed (${why}):\n${r.stderr.slice(-2000)}`);
    }
    const figures = parseLlamaBenchJson(r.stdout, prefill, decode);
    const kib = timed && existsSync(rssFile) ? Number(readFileSync(rssFile, "utf8").trim().split("\n").pop()) : Number.NaN;
    return { ...figures, peakRssMb: Number.isFinite(kib) ? kib / 1024 : undefined };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
