// Kernel benchmark: time per op and GOPS (2·m·n·k / t, median of repeated runs) of y = W·x (activation
// quantization included, as llama.cpp's mul_mat includes its from_float), for 4096×4096 and the BitNet b1.58
// 2B-4T shapes, n = 1 and 128, 1 and 2 threads, both wasm builds. Run through `npm run bench:kernels`
// (scripts/bench-kernels.mjs bundles this file and starts Node with relaxed SIMD enabled where needed).
//
//   npm run bench:kernels -- [--json] [--quick] [--types TQ2_0,TQ1_0,I2_S,DLT,F16,Q8_0,F32] [--shapes 4096x4096,...]
//                            [--n 1,128] [--threads 1,2] [--simd relaxed,simd128] [--tile auto|rows4|r1t4|r2t4] [--min-ms 400]
//                            [--clock wall|cpu] [--capacity N] [--salient 0,0.5,1,2]
// --salient P,…: a random salient side matrix of P % of the weights beside each ternary matrix (its product S·x
// added to W·x in the same thread-pool call, as the engine runs it: src/runtime/cpu/salient.ts), one row per share; the shares of one matrix and n are timed
// interleaved (one op of each in turn), so that a slower moment of a shared machine falls on all of them alike.
// --capacity N quantizes into an activation buffer of N tokens (as the engine's projections do, which size it for
// the largest batch) instead of linear()'s scratch buffer of n tokens.
// --clock cpu times 1-thread runs by the process's CPU time (batches of ≥ 20 ms) instead of the wall clock, which
// on a shared machine also counts the time other processes hold the core; runs with threads keep the wall clock.
import { CpuKernels, type Matrix, type TernaryTile } from "../src/runtime/cpu/kernels.ts";
import { matrixLayout, type MatrixType } from "../src/runtime/cpu/layout.ts";
import { relaxedSimdSupported } from "../src/runtime/cpu/wasm/features.ts";
import type { SimdBuild } from "../src/runtime/cpu/wasm/loader.ts";
import { cpus, loadavg } from "node:os";
import { freeSalient, uploadSalient } from "../src/runtime/cpu/salient.ts";
import { randomSalient } from "../test/helpers/salient.ts";
import { wasmFromDir } from "./wasm-dir.ts";

interface Row {
  type: string;
  m: number;
  k: number;
  n: number;
  threads: number;
  simd: SimdBuild;
  /** % of the weights in a salient side matrix (0: none). */
  salient: number;
  msPerOp: number;
  gops: number;
}

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : def;
};
const json = flag("json");
const quick = flag("quick");
const types = opt("types", "TQ2_0,TQ1_0,I2_S,DLT").split(",") as MatrixType[];
const shapes = opt("shapes", quick ? "4096x4096" : "4096x4096,2560x2560,6912x2560,2560x6912")
  .split(",")
  .map((s) => s.split("x").map(Number) as [number, number]);
const ns = opt("n", "1,128").split(",").map(Number);
const threadCounts = opt("threads", "1,2").split(",").map(Number);
const simds = opt("simd", relaxedSimdSupported() ? "relaxed,simd128" : "simd128").split(",") as SimdBuild[];
const tile = opt("tile", "");
const minMs = Number(opt("min-ms", quick ? "150" : "400"));
const wasmDir = opt("wasm", "");
const clock = opt("clock", "wall");
const capacity = Number(opt("capacity", "0"));
const salientShares = opt("salient", "0").split(",").map(Number);
/** ms of this process's CPU time (user + system). */
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

function randomWeights(
  type: MatrixType,
  m: number,
  k: number,
): { data: Uint8Array; dlt?: { alpha: Uint16Array; gamma: Uint16Array; groupSize: number } } {
  const l = matrixLayout(type, m, k);
  const data = new Uint8Array(l.sourceBytes);
  // random bytes are valid codes except code 3; map every 2-bit field to 0..2 where it matters
  for (let i = 0; i < data.length; i++) data[i] = (Math.random() * 256) | 0;
  const dv = new DataView(data.buffer);
  const f16one = 0x3c00;
  if (type === "TQ2_0" || type === "TQ1_0") {
    const bs = type === "TQ2_0" ? 66 : 54;
    for (let b = 0; b < data.length / bs; b++) {
      if (type === "TQ2_0")
        for (let j = 0; j < 64; j++) data[b * bs + j] = data[b * bs + j]! & 0x55; // codes 0/1
      else for (let j = 0; j < 52; j++) data[b * bs + j] = data[b * bs + j]! % 243;
      dv.setUint16(b * bs + bs - 2, f16one, true);
    }
  } else if (type === "I2_S") {
    for (let i = 0; i < (m * k) / 4; i++) data[i] = data[i]! & 0x55;
    dv.setFloat32((m * k) / 4, 1, true);
  } else if (type === "DLT") {
    for (let i = 0; i < data.length; i++) data[i] = data[i]! & 0x55;
    const n = m * l.groups;
    return { data, dlt: { alpha: new Uint16Array(n).fill(f16one), gamma: new Uint16Array(n).fill(0x2000), groupSize: 128 } };
  } else if (type === "F16") {
    for (let i = 0; i < m * k; i++) dv.setUint16(i * 2, 0x3000 + ((Math.random() * 0x800) | 0), true);
  } else if (type === "F32") {
    for (let i = 0; i < m * k; i++) dv.setFloat32(i * 4, Math.random() - 0.5, true);
  } else if (type === "Q8_0") {
    for (let b = 0; b < (m * k) / 32; b++) dv.setUint16(b * 34, 0x2000, true);
  }
  return { data };
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s[s.length >> 1]!;
}

const rows: Row[] = [];
const log = (s: string) => {
  if (!json) console.log(s);
};
log(`ternion kernel benchmark — ${process.version}, ${simds.join(" + ")}; op = quantize x + W·x; GOPS = 2·m·n·k / t`);
log(
  `${cpus()[0]?.model ?? "cpu?"} × ${cpus().length}; clock ${clock}; load average ${loadavg()
    .map((v) => v.toFixed(2))
    .join(" ")} (other processes skew timings)`,
);
log(
  `${"type".padEnd(6)} ${"m×k".padEnd(10)} ${"n".padStart(4)} ${"thr".padStart(3)} ${"simd".padEnd(8)} ${"sal%".padStart(5)} ${"ms/op".padStart(9)} ${"GOPS".padStart(7)}`,
);
for (const simd of simds) {
  for (const threads of threadCounts) {
    const K = await CpuKernels.create({ simd, threads, wasm: wasmFromDir(wasmDir) });
    if (tile) K.setTile(tile as TernaryTile);
    if (K.threads !== threads) log(`(asked for ${threads} threads, got ${K.threads}: ${K.stats().threadFallbackReason})`);
    for (const type of types) {
      for (const [m, k] of shapes) {
        const { data, dlt } = randomWeights(type, m, k);
        const W = K.uploadMatrix(type, m, k, data, dlt);
        for (const n of ns) {
          const xs = new Float32Array(n * k);
          for (let i = 0; i < xs.length; i++) xs[i] = Math.random() * 2 - 1;
          const x = K.heap.upload(xs);
          const out = K.heap.alloc(n * m * 4);
          const act = K.activationFor(W);
          const qa = capacity && act ? K.allocActivations(act.kind, k, Math.max(capacity, n), act.group) : undefined;
          // a matrix with a side matrix runs as the engine runs it: one thread-pool call for W·x + S·x
          const opOf = (M: Matrix) =>
            qa
              ? () => {
                  K.quantize(qa, x, n);
                  K.matmulQuantized(M, qa, out, m, x);
                }
              : () => K.linear(M, x, n, out);
          const sides = salientShares.map((p) =>
            p > 0 && act ? uploadSalient(K, randomSalient(m, k, { share: p / 100, seed: m + k + p })) : undefined,
          );
          const ops = sides.map((side) => opOf(side ? { ...W, salient: side } : W));
          for (const op of ops) for (let i = 0; i < 2; i++) op();
          const times: number[][] = ops.map(() => []);
          const t0 = performance.now();
          const enough = () => times[0]!.length >= 5 && (performance.now() - t0 >= minMs * ops.length || times[0]!.length >= 1000);
          if (clock === "cpu" && K.threads === 1) {
            while (!enough()) {
              for (const [i, op] of ops.entries()) {
                const a = cpuMs();
                let c = 0;
                do {
                  op();
                  c++;
                } while (cpuMs() - a < 20);
                times[i]!.push((cpuMs() - a) / c);
              }
            }
          } else {
            while (!enough()) {
              for (const [i, op] of ops.entries()) {
                const a = performance.now();
                op();
                times[i]!.push(performance.now() - a);
              }
            }
          }
          for (const [i, share] of salientShares.entries()) {
            if (share > 0 && !act) continue;
            const ms = median(times[i]!);
            const gops = (2 * m * n * k) / (ms * 1e6);
            rows.push({ type, m, k, n, threads: K.threads, simd, salient: share, msPerOp: +ms.toFixed(4), gops: +gops.toFixed(1) });
            log(
              `${type.padEnd(6)} ${`${m}×${k}`.padEnd(10)} ${String(n).padStart(4)} ${String(K.threads).padStart(3)} ${simd.padEnd(8)} ${String(share).padStart(5)} ${ms
                .toFixed(3)
                .padStart(9)} ${gops.toFixed(1).padStart(7)}`,
            );
          }
          for (const side of sides) if (side) freeSalient(K, side);
          K.heap.free(x);
          K.heap.free(out);
          if (qa) K.freeActivations(qa);
        }
        K.freeMatrix(W);
      }
    }
    K.dispose();
  }
}
if (json) console.log(JSON.stringify(rows));
