// Thread-pool dispatch benchmark: the round trip of a trivial parallel kernel call (softmax of 2 rows × 8
// values split over the threads, so the worker's share is a few ns of work) — back to back, and after the
// caller was busy (a busy-wait, as when JS runs between kernel calls) or idle (setTimeout, as between tokens)
// for a while. Also the same calls on 1 thread (the JS → wasm call overhead alone).
//
//   BENCH_ENTRY=bench/dispatch.ts npm run bench:kernels -- [--threads 2] [--calls 20000] [--gaps 20,100,300,1000,3000,10000]
//                                                          [--json] [--spin-us N]
import { CpuKernels } from "../src/runtime/cpu/kernels.ts";
import { cpus, loadavg } from "node:os";
import { wasmFromDir } from "./wasm-dir.ts";

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : def;
};
const json = argv.includes("--json");
const wasmDir = opt("wasm", "");
const threadCounts = opt("threads", "1,2").split(",").map(Number);
const calls = Number(opt("calls", "20000"));
const gaps = opt("gaps", "20,100,300,1000,3000,10000").split(",").map(Number);
const spinUs = argv.includes("--spin-us") ? Number(opt("spin-us", "0")) : undefined;

const pct = (a: number[], p: number) => {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
};
const busy = (us: number) => {
  const end = performance.now() + us / 1000;
  while (performance.now() < end);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Row {
  threads: number;
  mode: string;
  gapUs: number;
  medianUs: number;
  p90Us: number;
}
const rows: Row[] = [];
const log = (s: string) => {
  if (!json) console.log(s);
};
log(
  `ternion dispatch benchmark — ${process.version}; ${cpus()[0]?.model ?? "cpu?"} × ${cpus().length}; load average ${loadavg()
    .map((v) => v.toFixed(2))
    .join(" ")}`,
);
log(`one call = softmax of 2 rows × 8 split over the threads (round trip: dispatch, both slices, completion)`);
log(`${"thr".padStart(3)} ${"mode".padEnd(12)} ${"gap µs".padStart(7)} ${"median µs".padStart(10)} ${"p90 µs".padStart(8)}`);
for (const threads of threadCounts) {
  const K = await CpuKernels.create({
    threads,
    parallelThreshold: 0,
    ...(spinUs !== undefined ? { spin: spinUs } : {}),
    wasm: wasmFromDir(wasmDir),
  });
  if (K.threads !== threads) log(`(asked for ${threads} threads, got ${K.threads}: ${K.stats().threadFallbackReason})`);
  const x = K.heap.upload(new Float32Array(16).fill(0.5));
  const call = () => K.softmax(x, 2, 8);
  const add = (mode: string, gapUs: number, t: number[]) => {
    const r = { threads: K.threads, mode, gapUs, medianUs: +pct(t, 0.5).toFixed(2), p90Us: +pct(t, 0.9).toFixed(2) };
    rows.push(r);
    log(
      `${String(r.threads).padStart(3)} ${mode.padEnd(12)} ${String(gapUs).padStart(7)} ${r.medianUs.toFixed(2).padStart(10)} ${r.p90Us.toFixed(2).padStart(8)}`,
    );
  };
  for (let i = 0; i < 2000; i++) call(); // warm up (JIT of both sides)
  {
    // back to back: batches of 100 calls, µs per call
    const t: number[] = [];
    for (let b = 0; b < calls / 100; b++) {
      const a = performance.now();
      for (let i = 0; i < 100; i++) call();
      t.push(((performance.now() - a) * 1000) / 100);
    }
    add("back-to-back", 0, t);
  }
  for (const g of gaps) {
    const t: number[] = [];
    const n = Math.max(20, Math.min(400, Math.floor(200_000 / (g + 20))));
    for (let i = 0; i < n; i++) {
      busy(g);
      const a = performance.now();
      call();
      t.push((performance.now() - a) * 1000);
    }
    add("after busy", g, t);
  }
  for (const g of gaps.filter((v) => v >= 1000)) {
    const t: number[] = [];
    for (let i = 0; i < 30; i++) {
      await sleep(g / 1000);
      const a = performance.now();
      call();
      t.push((performance.now() - a) * 1000);
    }
    add("after idle", g, t);
  }
  K.heap.free(x);
  K.dispose();
}
if (json) console.log(JSON.stringify(rows));
