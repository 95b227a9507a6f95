// Decode matvec of TQ2_0 codes in the library's row pairs against a row-quad interleaved prototype
// (bench/layout/kernels.ts), side by side in one process: the same random matrix in both layouts, outputs checked
// bit-identical, then timed round robin on matrices that fit the caches and on matrices past them (a real
// model's decode step streams its weights from memory). Kernel only (activations quantized once, up front).
//
//   npm run bench:layout -- [--shapes 4096x4096,16384x8192] [--rounds 15] [--json]
import { compileBenchWasm } from "./asc-compile.ts";
import { cpus, loadavg } from "node:os";

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : def;
};
const json = argv.includes("--json");
const rounds = Number(opt("rounds", "15"));
const shapes = opt("shapes", "4096x4096,16384x8192").split(",").map((s) => s.split("x").map(Number) as [number, number]);

interface Kernels {
  memory: WebAssembly.Memory;
  pairMatvec(w: number, rowBytes: number, a: number, sw: number, sgs: number, ad: number, as: number, gs: number, nUnits: number, m: number, o: number): void;
  quadMatvec(w: number, a: number, sw: number, sgs: number, ad: number, as: number, gs: number, nBlocks: number, m: number, o: number): void;
}
const kernels = new WebAssembly.Instance(compileBenchWasm("bench/layout/kernels.ts", "layout"), { env: { abort() {} } }).exports as unknown as Kernels;

interface Row { m: number; k: number; codeMiB: number; layout: "row pairs" | "row quads"; gopsBest: number; gopsMedian: number; gbPerSBest: number }
const rows: Row[] = [];
for (const [m, k] of shapes) {
  if (m % 4 || k % 256) throw new Error(`shape ${m}x${k}: m must be a multiple of 4 and k of 256`);
  const rowBytes = k / 4, nb = k / 256, codeBytes = m * rowBytes;
  let p = 1 << 16;
  const alloc = (n: number) => { const r = p; p += (n + 63) & ~63; return r; };
  const wT2 = alloc(codeBytes), wPair = alloc(codeBytes), wQuad = alloc(codeBytes), a = alloc(k), sw = alloc(nb * m * 4), ad = alloc(nb * 4);
  const as = alloc(nb * 4), oPair = alloc(m * 4), oQuad = alloc(m * 4);
  const grow = Math.ceil(p / 65536) - kernels.memory.buffer.byteLength / 65536;
  if (grow > 0) kernels.memory.grow(grow);
  const u8 = new Uint8Array(kernels.memory.buffer), i8 = new Int8Array(kernels.memory.buffer);
  const f32 = new Float32Array(kernels.memory.buffer), i32 = new Int32Array(kernels.memory.buffer);
  for (let i = 0; i < codeBytes; i++) {
    let b = 0;
    for (let f = 0; f < 4; f++) b |= ((Math.random() * 3) | 0) << (2 * f);
    u8[wT2 + i] = b;
  }
  // pair p, unit u, row r: the 16 code bytes 16u…16u+15 of row 2p+r's T2 row
  for (let q = 0; q < m / 2; q++) for (let u = 0; u < k / 64; u++) for (let r = 0; r < 2; r++) {
    const from = wT2 + (2 * q + r) * rowBytes + 16 * u;
    u8.copyWithin(wPair + q * 2 * rowBytes + 32 * u + 16 * r, from, from + 16);
  }
  // quad q, chunk c, step s, row r: the 4 code bytes 4s…4s+3 of row 4q+r's chunk c
  for (let q = 0; q < m / 4; q++) for (let c = 0; c < k / 128; c++) for (let s = 0; s < 8; s++) for (let r = 0; r < 4; r++) {
    const from = wT2 + (4 * q + r) * rowBytes + c * 32 + 4 * s;
    u8.copyWithin(wQuad + q * 4 * rowBytes + c * 128 + s * 16 + r * 4, from, from + 4);
  }
  for (let i = 0; i < k; i++) i8[a + i] = ((Math.random() * 255) | 0) - 127;
  for (let i = 0; i < nb * m; i++) f32[sw / 4 + i] = Math.random();
  for (let b = 0; b < nb; b++) {
    f32[ad / 4 + b] = Math.random() * 0.01;
    let s = 0;
    for (let i = 0; i < 256; i++) s += i8[a + b * 256 + i]!;
    i32[as / 4 + b] = s;
  }
  const runPair = () => kernels.pairMatvec(wPair, rowBytes, a, sw, 4 * m, ad, as, 4, k / 64, m, oPair);
  const runQuad = () => kernels.quadMatvec(wQuad, a, sw, 4 * m, ad, as, 4, nb, m, oQuad);
  runPair();
  runQuad();
  for (let r = 0; r < m; r++) {
    if (!Object.is(f32[oPair / 4 + r], f32[oQuad / 4 + r])) throw new Error(`${m}x${k}: row ${r} differs: ${f32[oPair / 4 + r]} vs ${f32[oQuad / 4 + r]}`);
  }
  // batches of ≈ 40 ms, round robin
  const t0 = performance.now();
  runPair();
  const reps = Math.max(1, Math.round(40 / Math.max(0.01, performance.now() - t0)));
  const times: Record<string, number[]> = { pair: [], quad: [] };
  for (let round = 0; round < rounds; round++) {
    for (const [name, fn] of [["pair", runPair], ["quad", runQuad]] as const) {
      const s = performance.now();
      for (let i = 0; i < reps; i++) fn();
      times[name]!.push((performance.now() - s) / reps);
    }
  }
  for (const [name, layout] of [["pair", "row pairs"], ["quad", "row quads"]] as const) {
    const t = times[name]!.sort((x, y) => x - y);
    const gops = (ms: number) => (2 * m * k) / ms / 1e6;
    rows.push({ m, k, codeMiB: codeBytes / 2 ** 20, layout, gopsBest: gops(t[0]!), gopsMedian: gops(t[t.length >> 1]!),
      gbPerSBest: codeBytes / t[0]! / 1e6 });
  }
}
if (json) console.log(JSON.stringify(rows));
else {
  console.log(`ternion TQ2_0 matvec layouts — ${process.version}, ${cpus()[0]?.model ?? "?"} (1 thread), relaxed SIMD; outputs bit-identical`);
  console.log(`load average ${loadavg().map((x) => x.toFixed(2)).join(" ")}; GOPS = 2·m·k / t, best and median of ${rounds} rounds`);
  console.log("m×k           codes MiB  layout      best GOPS  median  code GB/s");
  for (const r of rows) {
    console.log(`${`${r.m}×${r.k}`.padEnd(13)} ${r.codeMiB.toFixed(1).padStart(9)}  ${r.layout.padEnd(10)} ${r.gopsBest.toFixed(1).padStart(10)} ${r.gopsMedian.toFixed(1).padStart(7)} ${r.gbPerSBest.toFixed(2).padStart(10)}`);
  }
}
