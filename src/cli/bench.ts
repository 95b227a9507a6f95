// `ternion bench --model M [--prompt-tokens 128] [--gen-tokens 128] [--threads 1,2] [--backend B] [--repetitions 3]
// [--json] [--profile]`: prefill and decode speed of a model on this machine, as llama-bench reports it (pp<N>, tg<N>,
// mean ± standard deviation of the repetitions), through the same engine calls an application makes; --profile
// instead times every op of the wasm CPU backend's forward pass (./bench-profile.ts).
import type { Engine } from "../engine/engine.ts";
import type { GenerationStats } from "../engine/generate.ts";
import { OptionError } from "../runtime/errors.ts";
import { formatProfile, profileSteps } from "./bench-profile.ts";
import { helpFlag, parseArgs, type FlagSpec } from "./args.ts";
import type { Command } from "./command.ts";
import { DEFAULT_MODEL_HELP, modelOrDefault } from "./default-model.ts";
import { backendChoice, backendFlags, headTypeChoice, headTypeFlags, kvTypeChoice, kvTypeFlags, openEngine } from "./engine-flags.ts";
import { choiceFlag, numberFlag } from "./flags.ts";
import { MODEL_REFERENCE_HELP, prepareModel } from "./model-reference.ts";
import { formatTable } from "./format.ts";
import { ProgressBar } from "./progress.ts";

const flags: Record<string, FlagSpec> = {
  model: { type: "string", short: "m", description: `GGUF model: ${MODEL_REFERENCE_HELP} (${DEFAULT_MODEL_HELP})` },
  "prompt-tokens": { type: "string", description: "prompt length in tokens (default 128)" },
  "gen-tokens": { type: "string", description: "tokens to generate (default 128)" },
  ...backendFlags,
  ...headTypeFlags,
  ...kvTypeFlags,
  threads: { type: "string", short: "t", description: "thread counts to compare, e.g. 1,2 (default: all cores)" },
  repetitions: { type: "string", description: "runs per setting (default 3), after one warm-up run" },
  json: { type: "boolean", description: "print JSON rows { backend, threads, simd, test, tokens, tokensPerSecond, stddev, repetitions }" },
  profile: {
    type: "boolean",
    description:
      "time every op of a prefill and decode step on the wasm CPU backend: ms per token and % of the step (JSON: { threads, simd, phase, op, msPerToken, share })",
  },
  clock: { type: "string", description: "with --profile: wall (default) or cpu (the process's CPU time; --threads 1 only)" },
  help: helpFlag,
};

/** Plain prose that any vocabulary tokenizes into ordinary tokens. */
const FILLER =
  "Once upon a time, in a small town by the sea, there lived an old fisherman who told stories to the children " +
  "every evening. They sat around the fire and listened to tales of storms, of lost ships and of the friends he met on the water. ";

export interface BenchRow {
  backend: string;
  threads: number;
  simd: string;
  /** "prefill" (the prompt in batches) or "decode" (one token at a time). */
  test: "prefill" | "decode";
  /** Tokens per run (prompt tokens evaluated, or tokens generated: exactly the flags' counts). */
  tokens: number;
  tokensPerSecond: number;
  stddev: number;
  repetitions: number;
}

export const benchCommand: Command = {
  name: "bench",
  summary: "prefill and decode tokens/s of a model on this machine, per thread count",
  usage:
    "ternion bench [--model <model.gguf>] [--prompt-tokens 128] [--gen-tokens 128] [--threads 1,2] [--backend wasm|webgpu|auto] [--repetitions 3] [--head-type stored|q8_0] [--kv-type f16|f32|q8_0] [--json] [--profile [--clock wall|cpu]]",
  flags,
  async run(argv, out) {
    const args = parseArgs(argv, flags);
    const f = args.flags;
    if (args.positionals.length) throw new OptionError("UNEXPECTED_ARGUMENT", `unexpected argument ${JSON.stringify(args.positionals[0])}`);
    const ref = modelOrDefault(f);
    const promptTokens = numberFlag(f, "prompt-tokens", { integer: true, min: 1 }) ?? 128;
    const genTokens = numberFlag(f, "gen-tokens", { integer: true, min: 1 }) ?? 128;
    const repetitions = numberFlag(f, "repetitions", { integer: true, min: 1 }) ?? 3;
    const backend = backendChoice(f);
    const threadCounts = threadList(f.get("threads"));
    const headType = headTypeChoice(f);
    const kvType = kvTypeChoice(f);
    const { model } = await prepareModel(ref);
    if (f.has("profile")) {
      if (backend === "webgpu") throw new OptionError("BAD_FLAG_VALUE", "--profile times the wasm CPU backend's ops: leave out --backend webgpu");
      const clock = choiceFlag(f, "clock", ["wall", "cpu"] as const) ?? "wall";
      if (clock === "cpu" && threadCounts.some((t) => t !== 1))
        throw new OptionError("BAD_FLAG_VALUE", "--clock cpu counts the whole process's CPU time: it needs --threads 1");
      const settings = { promptTokens, genTokens, threadCounts, repetitions, clock, headType, kvType };
      const bar = new ProgressBar("profile");
      const rows = await profileSteps(model, { ...settings, onRun: (done, total) => bar.update(done, total) });
      bar.clear();
      out(f.has("json") ? JSON.stringify(rows) : formatProfile(rows, settings));
      return;
    }

    const rows: BenchRow[] = [];
    const bar = new ProgressBar("bench");
    const runs = threadCounts.length * (repetitions + 1);
    let done = 0;
    for (const threads of threadCounts) {
      const engine = await openEngine({ model, backend, threads, contextLength: promptTokens + genTokens, headType, kvType });
      try {
        const prompts = await benchPrompts(engine, promptTokens, repetitions + 1);
        const stats: GenerationStats[] = [];
        for (let i = 0; i <= repetitions; i++) {
          // As llama-bench: token ids, and an end-of-text token does not cut the run short.
          const r = await engine.complete(prompts[i]!, { maxTokens: genTokens, temperature: 0, ignoreEos: true });
          if (i > 0) stats.push(r.stats); // run 0 warms up: JIT, first-touch memory, GPU pipelines
          bar.update(++done, runs, `threads ${r.stats.threads}`);
        }
        rows.push(row(stats, "prefill"), row(stats, "decode"));
      } finally {
        await engine.dispose();
      }
    }
    bar.clear();
    if (f.has("json")) {
      out(JSON.stringify(rows));
      return;
    }
    out(
      formatTable(
        ["backend", "threads", "simd", "test", "tokens/s"],
        rows.map((r) => [
          r.backend,
          r.backend === "webgpu" ? "-" : String(r.threads),
          r.simd,
          `${r.test === "prefill" ? "pp" : "tg"}${Math.round(r.tokens)}`,
          `${r.tokensPerSecond.toFixed(1)} ± ${r.stddev.toFixed(1)}`,
        ]),
        ["left", "right", "left", "left", "right"],
      ),
    );
  },
};

/** "1,2" → [1, 2]; absent → [undefined] (the engine's default, all cores). */
function threadList(v: string | true | undefined): (number | undefined)[] {
  if (v === undefined) return [undefined];
  const parts = typeof v === "string" ? v.split(",") : [];
  const counts = parts.map((p) => (/^\s*\d+\s*$/.test(p) ? Number(p) : NaN));
  if (counts.length === 0 || counts.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new OptionError("BAD_FLAG_VALUE", `--threads must be a list of integers ≥ 1 such as 1,2, got ${JSON.stringify(v)}`);
  }
  return counts;
}

/**
 * `count` prompts of exactly `tokens` token ids (no BOS), each starting at a different token of the filler, so
 * that no run finds any of its prompt in the KV cache of the one before.
 */
async function benchPrompts(engine: Engine, tokens: number, count: number): Promise<number[][]> {
  let ids: number[] = [];
  for (let text = FILLER; ids.length < tokens + count; text += FILLER) ids = await engine.tokenize(text, { addBos: false });
  return Array.from({ length: count }, (_, i) => ids.slice(i, i + tokens));
}

function row(stats: GenerationStats[], test: BenchRow["test"]): BenchRow {
  const speeds = stats.map((s) => (test === "prefill" ? s.prefillTokensPerSecond : s.decodeTokensPerSecond));
  const counts = stats.map((s) => (test === "prefill" ? s.promptTokens - s.cachedTokens : s.generatedTokens));
  const mean = speeds.reduce((a, b) => a + b, 0) / speeds.length;
  const variance = speeds.length > 1 ? speeds.reduce((a, b) => a + (b - mean) ** 2, 0) / (speeds.length - 1) : 0;
  const s = stats[0]!;
  return {
    backend: s.backend,
    threads: s.threads,
    simd: s.simd,
    test,
    tokens: counts.reduce((a, b) => a + b, 0) / counts.length,
    tokensPerSecond: mean,
    stddev: Math.sqrt(variance),
    repetitions: stats.length,
  };
}
