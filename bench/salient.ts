// What salient side matrices cost at decode: the BitNet b1.58 700M synthetic TQ2_0 model (bench/synthetic-models.ts)
// against the same file with a random side matrix of P % of the weights beside every block matrix
// (test/helpers/salient.ts, the format of src/runtime/model/salient-file.ts), both loaded at once and decoded in
// turns (one run of each per round), so that a slower moment of a shared machine falls on both alike. Each run
// decodes --tokens tokens after a 16-token prompt; the table gives the median decode tok/s of the rounds.
//
//   BENCH_ENTRY=bench/salient.ts node scripts/bench-kernels.mjs [--share 1] [--threads 1,2] [--tokens 32]
//                                [--rounds 7] [--rows even,binomial] [--json]
// --rows: how the entries spread over a tensor's rows (test/helpers/salient.ts): "even", every row ⌊share·cols⌋ or one
// more; "binomial", each position on its own with probability share (as picking the largest |w| of independent
// weights does; row lengths spread around the mean). The files with side matrices are written once into
// ~/.cache/ternion-bench (seeded: the same bytes every time).
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
const rowKinds = opt("rows", "even,binomial").split(",") as Array<"even" | "binomial">;
for (const k of rowKinds) if (k !== "even" && k !== "binomial") throw new Error(`--rows takes even and binomial, got ${k}`);
const tokens = Number(opt("tokens", "32"));
const rounds = Number(opt("rounds", "7"));
const wasmDir = opt("wasm", "");
const cache = join(homedir(), ".cache", "ternion-bench");
const log = (s: string) => {
  if (!json) console.log(s);
};

/** The 700M file with side matrices of `share` % beside every block matrix, rows as `rows` says, written once. */
async function salientCopy(plain: string, rows: "even" | "binomial"): Promise<string> {
  const path = plain.replace(/\.gguf$/, `-salient${share}${rows === "even" ? "" : `-${rows}`}.gguf`);
  if (existsSync(path)) return path;
  process.stderr.write(`writing ${path} …\n`);
  const source = await openFileSource(plain);
  try {
    const input = ggufInputFromSource(source, await readGgufHeader(source));
    await writeGgufFile(`${path}.part`, withRandomSalient(input, share / 100, 1818, 1, rows).model);
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
const salientPaths = new Map<string, string>();
for (const k of rowKinds) salientPaths.set(k, await salientCopy(plainPath, k));
const rows: { threads: number; share: number; rows: string; plainTokS: number; salientTokS: number; slowdown: number }[] = [];
log(`salient decode cost — ${BITNET_700M.name} TQ2_0, ${share} % salient, ${tokens} tokens per run, ${rounds} rounds, median`);
log(`${"thr".padStart(3)} ${"rows".padEnd(9)} ${"0 % tok/s".padStart(10)} ${`${share} % tok/s`.padStart(10)} ${"slower".padStart(7)}`);
for (const threads of threadCounts) {
  // one dense model per thread count, decoded in turns with each kind's model (its own runs for each ratio)
  const plain = await load(plainPath, threads);
  decodeRun(plain);
  for (const [kind, salientPath] of salientPaths) {
    const salient = await load(salientPath, threads);
    decodeRun(salient);
    const a: number[] = [];
    const b: number[] = [];
    for (let r = 0; r < rounds; r++) {
      a.push(decodeRun(plain));
      b.push(decodeRun(salient));
    }
    salient.dispose();
    const row = { threads, share, rows: kind, plainTokS: median(a), salientTokS: median(b), slowdown: median(a) / median(b) - 1 };
    rows.push(row);
    log(
      `${String(threads).padStart(3)} ${kind.padEnd(9)} ${row.plainTokS.toFixed(2).padStart(10)} ${row.salientTokS.toFixed(2).padStart(10)} ${`${(100 * row.slowdown).toFixed(1)} %`.padStart(7)}`,
    );
  }
  plain.dispose();
}
if (json) console.log(JSON.stringify(rows));
