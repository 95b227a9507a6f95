// End-to-end benchmark: prefill and decode speed of ternion's CPU engine against llama.cpp (node-llama-cpp,
// prebuilt CPU build) on the very same synthetic TQ2_0 GGUF files with BitNet b1.58 shapes (docs/ARCHITECTURE.md
// section 5: 700M and 2B-4T, architecture "bitnet", random ternary weights), same thread counts. Each (model, engine,
// threads) runs in a fresh child process so that its peak RSS is its own.
//
//   npm run bench:decode -- [--json] [--models 700M,2B] [--threads 1,2] [--engines ternion,llama.cpp]
//                           [--prefill 128] [--decode 128] [--cache ~/.cache/ternion-bench]
//
// The models are generated once into the cache directory (outside the repository). Both engines use their
// defaults otherwise: an f16 KV cache, greedy decoding of `decode` tokens after a `prefill`-token prompt of
// random ids. Prefill tokens/s = prompt tokens / time to the first generated token.
import { spawnSync } from "node:child_process";
import { homedir } from "node:os";
import { join } from "node:path";
import { CpuModel } from "../src/runtime/cpu/model.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { BITNET_2B, BITNET_700M } from "../test/helpers/synthetic-model.ts";
import { type BenchShape, ensureSyntheticModel } from "./synthetic-models.ts";

interface Row {
  model: string;
  engine: "ternion" | "llama.cpp";
  threads: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  peakRssMb: number;
}

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : def;
};

const MODELS: Record<string, BenchShape> = { "700M": BITNET_700M, "2B": BITNET_2B };

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

async function runTernion(path: string, threads: number, prefill: number, decode: number, wasmDir: string): Promise<Omit<Row, "model" | "engine">> {
  const source = await openFileSource(path);
  const model = await CpuModel.load(source, {
    threads,
    contextLength: prefill + decode + 8,
    wasm: wasmDir ? { baseUrl: new URL(`file://${wasmDir}/`) } : undefined,
  });
  await source.close();
  const prompt = promptIds(prefill, model.config.vocabSize);
  // warm-up: a few tokens through every kernel
  model.eval(prompt.slice(0, 8));
  model.reset();
  const t0 = performance.now();
  let next = argmax(model.eval(prompt)!);
  const t1 = performance.now();
  for (let i = 1; i < decode; i++) next = argmax(model.eval([next])!);
  const t2 = performance.now();
  model.dispose();
  return {
    threads,
    prefillTokensPerSecond: (prefill * 1000) / (t1 - t0),
    decodeTokensPerSecond: ((decode - 1) * 1000) / (t2 - t1),
    peakRssMb: peakRssMb(),
  };
}

async function runLlamaCpp(path: string, threads: number, prefill: number, decode: number, vocab: number): Promise<Omit<Row, "model" | "engine">> {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: threads });
  const model = await llama.loadModel({ modelPath: path });
  const context = await model.createContext({ contextSize: prefill + decode + 8, batchSize: prefill, threads: { ideal: threads, min: threads } });
  const seq = context.getSequence();
  const prompt = promptIds(prefill, vocab);
  // warm-up
  for await (const _ of seq.evaluate(prompt.slice(0, 8) as never[], { temperature: 0 })) break;
  await seq.clearHistory();
  const t0 = performance.now();
  let t1 = 0;
  let count = 0;
  for await (const _ of seq.evaluate(prompt as never[], { temperature: 0 })) {
    if (++count === 1) t1 = performance.now();
    if (count >= decode) break;
  }
  const t2 = performance.now();
  await context.dispose();
  await model.dispose();
  await llama.dispose();
  return {
    threads,
    prefillTokensPerSecond: (prefill * 1000) / (t1 - t0),
    decodeTokensPerSecond: ((decode - 1) * 1000) / (t2 - t1),
    peakRssMb: peakRssMb(),
  };
}

async function child(): Promise<void> {
  const engine = opt("engine", "");
  const path = opt("path", "");
  const threads = Number(opt("threads", "1"));
  const prefill = Number(opt("prefill", "128"));
  const decode = Number(opt("decode", "128"));
  const r =
    engine === "ternion"
      ? await runTernion(path, threads, prefill, decode, opt("wasm", ""))
      : await runLlamaCpp(path, threads, prefill, decode, Number(opt("vocab", "32000")));
  process.stdout.write(JSON.stringify(r) + "\n");
}

async function main(): Promise<void> {
  const json = flag("json");
  const cache = opt("cache", join(homedir(), ".cache", "ternion-bench"));
  const models = opt("models", "700M,2B").split(",");
  const threadCounts = opt("threads", "1,2").split(",").map(Number);
  const engines = opt("engines", "ternion,llama.cpp").split(",") as Row["engine"][];
  const prefill = opt("prefill", "128");
  const decode = opt("decode", "128");
  const rows: Row[] = [];
  for (const key of models) {
    if (!MODELS[key]) throw new Error(`unknown model ${key} (700M, 2B)`);
    const path = await ensureSyntheticModel(cache, MODELS[key]!);
    for (const threads of threadCounts) {
      for (const engine of engines) {
        const args = [
          ...process.execArgv,
          process.argv[1]!,
          "--child",
          "--engine",
          engine,
          "--path",
          path,
          "--threads",
          String(threads),
          "--prefill",
          prefill,
          "--decode",
          decode,
          "--vocab",
          String(MODELS[key]!.vocab),
          "--wasm",
          opt("wasm", ""),
        ];
        const r = spawnSync(process.execPath, args, { encoding: "utf8", maxBuffer: 1 << 24 });
        if (r.status !== 0) throw new Error(`${engine} ${key} ${threads} threads failed:\n${r.stderr}`);
        const row: Row = { model: MODELS[key]!.name, engine, ...JSON.parse(r.stdout.trim().split("\n").pop()!) };
        rows.push(row);
        if (!json) {
          process.stdout.write(
            `${key.padEnd(5)} ${engine.padEnd(10)} ${threads} thr  prefill ${row.prefillTokensPerSecond.toFixed(1).padStart(7)} tok/s  ` +
              `decode ${row.decodeTokensPerSecond.toFixed(2).padStart(6)} tok/s  peak RSS ${row.peakRssMb.toFixed(0).padStart(5)} MB\n`,
          );
        }
      }
      const ours = rows.find((r) => r.model === MODELS[key]!.name && r.threads === threads && r.engine === "ternion");
      const theirs = rows.find((r) => r.model === MODELS[key]!.name && r.threads === threads && r.engine === "llama.cpp");
      if (!json && ours && theirs) {
        process.stdout.write(
          `${key.padEnd(5)} ours/llama.cpp ${threads} thr  prefill ×${(ours.prefillTokensPerSecond / theirs.prefillTokensPerSecond).toFixed(2)}  ` +
            `decode ×${(ours.decodeTokensPerSecond / theirs.decodeTokensPerSecond).toFixed(2)}\n`,
        );
      }
    }
  }
  if (json) console.log(JSON.stringify(rows));
}

if (flag("child")) await child();
else await main();
