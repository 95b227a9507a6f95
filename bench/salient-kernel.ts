// The salient side matrix's product alone (assembly/kernels/salient.ts through src/runtime/cpu/salient.ts's
// salientMatmul, one token): ns per entry on the BitNet b1.58 700M and 2B-4T shapes, random side matrices of
// --share % (test/helpers/salient.ts) with even or binomial rows. With --copies 1 the side matrix and x stay in the
// caches: the kernel's own cost; --copies N takes N side matrices of each shape in turn (seeds 1…N), so that past
// the caches their entries stream from memory, as in a model's decode step (bench/salient.ts measures that whole;
// bench:kernels --salient the op with the ternary product). Each shape runs --rounds batches of ≥ 2 M entries; the
// table gives the best and the median batch.
//
//   BENCH_ENTRY=bench/salient-kernel.ts node scripts/bench-kernels.mjs [--share 1] [--threads 1] [--rounds 15]
//                                       [--shapes 1536x1536,4096x1536,1536x4096,6912x2560,2560x6912] [--rows even,binomial]
//                                       [--copies 1]
import { loadavg } from "node:os";
import { CpuKernels } from "../src/runtime/cpu/kernels.ts";
import { freeSalient, salientMatmul, uploadSalient } from "../src/runtime/cpu/salient.ts";
import { relaxedSimdSupported } from "../src/runtime/cpu/wasm/features.ts";
import { randomSalient } from "../test/helpers/salient.ts";

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : def;
};
const share = Number(opt("share", "1"));
const threads = Number(opt("threads", "1"));
const rounds = Number(opt("rounds", "15"));
const shapes = opt("shapes", "1536x1536,4096x1536,1536x4096,6912x2560,2560x6912")
  .split(",")
  .map((s) => s.split("x").map(Number) as [number, number]);
const copies = Number(opt("copies", "1"));
const rowKinds = opt("rows", "even,binomial").split(",") as Array<"even" | "binomial">;
for (const k of rowKinds) if (k !== "even" && k !== "binomial") throw new Error(`--rows takes even and binomial, got ${k}`);

const K = await CpuKernels.create({ simd: relaxedSimdSupported() ? "relaxed" : "simd128", threads });
console.log(
  `salient product alone, ${share} % of the weights, ${K.build}, ${K.threads} thread(s); load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`,
);
console.log("shape (m×k)   rows        entries  ns/entry best  median");
let first = true;
for (const [rows, cols] of shapes) {
  for (const kind of rowKinds) {
    const data = Array.from({ length: copies }, (_, c) => randomSalient(rows, cols, { share: share / 100, seed: 5 + c, rowLengths: kind }));
    const sides = data.map((s) => uploadSalient(K, s));
    const entries = data.reduce((sum, s) => sum + s.idx.length, 0);
    const x = K.heap.upload(Float32Array.from({ length: cols }, (_, i) => Math.sin(i)));
    const out = K.heap.upload(new Float32Array(rows));
    const reps = Math.max(1, Math.ceil(2e6 / entries));
    const batch = () => {
      for (let i = 0; i < reps; i++) for (const side of sides) salientMatmul(K, side, x, 1, out);
    };
    const ns: number[] = [];
    // warm-up: ≥ 0.5 s before the first shape (V8 tiers the kernel up from its baseline compiler meanwhile), one batch before the others
    const warmUntil = performance.now() + (first ? 500 : 0);
    first = false;
    do batch();
    while (performance.now() < warmUntil);
    for (let r = 0; r < rounds; r++) {
      const t0 = process.hrtime.bigint();
      batch();
      ns.push(Number(process.hrtime.bigint() - t0) / reps / entries);
    }
    ns.sort((a, b) => a - b);
    const shape = `${rows}×${cols}`.padEnd(13);
    console.log(
      `${shape} ${kind.padEnd(9)} ${String(entries).padStart(9)}  ${ns[0]!.toFixed(3).padStart(13)}  ${ns[Math.floor(rounds / 2)]!.toFixed(3).padStart(6)}`,
    );
    for (const p of [x, out]) K.heap.free(p);
    for (const side of sides) freeSalient(K, side);
  }
}
K.dispose();
