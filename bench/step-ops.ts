// The decode step's non-ternary ops in isolation, on the 700M BitNet b1.58 shape: the F16 output head
// (32002 × 1536, one token) and attention of one token over an f16 or q8_0 KV cache (16 heads of 96, 200 positions,
// 24 layers' caches), 1 and 2 threads, both wasm builds. 1-thread rows are timed by the process's CPU time (the machine is
// shared), 2-thread rows by the wall clock; the median of repeated batches.
//
//   BENCH_ENTRY=bench/step-ops.ts npm run bench:kernels -- [--json] [--threads 1,2] [--simd relaxed,simd128]
//                                                          [--positions 200] [--ops head,attention] [--min-ms 300]
//                                                          [--head-types F16,Q8_0,int8] [--head-shape 32002x1536]
//                                                          [--kv-types f16,q8_0] [--layers 24]
// The Q8_0 head is the F16 one quantized, run by the float kernel (f32 activations); int8 is the same Q8_0 weights
// with the activations quantized to int8 per 32 (the engine's opt-in headType "q8_0", quantization included).
import { attend, storeKv, type KvType } from "../src/runtime/cpu/attention.ts";
import { KvCache } from "../src/runtime/cpu/kv-cache.ts";
import { f16BitsToF32 } from "../src/runtime/tensor-types/half.ts";
import { GgmlType, tensorTypeTraits } from "../src/runtime/tensor-types/table.ts";
import { CpuKernels } from "../src/runtime/cpu/kernels.ts";
import type { SimdBuild } from "../src/runtime/cpu/wasm/loader.ts";
import { loadavg } from "node:os";
import { wasmFromDir } from "./wasm-dir.ts";

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : def;
};
const wasmDir = opt("wasm", "");
const threadCounts = opt("threads", "1,2").split(",").map(Number);
const builds = opt("simd", "relaxed,simd128").split(",") as SimdBuild[];
const positions = Number(opt("positions", "200"));
const ops = opt("ops", "head,attention").split(",");
const minMs = Number(opt("min-ms", "300"));
const headTypes = opt("head-types", "F16,Q8_0,int8").split(",") as ("F16" | "Q8_0" | "int8")[];
const kvTypes = opt("kv-types", "f16,q8_0").split(",") as KvType[];
// distinct caches, one per layer: 24 (the 700M's) makes the cache come from memory, as in the engine; 1 keeps it in L2
const layers = Number(opt("layers", "24"));

// the head's rows × columns: the 700M's by default; 128256x2560 is BitNet b1.58 2B-4T's tied F16 head (657 MB)
const [VOCAB, DIM] = opt("head-shape", "32002x1536").split("x").map(Number) as [number, number];
const HEADS = 16; // attention: the 700M's heads
const HEAD_DIM = 96;

/** ms per call: median of 5 batches of at least minMs/5 each; CPU time for one thread. */
function time(fn: () => void, cpu: boolean): number {
  const now = () => (cpu ? process.cpuUsage().user / 1000 : performance.now());
  fn();
  const per: number[] = [];
  for (let b = 0; b < 5; b++) {
    let calls = 0;
    const t0 = now();
    let t = t0;
    while (t - t0 < minMs / 5) {
      fn();
      calls++;
      t = now();
    }
    per.push((t - t0) / calls);
  }
  per.sort((a, b) => a - b);
  return per[2]!;
}

function randomHalves(n: number, seed: number): Uint8Array {
  // halves of N(0, 0.02²)-ish values: a trained head's magnitudes
  const out = new Uint16Array(n);
  let s = seed >>> 0;
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  for (let i = 0; i < n; i++) {
    s = (s * 1664525 + 1013904223) >>> 0;
    f[0] = ((s / 2 ** 32 - 0.5) * 0.08) as number;
    const b = u[0]!;
    out[i] = ((b >>> 16) & 0x8000) | (Math.max(0, ((b >>> 23) & 0xff) - 112) << 10) | ((b >>> 13) & 0x3ff);
  }
  return new Uint8Array(out.buffer);
}

/** F16 bits to f32 in a loop (Float32Array.from with a map function runs out of heap on the 2B-4T head). */
function halvesToF32(bytes: Uint8Array): Float32Array {
  const h = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1);
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = f16BitsToF32(h[i]!);
  return out;
}

console.log(
  `load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(" ")}`,
);
for (const simd of builds) {
  for (const threads of threadCounts) {
    const K = await CpuKernels.create({ simd, threads, wasm: wasmFromDir(wasmDir) });
    const cpu = threads === 1;
    if (ops.includes("head")) {
      const halves = randomHalves(VOCAB * DIM, 1);
      const x = K.heap.upload(Float32Array.from({ length: DIM }, (_, i) => Math.sin(i)));
      const out = K.heap.alloc(VOCAB * 4);
      for (const type of headTypes) {
        const bytes = type === "F16" ? halves : tensorTypeTraits(GgmlType.Q8_0).quantize(halvesToF32(halves));
        const w = K.uploadMatrix(type === "F16" ? "F16" : "Q8_0", VOCAB, DIM, bytes);
        const a = K.allocActivations("group", DIM, 1, 32);
        const ms = time(
          type === "int8"
            ? () => {
                K.quantize(a, x, 1);
                K.matmulInt8Head(w, a, out);
              }
            : () => K.matmulFloat(w, x, 1, out),
          cpu,
        );
        K.freeActivations(a);
        const gmac = (VOCAB * DIM) / ms / 1e6;
        console.log(
          `head ${type.padEnd(4)} ${VOCAB}×${DIM}  ${simd.padEnd(7)} ${threads} thr  ${ms.toFixed(3)} ms  ${gmac.toFixed(2)} G MAC/s  ${(bytes.byteLength / ms / 1e6).toFixed(1)} GB/s`,
        );
        K.freeMatrix(w);
      }
    }
    if (ops.includes("attention")) {
      const width = HEADS * HEAD_DIM;
      const h = K.heap;
      const kv = h.upload(Float32Array.from({ length: positions * width }, (_, i) => Math.sin(i * 0.37)));
      const q = h.upload(Float32Array.from({ length: width }, (_, i) => Math.cos(i * 0.11)));
      const out = h.alloc(width * 4);
      const scores = h.alloc(HEADS * positions * 4);
      for (const type of kvTypes) {
        const shape = { heads: HEADS, kvHeads: HEADS, headDim: HEAD_DIM, type };
        const bytes = KvCache.layerBytes(HEADS, HEAD_DIM, positions, type);
        const caches = Array.from({ length: layers }, () => ({ k: h.alloc(bytes), v: h.alloc(bytes), capacity: positions }));
        for (const c of caches) storeKv(K, c, kv, kv, positions, 0, shape);
        const ms = time(() => {
          for (const c of caches) attend(K, c, q, out, scores, 1, positions - 1, shape);
        }, cpu);
        const per24 = (ms / layers) * 24;
        console.log(
          `attention ${type.padEnd(4)} ${HEADS}×${HEAD_DIM}, ${positions} positions, ${layers} layer caches  ${simd.padEnd(7)} ${threads} thr  ` +
            `${per24.toFixed(2)} ms per 24 layers  ${((2 * bytes * 24) / per24 / 1e6).toFixed(1)} GB/s`,
        );
        for (const c of caches) h.free(c.k), h.free(c.v);
      }
    }
    K.dispose();
  }
}
