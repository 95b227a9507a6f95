// The command line of bench/decode.ts, and the list of runs it asks for: every (model, threads, engine, file
// format) that the engine can run, once per round.
import { homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { OptionError } from "../src/runtime/errors.ts";
import { BITNET_2B, BITNET_700M } from "../test/helpers/synthetic-model.ts";
import { BENCH_FORMATS, type BenchFormat, type BenchShape } from "./synthetic-models.ts";

export const ENGINES = ["ternion", "llama.cpp", "bitnet.cpp"] as const;
export type Engine = (typeof ENGINES)[number];

/** The file formats each engine runs: node-llama-cpp (mainline ggml) has no I2_S; bitnet.cpp is run on I2_S, its own format. */
export const ENGINE_FORMATS: Record<Engine, readonly BenchFormat[]> = {
  ternion: ["tq2_0", "i2_s"],
  "llama.cpp": ["tq2_0"],
  "bitnet.cpp": ["i2_s"],
};

export const MODELS: Record<string, BenchShape> = { "700M": BITNET_700M, "2B": BITNET_2B };

/**
 * Where decoding starts. "prompt": ternion's own measure — decode after the prefill prompt (positions P … P+D−1),
 * prefill timed to the first generated token. "0": llama-bench's — the prefill is pp<P> into an empty context,
 * then, in a context emptied again, tg<D> decodes positions 0 … D−1 after no prompt. bitnet.cpp (llama-bench)
 * always measures the second way.
 */
export type DecodeFrom = "prompt" | "0";

export interface DecodeBenchOptions {
  json: boolean;
  markdown: boolean;
  cache: string;
  models: string[];
  threads: number[];
  engines: Engine[];
  formats: BenchFormat[];
  prefill: number;
  decode: number;
  decodeFrom: DecodeFrom;
  rounds: number;
  /** --bitnet-cpp DIR, when given (else the cache's bitnet-cpp folder is looked for). */
  bitnetCpp: string | undefined;
  /** --wasm DIR (the bundle runner passes dist/wasm). */
  wasm: string;
}

const list = (value: string) => value.split(",").filter((s) => s !== "");

function positiveInt(flag: string, value: string, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new OptionError("BAD_FLAG_VALUE", `--${flag} ${value} must be an integer in 1 … ${max}`, flag);
  return n;
}

function members<T extends string>(flag: string, value: string, allowed: readonly T[]): T[] {
  const values = list(value);
  if (values.length === 0) throw new OptionError("BAD_FLAG_VALUE", `--${flag} needs at least one of ${allowed.join(", ")}`, flag);
  for (const v of values) {
    if (!(allowed as readonly string[]).includes(v))
      throw new OptionError("BAD_FLAG_VALUE", `--${flag}: unknown ${JSON.stringify(v)} (${allowed.join(", ")})`, flag);
  }
  return values as T[];
}

export function parseDecodeBenchArgs(argv: readonly string[]): DecodeBenchOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      options: {
        json: { type: "boolean" },
        markdown: { type: "boolean" },
        cache: { type: "string" },
        models: { type: "string" },
        threads: { type: "string" },
        engines: { type: "string" },
        formats: { type: "string" },
        prefill: { type: "string" },
        decode: { type: "string" },
        "decode-from": { type: "string" },
        rounds: { type: "string" },
        "bitnet-cpp": { type: "string" },
        wasm: { type: "string" },
      },
    }));
  } catch (e) {
    throw new OptionError("BAD_FLAG", (e as Error).message);
  }
  const str = (name: string, def: string) => (typeof values[name] === "string" ? (values[name] as string) : def);
  if (values.json && values.markdown)
    throw new OptionError("CONFLICTING_FLAGS", "--json and --markdown print different things: give one", "markdown");
  const decodeFrom = str("decode-from", "prompt");
  if (decodeFrom !== "prompt" && decodeFrom !== "0") {
    throw new OptionError(
      "BAD_FLAG_VALUE",
      `--decode-from ${decodeFrom} must be "prompt" (after the prefill prompt) or 0 (llama-bench's tg)`,
      "decode-from",
    );
  }
  const decode = positiveInt("decode", str("decode", "128"), 4096);
  if (decodeFrom === "prompt" && decode < 2) {
    throw new OptionError("BAD_FLAG_VALUE", "--decode must be at least 2 after a prompt (the first token ends the prefill)", "decode");
  }
  const threads = list(str("threads", "1,2")).map((t) => positiveInt("threads", t, 256));
  if (threads.length === 0) throw new OptionError("BAD_FLAG_VALUE", "--threads needs at least one thread count", "threads");
  return {
    json: values.json === true,
    markdown: values.markdown === true,
    cache: str("cache", join(homedir(), ".cache", "ternion-bench")),
    models: members("models", str("models", "700M,2B"), Object.keys(MODELS)),
    threads,
    engines: members("engines", str("engines", ENGINES.join(",")), ENGINES),
    formats: members("formats", str("formats", BENCH_FORMATS.join(",")), BENCH_FORMATS),
    prefill: positiveInt("prefill", str("prefill", "128"), 4096),
    decode,
    decodeFrom,
    rounds: positiveInt("rounds", str("rounds", "1"), 100),
    bitnetCpp: typeof values["bitnet-cpp"] === "string" ? values["bitnet-cpp"] : undefined,
    wasm: str("wasm", ""),
  };
}

export interface BenchRun {
  model: string;
  engine: Engine;
  format: BenchFormat;
  threads: number;
}

/** The runs of one round, in the order they are run: per model and thread count, every engine on every file it runs. */
export function benchRuns(options: Pick<DecodeBenchOptions, "models" | "threads" | "engines" | "formats">): BenchRun[] {
  const runs: BenchRun[] = [];
  for (const model of options.models) {
    for (const threads of options.threads) {
      for (const engine of options.engines) {
        for (const format of options.formats) if (ENGINE_FORMATS[engine].includes(format)) runs.push({ model, engine, format, threads });
      }
    }
  }
  return runs;
}
