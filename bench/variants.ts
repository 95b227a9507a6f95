// Side-by-side comparison of kernel builds (A/B): the same ops on two or more wasm directories, and/or ternary tiles
// of one build (--tiles auto,lut: the multiply-add tiles against the Vec-LUT matmul), interleaved in one process
// (round robin, short batches), so that the load of other processes hits every variant alike.
// Prints, per variant, the best and the median time per op and GOPS (2·m·n·k / t, activation quantization
// included as in bench/kernels.ts).
//
//   BENCH_ENTRY=bench/variants.ts npm run bench:kernels -- --wasm-dirs /tmp/base,dist/wasm \
//     [--types TQ2_0,I2_S] [--shapes 4096x4096] [--n 1,128] [--threads 1] [--simd relaxed] [--rounds 15] [--batch-ms 40]
//     [--tiles auto] [--clock wall|cpu]   (cpu: the process's CPU time, steadier on a shared machine for 1 thread)
import { CpuKernels, type TernaryTile } from "../src/runtime/cpu/kernels.ts";
import { matrixLayout, type MatrixType } from "../src/runtime/cpu/layout.ts";
import type { SimdBuild } from "../src/runtime/cpu/wasm/loader.ts";
import { loadavg } from "node:os";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : def;
};
const dirs = opt("wasm-dirs", "dist/wasm")
  .split(",")
  .map((d) => resolve(d));
const types = opt("types", "TQ2_0,I2_S").split(",") as MatrixType[];
const shapes = opt("shapes", "4096x4096")
  .split(",")
  .map((s) => s.split("x").map(Number) as [number, number]);
const ns = opt("n", "1,128").split(",").map(Number);
const threadCounts = opt("threads", "1").split(",").map(Number);
const simds = opt("simd", "relaxed").split(",") as SimdBuild[];
const rounds = Number(opt("rounds", "15"));
const batchMs = Number(opt("batch-ms", "40"));
const tiles = opt("tiles", "auto").split(",") as TernaryTile[];
const clock = opt("clock", "wall");
if (clock !== "wall" && clock !== "cpu") throw new Error(`--clock must be wall or cpu, got ${clock}`);
/** ms on the chosen clock. */
const now = clock === "cpu" ? () => process.cpuUsage().user / 1000 + process.cpuUsage().system / 1000 : () => performance.now();
const variants = dirs.flatMap((dir) => tiles.map((tile) => ({ dir, tile })));

function weights(type: MatrixType, m: number, k: number): Uint8Array {
  const l = matrixLayout(type, m, k);
  const data = new Uint8Array(l.sourceBytes);
  const dv = new DataView(data.buffer);
  const code = () => [0, 1, 2][(Math.random() * 3) | 0]!;
  const byte = () => code() | (code() << 2) | (code() << 4) | (code() << 6);
  if (type === "TQ2_0") {
    for (let b = 0; b < data.length / 66; b++) {
      for (let j = 0; j < 64; j++) data[b * 66 + j] = byte();
      dv.setUint16(b * 66 + 64, 0x3c00, true);
    }
  } else if (type === "I2_S") {
    for (let i = 0; i < (m * k) / 4; i++) data[i] = byte();
    dv.setFloat32((m * k) / 4, 1, true);
  } else throw new Error(`variants: type ${type} not supported`);
  return data;
}

const median = (a: number[]) => [...a].sort((x, y) => x - y)[a.length >> 1]!;
console.log(
  `variants: ${variants.map((v) => `${v.dir} ${v.tile}`).join(" | ")}; clock ${clock}; load average ${loadavg()
    .map((v) => v.toFixed(2))
    .join(" ")}`,
);
for (const simd of simds) {
  for (const threads of threadCounts) {
    // bytes, not { baseUrl }: the loader's module cache keys a baseUrl source as "[object Object]"
    const Ks = await Promise.all(
      variants.map(({ dir, tile }) =>
        CpuKernels.create({
          simd,
          threads,
          tile,
          wasm: { relaxed: readFileSync(`${dir}/ternion-relaxed.wasm`), simd128: readFileSync(`${dir}/ternion-simd.wasm`) },
        }),
      ),
    );
    for (const type of types) {
      for (const [m, k] of shapes) {
        const data = weights(type, m, k);
        for (const n of ns) {
          const xs = new Float32Array(n * k);
          for (let i = 0; i < xs.length; i++) xs[i] = Math.random() * 2 - 1;
          const setups = Ks.map((K) => {
            const W = K.uploadMatrix(type, m, k, data);
            const x = K.heap.upload(xs);
            const out = K.heap.alloc(n * m * 4);
            for (let i = 0; i < 3; i++) K.linear(W, x, n, out);
            return { K, W, x, out, times: [] as number[] };
          });
          // same results from every variant (bit-exact kernels)
          const ref = setups[0]!.K.heap.f32.slice(setups[0]!.out >> 2, (setups[0]!.out >> 2) + n * m);
          for (const s of setups.slice(1)) {
            const o = s.K.heap.f32.subarray(s.out >> 2, (s.out >> 2) + n * m);
            for (let i = 0; i < o.length; i++) if (!Object.is(o[i], ref[i])) throw new Error(`variant ${s.K.stats().wasmFrom} differs at ${i}`);
          }
          for (let r = 0; r < rounds; r++) {
            for (const s of setups) {
              const t0 = now();
              let c = 0;
              do {
                s.K.linear(s.W, s.x, n, s.out);
                c++;
              } while (now() - t0 < batchMs);
              s.times.push((now() - t0) / c);
            }
          }
          const cells = setups.map((s) => {
            const best = Math.min(...s.times);
            const med = median(s.times);
            const g = (ms: number) => ((2 * m * n * k) / (ms * 1e6)).toFixed(1);
            return `${g(best).padStart(6)} best ${g(med).padStart(6)} med (${med.toFixed(3)} ms)`;
          });
          console.log(
            `${type.padEnd(6)} ${`${m}×${k}`.padEnd(10)} n ${String(n).padStart(4)} thr ${threads} ${simd.padEnd(8)} | ${cells.join(" | ")}`,
          );
          for (const s of setups) {
            s.K.freeMatrix(s.W);
            s.K.heap.free(s.x);
            s.K.heap.free(s.out);
          }
        }
      }
    }
    for (const K of Ks) K.dispose();
  }
}
