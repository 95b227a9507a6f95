// bench/decode.ts's parts that need no engine: its command line, the runs of a round, the summary and the
// markdown table, bitnet.cpp's llama-bench JSON and the skip when bitnet.cpp is not built (CI never builds it).
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BitnetCppError, findBitnetCppBin, locateBitnetCpp, parseLlamaBenchJson } from "../bench/bitnet-cpp.ts";
import { benchRuns, parseDecodeBenchArgs } from "../bench/decode-options.ts";
import { decodePositions, formatStat, markdownTable, type RunResult, stat, summarize } from "../bench/decode-table.ts";
import { OptionError } from "../src/runtime/errors.ts";

describe("bench:decode options", () => {
  it("defaults to every engine and file, decode after the prompt, one round", () => {
    const o = parseDecodeBenchArgs([]);
    expect(o.engines).toEqual(["ternion", "llama.cpp", "bitnet.cpp"]);
    expect(o.formats).toEqual(["tq2_0", "i2_s"]);
    expect(o.models).toEqual(["700M", "2B"]);
    expect(o.threads).toEqual([1, 2]);
    expect([o.prefill, o.decode, o.decodeFrom, o.rounds, o.json, o.markdown]).toEqual([128, 128, "prompt", 1, false, false]);
    expect(o.bitnetCpp).toBeUndefined();
  });

  it("reads the side-by-side command", () => {
    const o = parseDecodeBenchArgs(["--decode-from", "0", "--rounds", "3", "--markdown", "--threads", "2", "--models", "2B", "--bitnet-cpp", "/x"]);
    expect([o.decodeFrom, o.rounds, o.markdown, o.threads, o.models, o.bitnetCpp]).toEqual(["0", 3, true, [2], ["2B"], "/x"]);
  });

  it.each([
    [["--decode-from", "1"], "decode-from"],
    [["--engines", "ternion,vllm"], "engines"],
    [["--formats", "q4_0"], "formats"],
    [["--models", "7B"], "models"],
    [["--threads", "0"], "threads"],
    [["--threads", ""], "threads"],
    [["--rounds", "2.5"], "rounds"],
    [["--decode", "1"], "decode"],
    [["--json", "--markdown"], "markdown"],
  ])("refuses %j with an OptionError naming --%s", (argv, option) => {
    const error = (() => {
      try {
        parseDecodeBenchArgs(argv);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(OptionError);
    expect((error as OptionError).option).toBe(option);
  });

  it("refuses an unknown flag", () => {
    expect(() => parseDecodeBenchArgs(["--prefil", "64"])).toThrow(OptionError);
  });

  it("accepts one decoded token from position 0 (no prompt token to end)", () => {
    expect(parseDecodeBenchArgs(["--decode-from", "0", "--decode", "1"]).decode).toBe(1);
  });
});

describe("bench:decode runs", () => {
  it("gives each engine only the files it runs, model by model and thread count by thread count", () => {
    const runs = benchRuns(parseDecodeBenchArgs(["--models", "700M", "--threads", "1,2"]));
    expect(runs.map((r) => `${r.threads} ${r.engine} ${r.format}`)).toEqual([
      "1 ternion tq2_0",
      "1 ternion i2_s",
      "1 llama.cpp tq2_0",
      "1 bitnet.cpp i2_s",
      "2 ternion tq2_0",
      "2 ternion i2_s",
      "2 llama.cpp tq2_0",
      "2 bitnet.cpp i2_s",
    ]);
    expect(benchRuns(parseDecodeBenchArgs(["--formats", "tq2_0", "--engines", "bitnet.cpp"]))).toEqual([]);
  });
});

describe("bench:decode summary", () => {
  const result = (engine: RunResult["engine"], format: RunResult["format"], round: number, pp: number, tg: number, rss?: number): RunResult => ({
    model: "700M",
    engine,
    format,
    threads: 1,
    round,
    decodeFrom: "0",
    prefillTokensPerSecond: pp,
    decodeTokensPerSecond: tg,
    peakRssMb: rss,
  });

  it("takes the median and the range", () => {
    expect(stat([3, 1, 2])).toEqual({ median: 2, min: 1, max: 3, n: 3 });
    expect(stat([4, 1, 2, 3]).median).toBe(2.5);
    expect(formatStat(stat([45, 40.12, 47.25]))).toBe("45.0 (40.1–47.3)");
    expect(formatStat(stat([14.8]), 2)).toBe("14.80");
  });

  it("says which positions a decode figure covers", () => {
    expect(decodePositions("0", 128, 128)).toBe("0–127 (tg128)");
    expect(decodePositions("prompt", 128, 128)).toBe("128–254 (after the prompt)");
  });

  it("writes the side-by-side table: one row per engine and file, ternion's ratio on the same file, the loads", () => {
    const results = [1, 2, 3].flatMap((round) => [
      result("ternion", "tq2_0", round, 40 + round, 14 + round, 600),
      result("ternion", "i2_s", round, 45 + round, 15 + round, 590 + round),
      result("llama.cpp", "tq2_0", round, 50 + round, 16 + round),
      result("bitnet.cpp", "i2_s", round, 90 + round, 30 + round, 280),
    ]);
    const rows = summarize(results);
    expect(rows.map((r) => `${r.engine} ${r.format} ${r.prefill.n}`)).toEqual([
      "ternion tq2_0 3",
      "ternion i2_s 3",
      "llama.cpp tq2_0 3",
      "bitnet.cpp i2_s 3",
    ]);
    const table = markdownTable(rows, {
      prefill: 128,
      decode: 128,
      command: "npm run bench:decode -- --decode-from 0 --rounds 3 --markdown",
      loads: [
        { round: 1, before: 2.5, after: 3.25 },
        { round: 2, before: 3, after: 2 },
      ],
    });
    const lines = table.split("\n");
    expect(lines[0]).toContain("`npm run bench:decode -- --decode-from 0 --rounds 3 --markdown` — 3 rounds");
    expect(lines).toContain("| 700M | 1 | ternion | I2_S | 47.0 (46.0–48.0) | 17.00 (16.00–18.00) | 0–127 (tg128) |  | 593 |");
    // ternion I2_S 47 / 17 against bitnet.cpp 92 / 32; ternion TQ2_0 42 / 16 against llama.cpp 52 / 18
    expect(lines).toContain("| 700M | 1 | bitnet.cpp | I2_S | 92.0 (91.0–93.0) | 32.00 (31.00–33.00) | 0–127 (tg128) | ×0.51 / ×0.53 | 280 |");
    expect(lines).toContain("| 700M | 1 | llama.cpp | TQ2_0 | 52.0 (51.0–53.0) | 18.00 (17.00–19.00) | 0–127 (tg128) | ×0.81 / ×0.89 | — |");
    expect(table).toContain("llama.cpp (node-llama-cpp, mainline ggml) has no I2_S");
    expect(table).toContain("before → after each round: 2.50 → 3.25, 3.00 → 2.00.");
  });

  it("gives no ratio between different decode starts", () => {
    const rows = summarize([{ ...result("ternion", "i2_s", 1, 45, 15), decodeFrom: "prompt" }, result("bitnet.cpp", "i2_s", 1, 90, 30)]);
    const table = markdownTable(rows, { prefill: 128, decode: 128, command: "c", loads: [] });
    expect(table).toContain("| 700M | 1 | bitnet.cpp | I2_S | 90.0 | 30.00 | 0–127 (tg128) | — | — |");
    expect(table).toContain("| 700M | 1 | ternion | I2_S | 45.0 | 15.00 | 128–254 (after the prompt) |  | — |");
  });
});

describe("bitnet.cpp in bench:decode", () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  // llama-bench's `-o json` as bitnet.cpp's build prints it (fields trimmed), after a log line
  const llamaBench = (pp: number, tg: number) =>
    `main: log line\n${JSON.stringify([
      { model_type: "bitnet-b1.58 ?B I2_S - 2 bpw ternary (guessed)", n_threads: 1, n_prompt: 128, n_gen: 0, avg_ns: 2590974405, avg_ts: pp },
      { model_type: "bitnet-b1.58 ?B I2_S - 2 bpw ternary (guessed)", n_threads: 1, n_prompt: 0, n_gen: 128, avg_ns: 4e9, avg_ts: tg },
    ])}`;

  it("reads pp and tg from llama-bench's JSON", () => {
    expect(parseLlamaBenchJson(llamaBench(49.4, 27.9), 128, 128)).toEqual({ prefillTokensPerSecond: 49.4, decodeTokensPerSecond: 27.9 });
  });

  it("refuses output without the tests asked for", () => {
    expect(() => parseLlamaBenchJson(llamaBench(49.4, 27.9), 64, 128)).toThrow(/no pp64 test/);
    expect(() => parseLlamaBenchJson(llamaBench(49.4, 0), 128, 128)).toThrow(BitnetCppError);
    expect(() => parseLlamaBenchJson("error: failed to load model", 128, 128)).toThrow(/no JSON array/);
  });

  it("finds llama-bench in DIR/bin or DIR, and says on one line when there is none", () => {
    dir = mkdtempSync(join(tmpdir(), "ternion-bitnet-cpp-test-"));
    const cache = join(dir, "cache");
    const missing = locateBitnetCpp(undefined, cache);
    expect(missing).toEqual({ notice: expect.stringContaining(`no llama-bench in ${join(cache, "bitnet-cpp")} or ${join(cache, "bitnet.cpp")}`) });
    expect("notice" in missing && missing.notice.includes("\n")).toBe(false);

    const bin = join(cache, "bitnet.cpp", "bin"); // build.sh's default OUT
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, "llama-bench"), "");
    chmodSync(join(bin, "llama-bench"), 0o755);
    expect(locateBitnetCpp(undefined, cache)).toEqual({ bin });
    expect(findBitnetCppBin([bin])).toBe(bin);
    expect(locateBitnetCpp(join(dir, "elsewhere"), cache)).toEqual({ notice: expect.stringContaining(join(dir, "elsewhere")) });
  });
});
