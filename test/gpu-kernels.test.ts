// Every WGSL kernel, run for real on SwiftShader, against the scalar references of the CPU path
// (src/runtime/cpu/reference) on random shapes with ragged edges: rows not a multiple of a workgroup's 8,
// token counts not a multiple of the prefill tile, row lengths not a multiple of 128 (DLT), float matrices
// split into several bindings. Both workgroup shapes run: the CPU adapters' (4 lanes per row, 32-thread
// reductions) and the GPUs' (32 lanes, 256 threads), which a real GPU would use.
import { beforeAll, describe, expect, it } from "vitest";
import { CPU_ADAPTER_TUNING, GPU_TUNING, type GpuContext } from "../src/gpu/device.ts";
import { floatMatmulOps, quantizeOp, quantScratch, qWords, ternaryMatmulOp, type OpEnv } from "../src/gpu/linear.ts";
import { bindGroup, GpuArena, PipelineCache, readBuffer, simpleOp, type GpuOp } from "../src/gpu/resources.ts";
import { hostDlt, hostMatrix, uploadMatrix, type GpuFloat, type GpuTernary } from "../src/gpu/weights.ts";
import { argmaxShader } from "../src/gpu/wgsl/argmax.ts";
import { attentionShader } from "../src/gpu/wgsl/attention.ts";
import { embedShader } from "../src/gpu/wgsl/embed.ts";
import { gluShader } from "../src/gpu/wgsl/glu.ts";
import { rmsNormShader } from "../src/gpu/wgsl/rmsnorm.ts";
import { ropeStoreShader } from "../src/gpu/wgsl/rope.ts";
import { ropeTable } from "../src/gpu/rope-table.ts";
import { packDltCodes, packI2_S, packTq1_0, packTq2_0, unpackTq2_0 } from "../src/runtime/tensor-types/ternary-codes.ts";
import { attentionRef } from "../src/runtime/cpu/reference/attention.ts";
import { gluRef, rmsNormRef, ropeRef } from "../src/runtime/cpu/reference/ops.ts";
import { quantizeAbsmaxRef, quantizeQ8KRef, type RefActivations } from "../src/runtime/cpu/reference/quant.ts";
import { dltMatmulRef, i2sMatmulRef, tqMatmulRef } from "../src/runtime/cpu/reference/ternary.ts";
import { GgmlType, tensorTypeTraits } from "../src/runtime/tensor-types/table.ts";
import { stepBuffer, testGpu } from "./helpers/gpu.ts";
import { lacks } from "./helpers/optional-deps.ts";
import { rng } from "./helpers/random.ts";

let gpu: GpuContext;
let env: OpEnv;
beforeAll(async () => {
  gpu = await testGpu();
  env = { arena: new GpuArena(gpu), pipelines: new PipelineCache(gpu.device), packedDot: gpu.packedDot, tuning: gpu.tuning };
});

/** The op environment with a given workgroup shape. */
const tuned = (tuning: typeof GPU_TUNING): OpEnv => ({ ...env, tuning });

const rand = rng(20240617);
const normal = () => {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
};
const randomX = (len: number) => Float32Array.from({ length: len }, () => normal() * (rand() < 0.02 ? 8 : 1));
const randomCodes = (len: number) => Uint8Array.from({ length: len }, () => Math.floor(rand() * 3));

function run(ops: GpuOp[], n: number): void {
  const enc = gpu.device.createCommandEncoder();
  const pass = enc.beginComputePass();
  for (const op of ops) op.encode(pass, n);
  pass.end();
  gpu.device.queue.submit([enc.finish()]);
}
const f32 = async (b: GPUBuffer, len: number) => new Float32Array(await readBuffer(gpu, b, len * 4));
const u32 = async (b: GPUBuffer, len: number) => new Uint32Array(await readBuffer(gpu, b, len * 4));

/** max |a − b| / (atol + rtol·scale_i) ≤ 1, reporting the worst element. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: (i: number) => number, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const r = Math.abs(actual[i]! - expected[i]!) / tol(i);
    if (!(r <= worst)) {
      worst = r;
      at = i;
    }
  }
  expect(worst <= 1 ? "ok" : `${what}[${at}] = ${actual[at]}, expected ${expected[at]} (${worst.toFixed(2)}× the tolerance)`).toBe("ok");
}

describe.skipIf(lacks("webgpu"))("activation quantization", () => {
  const cases: [string, "q8k" | "absmax", number, number, number, boolean][] = [
    ["Q8_K per 256", "q8k", 3, 768, 256, false],
    ["absmax per token (I2_S)", "absmax", 2, 384, 384, false],
    ["absmax per group of 64 with Σx, ragged row (DLT)", "absmax", 3, 172, 64, true],
    ["absmax per group of 128, ragged row", "absmax", 2, 300, 128, true],
  ];
  for (const [i, [name, mode, n, k, group, sums]] of cases.entries()) {
    const tuning = i % 2 ? GPU_TUNING : CPU_ADAPTER_TUNING;
    it(`${name} (${tuning.reduce} threads)`, async () => {
      const env = tuned(tuning);
      const x = randomX(n * k);
      if (mode === "q8k") x.set([5, -5], 10); // a tie of magnitudes: the first one sets the sign
      const groups = Math.ceil(k / group);
      const xb = env.arena.upload("x", x);
      const scratch = quantScratch(env.arena, "t", n, k, groups);
      const step = stepBuffer(gpu, 0, n);
      run([await quantizeOp(env, { mode, group, sums }, k, xb, scratch, step)], n);
      const ref: RefActivations = mode === "q8k" ? quantizeQ8KRef(x, n, k) : quantizeAbsmaxRef(x, n, k, group);
      const q = new Int8Array((await u32(scratch.q, n * qWords(k))).buffer);
      expect(Array.from(q)).toEqual(Array.from(ref.q));
      expectClose(await f32(scratch.dact, n * groups), ref.d, (i) => 1e-7 * Math.abs(ref.d[i]!) + 1e-30, "d");
      if (sums) expectClose(await f32(scratch.xs, n * groups), ref.xs!, () => 1e-4, "Σx");
    });
  }
});

describe.skipIf(lacks("webgpu"))("ternary matmul (decode and prefill tiles)", () => {
  type Case = { type: "TQ2_0" | "TQ1_0" | "I2_S" | "DLT"; m: number; k: number; group?: number };
  const cases: Case[] = [
    { type: "TQ2_0", m: 37, k: 512 },
    { type: "TQ1_0", m: 19, k: 256 },
    { type: "I2_S", m: 21, k: 384 },
    { type: "DLT", m: 13, k: 172, group: 64 },
    { type: "DLT", m: 9, k: 300, group: 128 },
    { type: "DLT", m: 11, k: 640, group: 256 },
  ];
  for (const c of cases) {
    for (const n of [1, 3, 11]) {
      const tuning = n === 3 ? GPU_TUNING : CPU_ADAPTER_TUNING;
      // One case runs the WGSL polyfill of dot4I8Packed (for implementations without the language feature).
      const polyfill = n === 11 && (c.type === "TQ2_0" || c.type === "I2_S");
      it(`${c.type}${c.group ? ` g${c.group}` : ""} ${c.m}×${c.k}, n = ${n}, ${tuning.lanes} lanes${polyfill ? ", dot4 polyfill" : ""}`, async () => {
        const env = { ...tuned(tuning), packedDot: polyfill ? false : gpu.packedDot };
        const { m, k } = c;
        const codes = randomCodes(m * k);
        const x = randomX(n * k);
        let matrix: GpuTernary;
        let expected: Float32Array;
        const wAbs: number[] = []; // |scale| of every weight, for the tolerance
        if (c.type === "TQ2_0" || c.type === "TQ1_0") {
          const d0 = Float32Array.from({ length: (m * k) / 256 }, () => 0.01 + rand() * 0.05);
          const packed = c.type === "TQ2_0" ? packTq2_0(codes, d0, m, k) : packTq1_0(codes, d0, m, k);
          const d = unpackTq2_0(packTq2_0(codes, d0, m, k), m, k).d; // the f16-rounded scales
          matrix = uploadMatrix(env.arena, c.type, hostMatrix(GgmlType[c.type], packed, m, k)) as GpuTernary;
          expected = tqMatmulRef(codes, d, m, k, quantizeQ8KRef(x, n, k));
          for (let i = 0; i < m * k; i++) wAbs.push(d[Math.floor(i / 256)]!);
        } else if (c.type === "I2_S") {
          const scale = 0.037;
          matrix = uploadMatrix(env.arena, "I2_S", hostMatrix(GgmlType.I2_S, packI2_S(codes, scale, m, k), m, k)) as GpuTernary;
          expected = i2sMatmulRef(codes, scale, m, k, quantizeAbsmaxRef(x, n, k, k));
          wAbs.push(...new Array(m * k).fill(scale));
        } else {
          const g = c.group!;
          const G = Math.ceil(k / g);
          const alpha = Float32Array.from({ length: m * G }, () => 0.01 + rand() * 0.05);
          const gamma = Float32Array.from({ length: m * G }, () => (rand() - 0.5) * 0.01);
          matrix = uploadMatrix(env.arena, "DLT", hostDlt(packDltCodes(codes, m, k), alpha, gamma, g, m, k)) as GpuTernary;
          expected = dltMatmulRef(codes, alpha, gamma, g, m, k, quantizeAbsmaxRef(x, n, k, g));
          for (let i = 0; i < m * k; i++) {
            const gi = Math.floor((i % k) / g) + Math.floor(i / k) * G;
            wAbs.push(alpha[gi]! + Math.abs(gamma[gi]!));
          }
        }
        const groups = Math.ceil(k / matrix.act.group);
        const scratch = quantScratch(env.arena, "t", n, k, groups);
        const xb = env.arena.upload("x", x);
        const y = env.arena.storage("y", n * m * 4);
        const step = stepBuffer(gpu, 0, n);
        run([await quantizeOp(env, matrix.act, k, xb, scratch, step), await ternaryMatmulOp(env, matrix, scratch, y, step)], n);
        // The integer dot products are exact; only the f32 sums of the per-group products differ in order.
        const mag = new Float64Array(n * m);
        for (let t = 0; t < n; t++)
          for (let r = 0; r < m; r++) for (let e = 0; e < k; e++) mag[t * m + r]! += wAbs[r * k + e]! * Math.abs(x[t * k + e]!);
        expectClose(await f32(y, n * m), expected, (i) => 1e-6 * mag[i]! + 1e-7, "y");
      });
    }
  }
});

describe.skipIf(lacks("webgpu"))("float matmul", () => {
  const formats: ["F32" | "F16" | "BF16" | "Q8_0", number, number][] = [
    ["F32", 45, 70],
    ["F16", 45, 96],
    ["BF16", 23, 64],
    ["Q8_0", 29, 128],
  ];
  for (const [type, m, k] of formats) {
    for (const n of [1, 10]) {
      const tuning = n === 10 ? GPU_TUNING : CPU_ADAPTER_TUNING;
      it(`${type} ${m}×${k}, n = ${n}, ${tuning.lanes} lanes, in row chunks of 8, accumulating`, async () => {
        const env = tuned(tuning);
        const traits = tensorTypeTraits(GgmlType[type]);
        const w0 = Float32Array.from({ length: m * k }, () => normal() * 0.1);
        const data = traits.quantize(w0);
        const w = new Float32Array(m * k);
        traits.dequantize(data, w);
        const x = randomX(n * k);
        const y0 = randomX(n * m);
        const host = hostMatrix(GgmlType[type], data, m, k);
        const matrix = uploadMatrix(env.arena, type, host, host.kind === "float" ? host.rowWords * 4 * 8 : undefined) as GpuFloat;
        expect(matrix.chunks.length).toBe(Math.ceil(m / 8));
        const xb = env.arena.upload("x", x);
        const y = env.arena.upload("y", y0);
        const step = stepBuffer(gpu, 0, n);
        run(await floatMatmulOps(env, matrix, xb, y, step, { accumulate: true }), n);
        const expected = new Float64Array(n * m);
        const mag = new Float64Array(n * m);
        for (let t = 0; t < n; t++) {
          for (let r = 0; r < m; r++) {
            let s = y0[t * m + r]!;
            let a = Math.abs(s);
            for (let e = 0; e < k; e++) {
              s += w[r * k + e]! * x[t * k + e]!;
              a += Math.abs(w[r * k + e]! * x[t * k + e]!);
            }
            expected[t * m + r] = s;
            mag[t * m + r] = a;
          }
        }
        expectClose(await f32(y, n * m), expected, (i) => 1e-6 * mag[i]! + 1e-7, "y");
      });
    }
  }
});

async function op(
  src: ReturnType<typeof rmsNormShader>,
  buffers: Record<string, GPUBuffer>,
  dispatch: (n: number) => [number, number?],
): Promise<GpuOp> {
  const pipeline = await env.pipelines.get(src);
  return simpleOp(src.label, pipeline, bindGroup(gpu.device, pipeline, src, buffers), dispatch);
}

describe.skipIf(lacks("webgpu"))("element-wise and attention kernels", () => {
  it("RMSNorm, all rows and last row only", async () => {
    const n = 5;
    const k = 300;
    const x = randomX(n * k);
    const w = randomX(k);
    const P = env.arena.uniform("p", [k, 1e-5], [1]);
    const xb = env.arena.upload("x", x);
    const wb = env.arena.upload("w", w);
    const y = env.arena.storage("y", n * k * 4);
    const last = env.arena.storage("last", k * 4);
    const step = stepBuffer(gpu, 0, n);
    run(
      [
        await op(rmsNormShader(false, gpu.tuning.reduce), { P, step, x: xb, w: wb, y }, (n) => [n]),
        await op(rmsNormShader(true, gpu.tuning.reduce), { P, step, x: xb, w: wb, y: last }, () => [1]),
      ],
      n,
    );
    const ref = rmsNormRef(x, w, n, k, 1e-5);
    expectClose(await f32(y, n * k), ref, (i) => 1e-6 * Math.abs(ref[i]!) + 1e-6, "y");
    expectClose(await f32(last, k), ref.subarray((n - 1) * k), (i) => 1e-6 * Math.abs(ref[(n - 1) * k + i]!) + 1e-6, "last");
  });

  for (const [layout, rotDims] of [
    ["adjacent", 16],
    ["neox", 16],
    ["neox", 10],
  ] as const) {
    it(`RoPE (${layout}, ${rotDims} of 16 dims rotated) and the KV-cache store at positions 7…10`, async () => {
      const [heads, kvHeads, hd, n, pos0, ctx] = [4, 2, 16, 4, 7, 16];
      const q = randomX(n * heads * hd);
      const k = randomX(n * kvHeads * hd);
      const v = randomX(n * kvHeads * hd);
      const table = ropeTable(ctx, rotDims, 10000, 1);
      const P = env.arena.uniform("p", [heads, kvHeads, hd, rotDims / 2, heads * hd, kvHeads * hd]);
      const qb = env.arena.upload("q", q);
      const kc = env.arena.storage("kc", ctx * kvHeads * hd * 4);
      const vc = env.arena.storage("vc", ctx * kvHeads * hd * 4);
      const buffers = {
        P,
        step: stepBuffer(gpu, pos0, n),
        table: env.arena.upload("t", table),
        q: qb,
        k: env.arena.upload("k", k),
        v: env.arena.upload("v", v),
        kc,
        vc,
      };
      run([await op(ropeStoreShader(layout === "neox"), buffers, (n) => [n])], n);
      const pos = Array.from({ length: n }, (_, t) => pos0 + t);
      const qRef = ropeRef(q, n, heads, hd, pos, 10000, layout === "neox", rotDims);
      const kRef = ropeRef(k, n, kvHeads, hd, pos, 10000, layout === "neox", rotDims);
      expectClose(await f32(qb, q.length), qRef, () => 2e-6, "q");
      const kOut = (await f32(kc, ctx * kvHeads * hd)).subarray(pos0 * kvHeads * hd, (pos0 + n) * kvHeads * hd);
      expectClose(kOut, kRef, () => 2e-6, "k cache");
      const vOut = (await f32(vc, ctx * kvHeads * hd)).subarray(pos0 * kvHeads * hd, (pos0 + n) * kvHeads * hd);
      expect(Array.from(vOut)).toEqual(Array.from(v));
    });
  }

  for (const [hd, n, pos0] of [
    [16, 1, 100],
    [64, 6, 70],
    [96, 3, 0],
  ] as const) {
    it(`causal GQA attention over the cache: head size ${hd}, ${n} tokens after ${pos0}`, async () => {
      const [heads, kvHeads] = [6, 2];
      const len = pos0 + n;
      const q = randomX(n * heads * hd);
      const k = randomX(len * kvHeads * hd);
      const v = randomX(len * kvHeads * hd);
      const scale = 1 / Math.sqrt(hd);
      const P = env.arena.uniform("p", [heads, kvHeads, heads * hd, kvHeads * hd, scale], [4]);
      const o = env.arena.storage("o", n * heads * hd * 4);
      const buffers = {
        P,
        step: stepBuffer(gpu, pos0, n),
        q: env.arena.upload("q", q),
        kc: env.arena.upload("k", k),
        vc: env.arena.upload("v", v),
        o,
      };
      run([await op(attentionShader(hd), buffers, (n) => [heads, n])], n);
      expectClose(await f32(o, n * heads * hd), attentionRef(q, k, v, n, pos0, heads, kvHeads, hd), () => 2e-5, "out");
    });
  }

  for (const kind of ["silu", "relu2"] as const) {
    it(`${kind} gate`, async () => {
      const [n, width] = [3, 333];
      const g = randomX(n * width);
      const up = randomX(n * width);
      const gate = env.arena.upload("g", g);
      const P = env.arena.uniform("p", [width]);
      run(
        [await op(gluShader(kind), { P, step: stepBuffer(gpu, 0, n), gate, up: env.arena.upload("u", up) }, (n) => [Math.ceil((n * width) / 256)])],
        n,
      );
      const ref = gluRef(kind, g, up);
      expectClose(await f32(gate, n * width), ref, (i) => 1e-6 * Math.abs(ref[i]!) + 1e-6, "out");
    });
  }

  it("argmax: the first of equal maxima, over a ragged count", async () => {
    const logits = randomX(1001);
    logits[700] = 50;
    logits[900] = 50;
    const result = env.arena.storage("r", 4);
    const P = env.arena.uniform("p", [1001]);
    run([await op(argmaxShader(gpu.tuning.reduce), { P, logits: env.arena.upload("l", logits), result }, () => [1])], 1);
    expect((await u32(result, 1))[0]).toBe(700);
  });

  for (const type of ["F32", "F16", "Q8_0"] as const) {
    it(`embedding lookup from ${type} rows split over chunks`, async () => {
      const [vocab, dim] = [40, 64];
      const traits = tensorTypeTraits(GgmlType[type]);
      const data = traits.quantize(randomX(vocab * dim));
      const values = new Float32Array(vocab * dim);
      traits.dequantize(data, values);
      const host = hostMatrix(GgmlType[type], data, vocab, dim);
      const matrix = uploadMatrix(env.arena, "embd", host, host.kind === "float" ? host.rowWords * 4 * 16 : undefined) as GpuFloat;
      const tokens = [3, 39, 17, 3, 20];
      const tb = env.arena.upload("tokens", new Uint32Array(tokens));
      const x = env.arena.storage("x", tokens.length * dim * 4);
      const step = stepBuffer(gpu, 0, tokens.length);
      const ops = await Promise.all(
        matrix.chunks.map((c) => {
          const P = env.arena.uniform("p", [dim, matrix.rowWords, c.rowBase, c.rows]);
          const b: Record<string, GPUBuffer> = { P, step, tokens: tb, w: c.w, x };
          if (c.wscale) b.wscale = c.wscale;
          return op(embedShader(matrix.format), b, (n) => [n]);
        }),
      );
      run(ops, tokens.length);
      const out = await f32(x, tokens.length * dim);
      const expected = tokens.flatMap((t) => Array.from(values.subarray(t * dim, (t + 1) * dim)));
      expect(Array.from(out)).toEqual(expected);
    });
  }
});
