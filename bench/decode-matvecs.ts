// The ternary matvecs of one decode step alone, by role (q/k/v, o, gate/up, down), on a stack of layers with
// distinct random weights (so that, as in the engine, they stream from memory: 170 MB of codes per token on the
// 700M shape), with the matrices that share an input run as separate calls or as one set (CpuKernels.matmulQuantizedSet,
// what the engine's decode does). Thread counts and modes alternate round by round in one process; 1-thread rows
// are timed by the process's CPU time, others by the wall clock; medians over rounds, with the spread.
//
//   BENCH_ENTRY=bench/decode-matvecs.ts npm run bench:kernels -- [--shape 700M|2B] [--type TQ2_0|I2_S] [--layers N]
//       [--threads 1,2] [--modes separate,set] [--rounds 5] [--tokens 4] [--batch 1] [--simd relaxed|simd128] [--clock cpu|wall] [--json]
// --batch N runs each matrix on N tokens a call (a prefill batch: from 16 tokens a thread, the Vec-LUT matmul) instead of
// one; times stay per token.
// --clock wall times 1-thread rows by the wall clock too (the speedup of 2 threads is wall against wall).
// --layers 1 keeps one layer's weights (7 MB on 700M) for every layer: nearer the caches (bench:kernels' situation).
import { CpuKernels, type Matrix, type QuantizedActivations } from "../src/runtime/cpu/kernels.ts";
import { matrixLayout, type MatrixType } from "../src/runtime/cpu/layout.ts";
import { relaxedSimdSupported } from "../src/runtime/cpu/wasm/features.ts";
import type { SimdBuild } from "../src/runtime/cpu/wasm/loader.ts";
import { cpus, loadavg } from "node:os";
import { randomFillSync } from "node:crypto";
import { wasmFromDir } from "./wasm-dir.ts";

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : def;
};
/** BitNet b1.58 shapes: the synthetic files of bench/decode.ts. */
const SHAPES = {
  "700M": { dim: 1536, kvDim: 1536, ffn: 4096, layers: 24 },
  "2B": { dim: 2560, kvDim: 640, ffn: 6912, layers: 30 },
} as const;
const shapeName = opt("shape", "700M") as keyof typeof SHAPES;
const shape = SHAPES[shapeName];
if (!shape) throw new Error(`unknown --shape ${shapeName} (700M or 2B)`);
const type = opt("type", "TQ2_0") as MatrixType;
if (type !== "TQ2_0" && type !== "I2_S") throw new Error(`--type must be TQ2_0 or I2_S, got ${type}`);
const layers = Number(opt("layers", String(shape.layers)));
const threadCounts = opt("threads", "1,2").split(",").map(Number);
const modes = opt("modes", "separate,set").split(",") as Array<"separate" | "set">;
const rounds = Number(opt("rounds", "5"));
const tokens = Number(opt("tokens", "4"));
const batch = Number(opt("batch", "1"));
if (!Number.isInteger(batch) || batch < 1 || batch > 512) throw new Error(`--batch must be an integer in 1…512, got ${batch}`);
const simd = opt("simd", relaxedSimdSupported() ? "relaxed" : "simd128") as SimdBuild;
const wasmDir = opt("wasm", "");
const json = argv.includes("--json");
const clockName = opt("clock", "cpu");
if (clockName !== "cpu" && clockName !== "wall") throw new Error(`--clock must be cpu or wall, got ${clockName}`);

const ROLES = ["q/k/v", "o", "gate/up", "down"] as const;
type Role = (typeof ROLES)[number];
/** [rows, cols] of each matrix of a role. */
const ROLE_MATRICES: Record<Role, Array<[number, number]>> = {
  "q/k/v": [
    [shape.dim, shape.dim],
    [shape.kvDim, shape.dim],
    [shape.kvDim, shape.dim],
  ],
  o: [[shape.dim, shape.dim]],
  "gate/up": [
    [shape.ffn, shape.dim],
    [shape.ffn, shape.dim],
  ],
  down: [[shape.dim, shape.ffn]],
};
const roleOps = (role: Role) => ROLE_MATRICES[role].reduce((s, [m, k]) => s + 2 * m * k, 0) * layers;

/** Random codes 0/1 (never 3) with unit scales, in the format's bytes. */
function randomWeights(m: number, k: number): Uint8Array {
  const l = matrixLayout(type, m, k);
  const data = new Uint8Array(l.sourceBytes);
  for (let o = 0; o < data.length; o += 65536) randomFillSync(data, o, Math.min(65536, data.length - o));
  const dv = new DataView(data.buffer);
  if (type === "TQ2_0") {
    for (let b = 0; b < data.length / 66; b++) {
      for (let j = 0; j < 64; j++) data[b * 66 + j]! &= 0x55;
      dv.setUint16(b * 66 + 64, 0x3c00, true);
    }
  } else {
    for (let i = 0; i < (m * k) / 4; i++) data[i]! &= 0x55;
    dv.setFloat32((m * k) / 4, 1, true);
  }
  return data;
}

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

interface Stack {
  K: CpuKernels;
  /** per layer, per role: its matrices */
  mats: Array<Record<Role, Matrix[]>>;
  acts: Record<"in" | "ffn", QuantizedActivations>;
  x: { in: number; ffn: number };
  outs: Record<Role, number[]>;
}

async function makeStack(threads: number): Promise<Stack> {
  const K = await CpuKernels.create({ simd, threads, wasm: wasmFromDir(wasmDir) });
  if (K.threads !== threads) throw new Error(`asked for ${threads} threads, got ${K.threads}: ${K.stats().threadFallbackReason}`);
  const mats: Stack["mats"] = [];
  for (let l = 0; l < layers; l++) {
    const layer = {} as Record<Role, Matrix[]>;
    for (const role of ROLES) layer[role] = ROLE_MATRICES[role].map(([m, k]) => K.uploadMatrix(type, m, k, randomWeights(m, k)));
    mats.push(layer);
  }
  const kind = type === "TQ2_0" ? "q8k" : "token";
  const upload = (k: number) => K.heap.upload(Float32Array.from({ length: k * batch }, () => Math.random() * 2 - 1));
  const outs = {} as Record<Role, number[]>;
  for (const role of ROLES) outs[role] = ROLE_MATRICES[role].map(([m]) => K.heap.alloc(m * 4 * batch));
  return {
    K,
    mats,
    // capacity 512, as the engine sizes them for its prefill batch
    acts: { in: K.allocActivations(kind, shape.dim, 512), ffn: K.allocActivations(kind, shape.ffn, 512) },
    x: { in: upload(shape.dim), ffn: upload(shape.ffn) },
    outs,
  };
}

/** ms per token of each role over `tokens` tokens of all layers. */
function runTokens(s: Stack, mode: "separate" | "set"): Record<Role, number> {
  const { K } = s;
  const clock = K.threads === 1 && clockName === "cpu" ? cpuMs : () => performance.now();
  const ms: Record<Role, number> = { "q/k/v": 0, o: 0, "gate/up": 0, down: 0 };
  for (let t = 0; t < tokens; t++) {
    for (let l = 0; l < layers; l++) {
      for (const role of ROLES) {
        const a = role === "down" ? s.acts.ffn : s.acts.in;
        const t0 = clock();
        K.quantize(a, role === "down" ? s.x.ffn : s.x.in, batch);
        const ws = s.mats[l]![role];
        const outs = s.outs[role];
        if (mode === "set" && ws.length > 1) K.matmulQuantizedSet(ws, a, outs);
        else for (let i = 0; i < ws.length; i++) K.matmulQuantized(ws[i]!, a, outs[i]!);
        ms[role] += clock() - t0;
      }
    }
  }
  for (const role of ROLES) ms[role] /= tokens * batch;
  return ms;
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
const log = (line: string) => {
  if (!json) console.log(line);
};
const load = () =>
  loadavg()
    .map((v) => v.toFixed(2))
    .join(" ");

log(
  `ternion decode matvecs — ${process.version}, ${simd}, ${cpus()[0]?.model ?? "cpu?"} × ${cpus().length}; ${shapeName} ${type}, ${layers} layers; load average ${load()}`,
);
const stacks = new Map<number, Stack>();
for (const threads of threadCounts) stacks.set(threads, await makeStack(threads));
const samples = new Map<string, Array<Record<Role, number>>>();
for (const threads of threadCounts) for (const mode of modes) runTokens(stacks.get(threads)!, mode); // warm-up
for (let r = 0; r < rounds; r++) {
  for (const threads of threadCounts) {
    for (const mode of modes) {
      const key = `${threads}:${mode}`;
      if (!samples.has(key)) samples.set(key, []);
      samples.get(key)!.push(runTokens(stacks.get(threads)!, mode));
    }
  }
}
log(
  `load average after: ${load()}; ${clockName === "cpu" ? "1 thread: CPU time, more threads: wall clock" : "wall clock"}; ms per token (median of ${rounds} rounds of ${tokens} × ${batch} tokens, min–max), GOPS of the median`,
);
log(`thr  mode      ${[...ROLES, "all"].map((r) => r.padStart(25)).join("")}`);
const rows: Array<{ threads: number; mode: string; role: string; msMedian: number; msMin: number; msMax: number; gops: number }> = [];
for (const threads of threadCounts) {
  for (const mode of modes) {
    const list = samples.get(`${threads}:${mode}`)!;
    const cells: string[] = [];
    for (const role of [...ROLES, "all"] as const) {
      const v = list.map((x) => (role === "all" ? ROLES.reduce((s, q) => s + x[q], 0) : x[role]));
      const ops = role === "all" ? ROLES.reduce((s, q) => s + roleOps(q), 0) : roleOps(role);
      const med = median(v);
      const gops = ops / (med * 1e6);
      rows.push({ threads, mode, role, msMedian: med, msMin: Math.min(...v), msMax: Math.max(...v), gops });
      cells.push(`${med.toFixed(2)} (${Math.min(...v).toFixed(1)}–${Math.max(...v).toFixed(1)}) ${gops.toFixed(0)}`.padStart(25));
    }
    log(`${String(threads).padStart(3)}  ${mode.padEnd(8)}${cells.join("")}`);
  }
}
if (json) console.log(JSON.stringify({ shape: shapeName, type, layers, simd, rows }));
for (const s of stacks.values()) s.K.dispose();
