// End-to-end benchmark: prefill and decode speed of ternion's CPU engine against llama.cpp (node-llama-cpp,
// prebuilt CPU build) and bitnet.cpp (its llama-bench, built by ../shared/tools/bitnet-cpp/build.sh) on the very
// same synthetic GGUF files with BitNet b1.58 shapes (docs/ARCHITECTURE.md section 5: 700M and 2B-4T, random
// ternary weights, bench/synthetic-models.ts): TQ2_0 for ternion and llama.cpp, I2_S for ternion and bitnet.cpp.
//
//   npm run bench:decode -- [--json | --markdown] [--models 700M,2B] [--threads 1,2]
//                           [--engines ternion,llama.cpp,bitnet.cpp] [--formats tq2_0,i2_s] [--rounds 1]
//                           [--prefill 128] [--decode 128] [--decode-from prompt|0] [--bitnet-cpp DIR]
//                           [--cache ~/.cache/ternion-bench]
//
// Rows are interleaved: each round runs every (model, threads, engine, file) once, each in a fresh process (so
// that its peak RSS is its own), and the load average is read before and after each round; the summary gives the
// median and min–max over the rounds (bench/decode-table.ts). The engines use their defaults otherwise: an f16 KV
// cache, greedy decoding, a prompt of deterministic ids. `--decode-from` says what "decode" is (see DecodeFrom in
// bench/decode-options.ts): after the prompt (default), or from position 0 as llama-bench's tg (what bitnet.cpp
// always reports). bitnet.cpp is used when its build is found (--bitnet-cpp DIR, else the cache's bitnet-cpp
// folder); without one the run says so on one line and goes on.
import { spawnSync } from "node:child_process";
import { loadavg } from "node:os";
import { CpuModel } from "../src/runtime/cpu/model.ts";
import { TernionError } from "../src/runtime/errors.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { locateBitnetCpp, runBitnetCpp } from "./bitnet-cpp.ts";
import { benchRuns, type BenchRun, type DecodeFrom, MODELS, parseDecodeBenchArgs } from "./decode-options.ts";
import { markdownTable, type RoundLoad, type RunResult, summarize } from "./decode-table.ts";
import { ensureSyntheticModel } from "./synthetic-models.ts";
import { wasmFromDir } from "./wasm-dir.ts";

interface Figures {
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  peakRssMb: number | undefined;
}

function promptIds(n: number, vocab: number): number[] {
  // deterministic ids past the byte and special tokens
  return Array.from({ length: n }, (_, i) => 259 + ((i * 7919) % (vocab - 259)));
}

function peakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB
}

function argmax(a: Float32Array): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i;
  return best;
}

async function runTernion(path: string, threads: number, prefill: number, decode: number, decodeFrom: DecodeFrom, wasmDir: string): Promise<Figures> {
  const source = await openFileSource(path);
  const model = await CpuModel.load(source, {
    threads,
    contextLength: prefill + decode + 8,
    wasm: wasmFromDir(wasmDir),
  });
  await source.close();
  const prompt = promptIds(prefill, model.config.vocabSize);
  // warm-up as llama-bench's (a whole prompt run, then one generated token), so that every kernel the timed runs use
  // — the Vec-LUT matmul from 16 tokens a thread, the decode tiles at 1 — has run (and V8 has compiled it with its
  // optimizing tier) and every buffer is touched before the clock starts
  model.eval([argmax(model.eval(prompt)!)]);
  model.reset();
  const t0 = performance.now();
  let next = argmax(model.eval(prompt)!);
  const t1 = performance.now();
  let decodeMs: number;
  let decoded: number;
  if (decodeFrom === "0") {
    model.reset();
    const t2 = performance.now();
    for (let i = 0; i < decode; i++) next = argmax(model.eval([next])!);
    decodeMs = performance.now() - t2;
    decoded = decode;
  } else {
    for (let i = 1; i < decode; i++) next = argmax(model.eval([next])!);
    decodeMs = performance.now() - t1;
    decoded = decode - 1;
  }
  model.dispose();
  return { prefillTokensPerSecond: (prefill * 1000) / (t1 - t0), decodeTokensPerSecond: (decoded * 1000) / decodeMs, peakRssMb: peakRssMb() };
}

async function runLlamaCpp(path: string, threads: number, prefill: number, decode: number, decodeFrom: DecodeFrom, vocab: number): Promise<Figures> {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: threads });
  const model = await llama.loadModel({ modelPath: path });
  const context = await model.createContext({ contextSize: prefill + decode + 8, batchSize: prefill, threads: { ideal: threads, min: threads } });
  const seq = context.getSequence();
  const prompt = promptIds(prefill, vocab);
  // warm-up as llama-bench's: a whole prompt run, then one generated token
  let warm = 0;
  for await (const _ of seq.evaluate(prompt as never[], { temperature: 0 })) if (++warm === 2) break;
  await seq.clearHistory();
  /** Evaluates `tokens` then generates greedily; the times at which the first and the `count`-th token came. */
  const generate = async (tokens: number[], count: number) => {
    const start = performance.now();
    let first = 0;
    let n = 0;
    for await (const _ of seq.evaluate(tokens as never[], { temperature: 0 })) {
      if (++n === 1) first = performance.now();
      if (n >= count) break;
    }
    return { start, first, end: performance.now() };
  };
  let figures: Omit<Figures, "peakRssMb">;
  if (decodeFrom === "0") {
    const pp = await generate(prompt, 1);
    await seq.clearHistory();
    // one token in, `decode` out: `decode` evaluations at positions 0 … decode − 1, as llama-bench's tg
    const tg = await generate(prompt.slice(0, 1), decode);
    figures = { prefillTokensPerSecond: (prefill * 1000) / (pp.first - pp.start), decodeTokensPerSecond: (decode * 1000) / (tg.end - tg.start) };
  } else {
    const run = await generate(prompt, decode);
    figures = {
      prefillTokensPerSecond: (prefill * 1000) / (run.first - run.start),
      decodeTokensPerSecond: ((decode - 1) * 1000) / (run.end - run.first),
    };
  }
  await context.dispose();
  await model.dispose();
  await llama.dispose();
  return { ...figures, peakRssMb: peakRssMb() };
}

/** One run in this process (the parent starts it with --child and reads the JSON line it prints). */
async function child(argv: readonly string[]): Promise<void> {
  const get = (name: string) => argv[argv.indexOf(`--${name}`) + 1]!;
  const engine = get("engine");
  const path = get("path");
  const [threads, prefill, decode] = [Number(get("threads")), Number(get("prefill")), Number(get("decode"))];
  const decodeFrom = get("decode-from") as DecodeFrom;
  const figures =
    engine === "ternion"
      ? await runTernion(path, threads, prefill, decode, decodeFrom, get("wasm"))
      : await runLlamaCpp(path, threads, prefill, decode, decodeFrom, Number(get("vocab")));
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

function runInChild(run: BenchRun, path: string, options: ReturnType<typeof parseDecodeBenchArgs>): Figures {
  const args = [
    ...process.execArgv,
    process.argv[1]!,
    "--child",
    ...["--engine", run.engine, "--path", path, "--threads", String(run.threads)],
    ...["--prefill", String(options.prefill), "--decode", String(options.decode), "--decode-from", options.decodeFrom],
    ...["--vocab", String(MODELS[run.model]!.vocab), "--wasm", options.wasm],
  ];
  const r = spawnSync(process.execPath, args, { encoding: "utf8", maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new TernionError("RUN_FAILED", `${run.engine} ${run.model} ${run.format} ${run.threads} threads failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as Figures;
}

async function main(argv: readonly string[]): Promise<void> {
  const options = parseDecodeBenchArgs(argv);
  // progress goes to stderr when stdout is the table or the JSON
  const say = (line: string) => (options.json || options.markdown ? process.stderr : process.stdout).write(`${line}\n`);
  let engines = options.engines;
  let bitnetBin: string | undefined;
  if (engines.includes("bitnet.cpp")) {
    const found = locateBitnetCpp(options.bitnetCpp, options.cache);
    if ("bin" in found) bitnetBin = found.bin;
    else {
      say(found.notice);
      engines = engines.filter((e) => e !== "bitnet.cpp");
    }
  }
  const runs = benchRuns({ ...options, engines });
  const paths = new Map<string, string>();
  for (const run of runs) {
    const key = `${run.model}|${run.format}`;
    if (!paths.has(key)) paths.set(key, await ensureSyntheticModel(options.cache, MODELS[run.model]!, run.format));
  }

  const results: RunResult[] = [];
  const loads: RoundLoad[] = [];
  for (let round = 1; round <= options.rounds; round++) {
    const before = loadavg()[0]!;
    for (const run of runs) {
      const path = paths.get(`${run.model}|${run.format}`)!;
      const figures =
        run.engine === "bitnet.cpp" ? runBitnetCpp(bitnetBin!, path, run.threads, options.prefill, options.decode) : runInChild(run, path, options);
      const decodeFrom: DecodeFrom = run.engine === "bitnet.cpp" ? "0" : options.decodeFrom;
      results.push({ ...run, round, decodeFrom, ...figures });
      say(
        `round ${round}  ${run.model.padEnd(5)} ${run.engine.padEnd(10)} ${run.format.toUpperCase().padEnd(5)} ${run.threads} thr  ` +
          `prefill ${figures.prefillTokensPerSecond.toFixed(1).padStart(7)} tok/s  decode ${figures.decodeTokensPerSecond.toFixed(2).padStart(6)} tok/s ` +
          `(from ${decodeFrom === "0" ? "position 0" : "the prompt"})  peak RSS ${figures.peakRssMb === undefined ? "—" : figures.peakRssMb.toFixed(0).padStart(5)} MB`,
      );
    }
    const after = loadavg()[0]!;
    loads.push({ round, before, after });
    say(`round ${round}: load average (1 min) ${before.toFixed(2)} before, ${after.toFixed(2)} after`);
  }

  const summary = summarize(results);
  if (options.json) {
    console.log(JSON.stringify({ prefill: options.prefill, decode: options.decode, loads, runs: results, summary }));
    return;
  }
  const command = `npm run bench:decode -- ${argv.filter((a, i) => a !== "--wasm" && argv[i - 1] !== "--wasm").join(" ")}`.trim();
  const table = markdownTable(summary, { prefill: options.prefill, decode: options.decode, loads, command });
  if (!options.markdown) say("");
  process.stdout.write(`${table}\n`);
}

const argv = process.argv.slice(2);
if (argv.includes("--child")) await child(argv);
else await main(argv);
