// `ternion generate` and `ternion ppl` as a user runs them (dist/cli.js; run `npm run build` first).
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "./helpers/cli.ts";
import { lacks } from "./helpers/optional-deps.ts";
import { DEFAULT_MODEL_CONTINUATION, sharedPath } from "./helpers/shared.ts";

const STORIES = sharedPath("models/stories260K.gguf");
const CONTINUATION = ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball.";

describe("ternion generate", () => {
  it("without --model runs the ternary model the package ships (models/stories260K-ternary.gguf)", () => {
    const r = runCli(["generate", "--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "40", "--threads", "1"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.startsWith("Once upon a time" + DEFAULT_MODEL_CONTINUATION), r.stdout).toBe(true);
    const ppl = runCli(["ppl", "--text", sharedPath("corpus/tinystories_sample.txt"), "--threads", "1", "--json"]);
    expect(ppl.status, ppl.stderr).toBe(0);
    expect(JSON.parse(ppl.stdout).ppl).toBeLessThan(30); // the ternary student, not an untrained ternarization
  });

  it("streams the prompt and its greedy continuation to stdout, statistics to stderr", () => {
    const r = runCli(["generate", "--model", STORIES, "--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "40", "--threads", "1"]);
    expect(r.stderr).toMatch(/prompt tokens at .* tok\/s, 40 generated at .* tok\/s/);
    expect(r.status).toBe(0);
    expect(r.stdout.startsWith("Once upon a time" + CONTINUATION)).toBe(true);
  });

  it("--json prints { text, tokens, stopReason, stats } with every statistic", () => {
    const r = runCli(["generate", "--model", STORIES, "--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "30", "--json"]);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(CONTINUATION.startsWith(out.text.slice(0, 60))).toBe(true);
    expect(out.tokens).toHaveLength(30);
    expect(out.stopReason).toBe("max-tokens");
    expect(Object.keys(out.stats).sort()).toEqual(
      [
        "backend",
        "cachedTokens",
        "contextShifts",
        "shiftedTokens",
        "decodeTokensPerSecond",
        "generatedTokens",
        "prefillTokensPerSecond",
        "promptTokens",
        "simd",
        "threads",
        "timeToFirstTokenMs",
      ].sort(),
    );
    expect(out.stats).toMatchObject({ promptTokens: 5, cachedTokens: 0, generatedTokens: 30, backend: "wasm" });
  });

  it("--ctx 32 --max-tokens 100: generation goes past the context by sliding it (stats say how often and what it cost)", () => {
    const r = runCli([
      "generate",
      "--model",
      STORIES,
      "--prompt",
      "Once upon a time",
      "--temperature",
      "0",
      "--max-tokens",
      "100",
      "--ctx",
      "32",
      "--json",
    ]);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.stats.promptTokens + out.tokens.length).toBeGreaterThan(32);
    expect(["max-tokens", "eos"]).toContain(out.stopReason);
    expect(out.stats.contextShifts).toBeGreaterThan(0);
    expect(out.stats.shiftedTokens).toBeGreaterThan(0);
  });

  it("an empty prompt generates from BOS; the same seed gives the same text", () => {
    const args = ["generate", "--model", STORIES, "--prompt", "", "--seed", "11", "--max-tokens", "25", "--top-k", "10", "--top-p", "0.9", "--json"];
    const a = JSON.parse(runCli(args).stdout);
    const b = JSON.parse(runCli(args).stdout);
    expect(a.stats.promptTokens).toBe(1);
    expect(a.text).toBe(b.text);
    expect(a.text.length).toBeGreaterThan(10);
  });

  it.skipIf(lacks("webgpu"))(
    "--backend webgpu runs on the GPU (SwiftShader here) with the same greedy text; --backend auto says what it chose",
    () => {
      const gpu = runCli([
        "generate",
        "--model",
        STORIES,
        "--prompt",
        "Once upon a time",
        "--temperature",
        "0",
        "--max-tokens",
        "20",
        "--backend",
        "webgpu",
        "--json",
      ]);
      expect(gpu.status, gpu.stderr).toBe(0);
      const out = JSON.parse(gpu.stdout);
      expect(out.stats).toMatchObject({ backend: "webgpu", generatedTokens: 20 });
      expect(CONTINUATION.startsWith(out.text), out.text).toBe(true);
      const auto = runCli([
        "generate",
        "--model",
        STORIES,
        "--prompt",
        "Once upon a time",
        "--temperature",
        "0",
        "--max-tokens",
        "20",
        "--backend",
        "auto",
      ]);
      expect(auto.status, auto.stderr).toBe(0);
      expect(auto.stdout).toBe("Once upon a time" + out.text + "\n");
      expect(auto.stderr).toMatch(/\[auto: .*wasm\]/); // SwiftShader is a CPU adapter: auto keeps wasm
    },
  );

  it("bad input is one line on stderr and exit code 2", () => {
    for (const [args, pattern] of [
      [["--model", "", "--prompt", "x"], /--model <path> needs a value/],
      [["--model", STORIES, "--prompt", "x", "--backend", "tpu"], /--backend must be wasm, webgpu, auto, got "tpu"/],
      [["--model", STORIES, "--prompt", "x", "--temperature", "hot"], /--temperature must be a number/],
      [["--model", STORIES, "--prompt", "x", "--top-p", "3"], /topP must be in \(0, 1\]/],
      [["--model", STORIES, "--prompt", "x", "--threads", "0"], /--threads must be an integer ≥ 1/],
      [["--model", STORIES, "--prompt", "x", "--bogus"], /unknown flag --bogus/],
      [["--model", STORIES, "--prompt", "once ".repeat(2100)], /more than the context of 2048 \[PROMPT_TOO_LONG\]/],
      [["--model", STORIES, "--prompt", "x", "--ctx", "4096"], /--ctx 4096 is more than the model's context of 2048 \[BAD_FLAG_VALUE\]/],
    ] as const) {
      const r = runCli(["generate", ...args]);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
    }
  });
});

describe("ternion ppl", () => {
  const dir = mkdtempSync(join(tmpdir(), "ternion-ppl-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("--json prints { ppl, tokens, windows, scored, ctx, tokensPerSecond }", () => {
    // the first 40 kB of the validation text keep the run short
    const text = join(dir, "valid-40k.txt");
    writeFileSync(text, readFileSync(sharedPath("corpus/tinystories-valid-a.txt"), "utf8").slice(0, 40_000));
    const r = runCli(["ppl", "--model", STORIES, "--text", text, "--ctx", "256", "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out).sort()).toEqual(["ctx", "ppl", "scored", "tokens", "tokensPerSecond", "windows"]);
    expect(out.ctx).toBe(256);
    expect(out.windows).toBe(Math.floor(out.tokens / 256));
    expect(out.scored).toBe(out.windows * 127);
    expect(out.ppl).toBeGreaterThan(1);
    expect(out.ppl).toBeLessThan(10);
  });

  it("--head-type q8_0: the int8 head's perplexity within 0.5 % of the stored head's", () => {
    const text = join(dir, "valid-20k.txt");
    writeFileSync(text, readFileSync(sharedPath("corpus/tinystories-valid-a.txt"), "utf8").slice(0, 20_000));
    const ppl = (headType: string) => {
      const r = runCli(["ppl", "--model", STORIES, "--text", text, "--ctx", "256", "--head-type", headType, "--json"]);
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout).ppl as number;
    };
    const stored = ppl("stored");
    const int8 = ppl("q8_0");
    expect(int8).not.toBe(stored);
    expect(Math.abs(int8 / stored - 1)).toBeLessThan(0.005);
  });

  it("--kv-type q8_0: the int8 KV cache's perplexity within 1 % of the f32 cache's (ppl's default); a bad value is refused", () => {
    const text = join(dir, "valid-20k.txt");
    writeFileSync(text, readFileSync(sharedPath("corpus/tinystories-valid-a.txt"), "utf8").slice(0, 20_000));
    const ppl = (kvType?: string) => {
      const r = runCli(["ppl", "--model", STORIES, "--text", text, "--ctx", "256", ...(kvType ? ["--kv-type", kvType] : []), "--json"]);
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout).ppl as number;
    };
    const f32 = ppl();
    expect(ppl("f32")).toBe(f32);
    const q8 = ppl("q8_0");
    expect(q8).not.toBe(f32);
    expect(Math.abs(q8 / f32 - 1)).toBeLessThan(0.01);
    const bad = runCli(["ppl", "--model", STORIES, "--text", text, "--kv-type", "q4_0"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--kv-type must be f16, f32, q8_0, got "q4_0"/);
  });

  it("rejects a window longer than the model's context", () => {
    const r = runCli(["ppl", "--model", STORIES, "--text", sharedPath("corpus/tinystories-valid-a.txt"), "--ctx", "4096"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--ctx 4096 is larger than the model's context length 2048/);
  });
});
