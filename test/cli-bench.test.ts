// `ternion bench` as a user runs it (dist/cli.js): prefill and decode rows per thread count, as JSON and as a table.
import { describe, expect, it } from "vitest";
import type { BenchRow } from "../src/cli/bench.ts";
import type { ProfileRow } from "../src/cli/bench-profile.ts";
import { runCli } from "./helpers/cli.ts";
import { sharedPath } from "./helpers/shared.ts";

const STORIES = sharedPath("models/stories260K.gguf");
const SHORT = ["--prompt-tokens", "16", "--gen-tokens", "8", "--repetitions", "2"];

describe("ternion bench", () => {
  it("--json: a prefill and a decode row per thread count, with the measured speeds", () => {
    const r = runCli(["bench", "--model", STORIES, ...SHORT, "--threads", "1,2", "--json"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe(""); // no progress bar when stderr is not a terminal
    const rows = JSON.parse(r.stdout) as BenchRow[];
    expect(rows.map((x) => [x.threads, x.test])).toEqual([
      [1, "prefill"],
      [1, "decode"],
      [2, "prefill"],
      [2, "decode"],
    ]);
    for (const row of rows) {
      expect(row).toMatchObject({ backend: "wasm", repetitions: 2 });
      expect(["relaxed", "simd128"]).toContain(row.simd);
      expect(row.tokensPerSecond).toBeGreaterThan(0);
      expect(row.stddev).toBeGreaterThanOrEqual(0);
    }
    // Exactly the flags' counts: token-id prompts that share nothing with the run before, and EOS does not stop a run.
    for (const row of rows.filter((x) => x.test === "prefill")) expect(row.tokens).toBe(16);
    for (const row of rows.filter((x) => x.test === "decode")) expect(row.tokens).toBe(8);
  });

  it("prints a table of pp/tg rows", () => {
    const r = runCli(["bench", "--model", STORIES, ...SHORT, "--threads", "1"]);
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toMatch(/^backend\s+threads\s+simd\s+test\s+tokens\/s$/);
    expect(lines).toHaveLength(4);
    expect(lines[2]).toMatch(/^wasm\s+1\s+\S+\s+pp16\s+[\d.]+ ± [\d.]+$/);
    expect(lines[3]).toMatch(/^wasm\s+1\s+\S+\s+tg8\s+[\d.]+ ± [\d.]+$/);
  });

  it("--profile: every op's ms per token per phase and thread count, adding up to the step", () => {
    const r = runCli(["bench", "--model", STORIES, ...SHORT, "--threads", "1,2", "--profile", "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout) as ProfileRow[];
    for (const threads of [1, 2]) {
      for (const phase of ["prefill", "decode"] as const) {
        const mine = rows.filter((x) => x.threads === threads && x.phase === phase);
        const ops = mine.map((x) => x.op);
        expect(ops).toEqual(expect.arrayContaining(["matmul q/k/v", "matmul down", "output head", "attention", "norms", "sampling", "other"]));
        const step = mine.find((x) => x.op === "step")!;
        expect(step.msPerToken).toBeGreaterThan(0);
        expect(step.share).toBe(1);
        for (const x of mine) expect(x.msPerToken).toBeGreaterThanOrEqual(0);
        expect(mine.find((x) => x.op === "matmul gate/up")!.msPerToken).toBeGreaterThan(0);
      }
    }
    const table = runCli(["bench", "--model", STORIES, ...SHORT, "--threads", "1", "--profile", "--clock", "cpu"]);
    expect(table.status, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^decode, positions 16–23: CPU ms per token \(median of 2\)$/m);
    expect(table.stdout).toMatch(/^prefill, 16 tokens: CPU ms per token \(median of 2\)$/m);
    expect(table.stdout).toMatch(/^output head\s+[\d.]+\s+[\d.]+$/m);
    expect(table.stdout).toMatch(/^step\s+[\d.]+\s+100\.0$/m);
  });

  it("bad input is one line on stderr and exit code 2", () => {
    for (const [args, pattern] of [
      [["--model", ""], /--model <path> needs a value/],
      [["--model", "/nonexistent/model.gguf"], /cannot open the model \/nonexistent\/model\.gguf.*\[MODEL_NOT_FOUND\]/],
      [["--model", STORIES, "--threads", "1,zero"], /--threads must be a list of integers ≥ 1 such as 1,2, got "1,zero"/],
      [["--model", STORIES, "--threads", "0"], /--threads must be a list of integers ≥ 1/],
      [["--model", STORIES, "--prompt-tokens", "0"], /--prompt-tokens must be an integer ≥ 1/],
      [["--model", STORIES, "--backend", "gpu"], /--backend must be wasm, webgpu, auto, got "gpu"/],
      [["--model", STORIES, "--bogus"], /unknown flag --bogus/],
      [["--model", STORIES, "--profile", "--backend", "webgpu"], /--profile times the wasm CPU backend's ops/],
      [["--model", STORIES, "--profile", "--clock", "cpu", "--threads", "1,2"], /--clock cpu .* needs --threads 1/],
      [["--model", STORIES, "--profile", "--clock", "tsc"], /--clock must be wall or cpu/],
      [["--model", STORIES, "--head-type", "q4"], /--head-type must be stored or q8_0/],
    ] as const) {
      const r = runCli(["bench", ...args]);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
    }
  });
});
