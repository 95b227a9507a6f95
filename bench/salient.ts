// What salient side matrices cost at decode: the BitNet b1.58 700M synthetic TQ2_0 model (bench/synthetic-models.ts)
// against the same file with a random side matrix of P % of the weights beside every block matrix
// (test/helpers/salient.ts, the format of src/runtime/model/salient-file.ts), both loaded at once and decoded in
// turns (one run of each per round), so that a slower moment of a shared machine falls on both alike. Each run
// decodes --tokens tokens after a 16-token prompt; the table gives the median decode tok/s of the rounds.
//
//   BENCH_ENTRY=bench/salient.ts node scripts/bench-kernels.mjs [--share 1] [--threads 1,2] [--tokens 32]
//                                [--rounds 7] [--json]
// The file with side matrices is written once into ~/.cache/ternion-bench (seeded: the same bytes every time).
import { existsSync, renameSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { CpuModel } from "../src/runtime/cpu/model.ts";
import { readGgufHeader } from "../src/runtime/gguf/reader.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { ggufInputFromSource } from "../src/runtime/gguf/writer.ts";
import { writeGgufFile } from "../src/runtime/gguf/writer-node.ts";
import { withRandomSalient } from "../test/helpers/salient.ts";
import { BITNET_700M } from "../test/helpers/synthetic-model.ts";
import { ensureSyntheticModel } from "./synthetic-models.ts";
import { wasmFromDir } from "./wasm-dir.ts";

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : def;
};
const json = argv.includes("--json");
const share = Number(opt("share", "1"));
const threadCounts = opt("threads", "1,2").split(",").map(Number);
const tokens = Number(opt("tokens", "32"));
const rounds = Number(opt("rounds", "7"));
const wasmDir = opt("wasm", "");
const cache = join(homedir(), ".cache", "ternion-bench");
const log = (s: string) => {
  if (!json) console.log(s);
};

/** The 700M file with side matrices of `share` % beside every block matrix, written once. */
async function salientCopy(plain: string): Promise<string> {
  const path = plain.replace(/\.gguf$/, `-salient${share}.gguf`);
  if (existsSync(path)) return path;
  process.stderr.write(`writing ${path} …\n`);
  const source = await openFileSource(plain);
  try {
    const input = ggufInputFromSource(source, await readGgufHeader(source));
    await writeGgufFile(`${path}.part`, withRandomSalient(input, share / 100, 1818).model);
  } finally {
    await source.close();
  }
  renameSync(`${path}.part`, path);
  return path;
}

async function load(path: string, threads: number): Promise<CpuModel> {
  const source = await openFileSource(path);
  try {
    return await CpuModel.load(source, {
      threads,
      contextLength: 16 + tokens + 8,
      wasm: wasmFromDir(wasmDir),
    });
  } finally {
    await source.close();
  }
}

/** Decode tok/s of one run: a 16-token prompt, then `tokens` single-token steps (fixed ids, no sampling). */
function decodeRun(model: CpuModel): number {
  model.reset();
  const vocab = model.config.vocabSize;
  model.eval(Array.from({ length: 16 }, (_, i) => 259 + ((i * 7919) % (vocab - 259))));
  const t0 = performance.now();
  for (let i = 0; i < tokens; i++) model.eval([259 + ((i * 104729) % (vocab - 259))]);
  return (tokens * 1000) / (performance.now() - t0);
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;

const plainPath = await ensureSyntheticModel(cache, BITNET_700M);
const salientPath = await salientCopy(plainPath);
const rows: { threads: number; share: number; plainTokS: number; salientTokS: number; slowdown: number }[] = [];
log(`salient decode cost — ${BITNET_700M.name} TQ2_0, ${share} % salient, ${tokens} tokens per run, ${rounds} rounds, median`);
log(`${"thr".padStart(3)} ${"0 % tok/s".padStart(10)} ${`${share} % tok/s`.padStart(10)} ${"slower".padStart(7)}`);
for (const threads of threadCounts) {
  const plain = await load(plainPath, threads);
  const salient = await load(salientPath, threads);
  decodeRun(plain);
  decodeRun(salient);
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < rounds; r++) {
    a.push(decodeRun(plain));
    b.push(decodeRun(salient));
  }
  plain.dispose();
  salient.dispose();
  const row = { threads, share, plainTokS: median(a), salientTokS: median(b), slowdown: median(a) / median(b) - 1 };
  rows.push(row);
  log(
    `${String(threads).padStart(3)} ${row.plainTokS.toFixed(2).padStart(10)} ${row.salientTokS.toFixed(2).padStart(10)} ${`${(100 * row.slowdown).toFixed(1)} %`.padStart(7)}`,
  );
}
if (json) console.log(JSON.stringify(rows));
