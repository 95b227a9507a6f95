// SIMD ceiling of this CPU through V8's wasm: register- and L1-only loops with the instruction mix of the ternary
// kernels' inner loops (bench/ceiling/loops.ts) — no flushes, no memory traffic, no threads. The kernels' GOPS
// (bench/kernels.ts) divided by these is how much of the core they use; what they cannot reach here, no kernel
// of that shape can. Relaxed SIMD build only (the kernels' 8-bit dot). One core; best and median of rounds.
// Plus the memory side: one core's streaming read bandwidth over a buffer past the caches, which bounds a decode
// step once the weights do not fit in them (bytes of weights per token / this = the shortest step): as one stream,
// and as 2–16 streams read at once (the decode kernels read 4 or 8), which is what one core can draw.
//
//   npm run bench:ceiling -- [--rounds 9] [--ms 300] [--stream-mib 256] [--json]
import { compileBenchWasm } from "./asc-compile.ts";
import { cpus, loadavg } from "node:os";

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : def;
};
const json = argv.includes("--json");
const rounds = Number(opt("rounds", "9"));
const targetMs = Number(opt("ms", "300"));

const instance = new WebAssembly.Instance(compileBenchWasm("bench/ceiling/loops.ts", "ceiling"), { env: { abort() {} } });
type Loop = (n: number, arg: number) => number;
const exports = instance.exports as unknown as Record<string, Loop> & { memory: WebAssembly.Memory };
const buf = 1024; // 4 KiB of pseudo-random bytes (codes are masked; activations any i8)
const bytes = new Uint8Array(exports.memory.buffer, buf, 4096);
for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 97 + 13) & 0x7f;

const loops: { name: string; what: string; dotsPerIter: number; fn: Loop; arg: number }[] = [
  { name: "dotAdd", what: "i16 dot + add only (multiply ceiling)", dotsPerIter: 8, fn: exports.dotAdd!, arg: 3 },
  { name: "matvecMix", what: "matvec loop body, 2 rows (nibble unpack, 1.25 ops/dot)", dotsPerIter: 8, fn: exports.matvecMix!, arg: buf },
  { name: "matvecMixReg", what: "matvecMix, masks in registers", dotsPerIter: 8, fn: exports.matvecMixReg!, arg: buf },
  { name: "matvecMixMem", what: "matvecMix, masks loaded at each use", dotsPerIter: 8, fn: exports.matvecMixMem!, arg: buf },
  { name: "matvecRows", what: "the decode kernel's loop (tern_tq2q_rows_t1)", dotsPerIter: 256, fn: exports.matvecRows!, arg: buf },
  { name: "matvecRowsMem", what: "matvecRows, masks loaded at each use", dotsPerIter: 256, fn: exports.matvecRowsMem!, arg: buf },
  { name: "matmulMix", what: "matmul loop, 2 rows × 3 tokens (0.67 ops/dot)", dotsPerIter: 24, fn: exports.matmulMix!, arg: buf },
];

interface Row {
  loop: string;
  what: string;
  gopsBest: number;
  gopsMedian: number;
  dotsPerNs: number;
}
interface MemoryRow {
  loop: string;
  what: string;
  mib: number;
  gbPerSBest: number;
  gbPerSMedian: number;
}
const rows: Row[] = [];
for (const l of loops) {
  let n = 1 << 16;
  for (;;) {
    // size a round to ≈ targetMs (and tier the function up)
    const t0 = performance.now();
    l.fn(n, l.arg);
    const ms = performance.now() - t0;
    if (ms > targetMs / 4) {
      n = Math.max(1, Math.round((n * targetMs) / ms));
      break;
    }
    n *= 4;
  }
  const gops: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    l.fn(n, l.arg);
    const s = (performance.now() - t0) / 1000;
    gops.push((n * l.dotsPerIter * 32) / s / 1e9);
  }
  gops.sort((a, b) => b - a);
  rows.push({ loop: l.name, what: l.what, gopsBest: gops[0]!, gopsMedian: gops[rounds >> 1]!, dotsPerNs: gops[0]! / 32 });
}
// memory: a buffer well past the last-level cache (the weights of a decode step), read in passes
const streamMiB = Number(opt("stream-mib", "256"));
const streamBuf = 1 << 16;
const pages = Math.ceil((streamBuf + streamMiB * 2 ** 20) / 65536) - exports.memory.buffer.byteLength / 65536;
if (pages > 0) exports.memory.grow(pages);
new Uint8Array(exports.memory.buffer, streamBuf, streamMiB * 2 ** 20).fill(1); // touch every page first
const streamRead = exports.streamRead as unknown as (passes: number, buf: number, bytes: number) => number;
const streamReadFar = exports.streamReadFar as unknown as (passes: number, buf: number, bytes: number, streams: number) => number;
/** GB/s of rounds of `read` over the buffer, best and median. */
function readRate(what: string, loop: string, read: () => void): MemoryRow {
  read(); // tier the function up
  const gbs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    read();
    gbs.push((streamMiB * 2 ** 20) / ((performance.now() - t0) / 1000) / 1e9);
  }
  gbs.sort((a, b) => b - a);
  return { loop, what, mib: streamMiB, gbPerSBest: gbs[0]!, gbPerSMedian: gbs[rounds >> 1]! };
}
const streamBytes = streamMiB * 2 ** 20;
const memory: MemoryRow = readRate("16-byte loads over a buffer past the caches", "streamRead", () => streamRead(1, streamBuf, streamBytes));
// the decode kernels read 4 (ternary quads) or 8 (F16 head) streams at once
const farStreams = [2, 4, 8, 16].map((n) =>
  readRate(`${n} streams at once, 16 bytes of each in turn`, `streamReadFar${n}`, () => streamReadFar(1, streamBuf, streamBytes, n)),
);

if (json) console.log(JSON.stringify({ compute: rows, memory, farStreams }));
else {
  console.log(`ternion SIMD ceiling — ${process.version}, ${cpus()[0]?.model ?? "?"} (1 core); GOPS = 32 per 16-MAC dot`);
  console.log(
    `load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
  );
  console.log("loop        best GOPS  median  dots/ns  what");
  for (const r of rows) {
    console.log(
      `${r.loop.padEnd(11)} ${r.gopsBest.toFixed(1).padStart(9)} ${r.gopsMedian.toFixed(1).padStart(7)} ${r.dotsPerNs.toFixed(2).padStart(8)}  ${r.what}`,
    );
  }
  for (const m of [memory, ...farStreams]) {
    console.log(`${m.loop.padEnd(16)} best ${m.gbPerSBest.toFixed(2)} GB/s, median ${m.gbPerSMedian.toFixed(2)} (${streamMiB} MiB, ${m.what})`);
  }
}
