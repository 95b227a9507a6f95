// The thread pool: 1, 2 and 3 threads give results identical (bit for bit) to 1 thread for every kernel; the
// fallback to one thread states its reason; workers never keep Node alive.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { CpuKernels, type Matrix } from "../src/runtime/cpu/kernels.ts";
import { packDltCodes, packI2_S, packTq1_0, packTq2_0 } from "../src/runtime/tensor-types/ternary-codes.ts";
import { f32ToF16Bits, roundF16 } from "../src/runtime/tensor-types/half.ts";
import { CONTROL_BLOCK_BYTES, slice, ThreadPool, workerSource } from "../src/runtime/cpu/threads.ts";
import { WasmHeap } from "../src/runtime/cpu/wasm/heap.ts";
import { loadKernels, loadWasmBytes, unshareMemoryImport } from "../src/runtime/cpu/wasm/loader.ts";
import { TernionError } from "../src/runtime/errors.ts";
import { rng } from "./helpers/random.ts";

const r = rng(42);
const randX = (len: number) => Float32Array.from({ length: len }, () => (r() - 0.5) * 4);
const codes = (len: number) => Uint8Array.from({ length: len }, () => Math.floor(r() * 3));
const f16s = (len: number, lo: number, hi: number) => Float32Array.from({ length: len }, () => roundF16(lo + r() * (hi - lo)));

// one set of inputs, shared by every thread count
const M = 45; // not a multiple of 4 (ragged row tail)
const inputs = {
  tq2: { k: 512, data: packTq2_0(codes(M * 512), f16s((M * 512) / 256, 0.1, 1), M, 512) },
  tq1: { k: 256, data: packTq1_0(codes(M * 256), f16s(M, 0.1, 1), M, 256) },
  i2s: { k: 384, data: packI2_S(codes(M * 384), 0.5, M, 384) },
  dlt: {
    k: 172,
    data: packDltCodes(codes(M * 172), M, 172),
    alpha: Uint16Array.from(f16s(M * 3, 0.1, 1), f32ToF16Bits),
    gamma: Uint16Array.from(f16s(M * 3, -0.1, 0.1), f32ToF16Bits),
  },
  f16: { k: 100, data: new Uint8Array(Uint16Array.from(randX(M * 100), f32ToF16Bits).buffer) },
  q8: {
    k: 64,
    data: (() => {
      const d = new Uint8Array(((M * 64) / 32) * 34);
      const dv = new DataView(d.buffer);
      for (let b = 0; b < (M * 64) / 32; b++) {
        dv.setUint16(b * 34, f32ToF16Bits(0.02), true);
        for (let j = 0; j < 32; j++) dv.setInt8(b * 34 + 2 + j, Math.floor(r() * 255) - 127);
      }
      return d;
    })(),
  },
  x: randX(19 * 512),
  pos: Array.from({ length: 19 }, (_, i) => i * 3),
};

/** Every kernel's output for one kernel set (n = 1, 2 and 19 tokens). */
function runAll(K: CpuKernels): Record<string, number[]> {
  const res: Record<string, number[]> = {};
  const mats: Record<string, Matrix> = {
    tq2: K.uploadMatrix("TQ2_0", M, inputs.tq2.k, inputs.tq2.data),
    tq1: K.uploadMatrix("TQ1_0", M, inputs.tq1.k, inputs.tq1.data),
    i2s: K.uploadMatrix("I2_S", M, inputs.i2s.k, inputs.i2s.data),
    dlt: K.uploadMatrix("DLT", M, inputs.dlt.k, inputs.dlt.data, { alpha: inputs.dlt.alpha, gamma: inputs.dlt.gamma, groupSize: 64 }),
    f16: K.uploadMatrix("F16", M, inputs.f16.k, inputs.f16.data),
    q8: K.uploadMatrix("Q8_0", M, inputs.q8.k, inputs.q8.data),
  };
  const x = K.heap.upload(inputs.x);
  const out = K.heap.alloc(19 * M * 4);
  for (const [name, W] of Object.entries(mats)) {
    for (const n of [1, 2, 19]) {
      K.linear(W, x, n, out);
      res[`${name} n=${n}`] = Array.from(K.heap.f32View(out, n * M));
    }
  }
  const k = 96;
  const y = K.heap.upload(inputs.x.subarray(0, 19 * k));
  K.rmsNorm(y, 0, y, 19, k, 1e-5);
  res["rmsNorm"] = Array.from(K.heap.f32View(y, 19 * k));
  K.rope(y, 19, 3, 32, inputs.pos, { neox: true });
  res["rope"] = Array.from(K.heap.f32View(y, 19 * k));
  K.softmax(y, 19, k, 0.5);
  res["softmax"] = Array.from(K.heap.f32View(y, 19 * k));
  const o2 = K.heap.alloc(19 * k * 4);
  K.swiglu(x, y, o2, 19 * k);
  res["swiglu"] = Array.from(K.heap.f32View(o2, 19 * k));
  K.relu2glu(x, y, o2, 19 * k);
  res["relu2"] = Array.from(K.heap.f32View(o2, 19 * k));
  for (const p of [x, out, y, o2]) K.heap.free(p);
  for (const W of Object.values(mats)) K.freeMatrix(W);
  return res;
}

describe("thread pool", () => {
  const made: CpuKernels[] = [];
  let one: Record<string, number[]>;
  beforeAll(async () => {
    const K1 = await CpuKernels.create({ threads: 1 });
    made.push(K1);
    one = runAll(K1);
  });
  afterAll(() => {
    for (const K of made) K.dispose();
  });

  it.each([2, 3])("%i threads give results identical to 1 thread", async (threads) => {
    const K = await CpuKernels.create({ threads, parallelThreshold: 0 });
    made.push(K);
    const s = K.stats();
    expect(s.threads).toBe(threads);
    expect(s.threadFallbackReason).toBeUndefined();
    expect(s.sharedMemory).toBe(true);
    const got = runAll(K);
    for (const key of Object.keys(one)) expect(got[key], key).toEqual(one[key]);
  });

  it("every tile splits identically under threads", async () => {
    const K = await CpuKernels.create({ threads: 3, parallelThreshold: 0 });
    made.push(K);
    for (const tile of ["rows4", "r1t4", "r2t4"] as const) {
      K.setTile(tile);
      const got = runAll(K);
      for (const key of Object.keys(one)) expect(got[key], `${tile} ${key}`).toEqual(one[key]);
    }
  });

  it("back-to-back calls of every size, and calls after the workers went to sleep, match 1 thread", async () => {
    const K1 = await CpuKernels.create({ threads: 1 });
    const K = await CpuKernels.create({ threads: 3, parallelThreshold: 0, spin: 50 });
    made.push(K1, K);
    const f16 = (K0: CpuKernels) => K0.uploadMatrix("F16", M, inputs.f16.k, inputs.f16.data);
    const W1 = f16(K1);
    const W = f16(K);
    const x1 = K1.heap.upload(inputs.x);
    const x = K.heap.upload(inputs.x);
    const o1 = K1.heap.alloc(19 * M * 4);
    const o = K.heap.alloc(19 * M * 4);
    const rr = rng(7);
    for (let it = 0; it < 300; it++) {
      const n = 1 + Math.floor(rr() * 19);
      const rows = 1 + Math.floor(rr() * 96);
      if (it % 50 === 49) await new Promise((res) => setTimeout(res, 5)); // workers asleep (spin: 50 µs)
      if (it % 2) {
        K1.linear(W1, x1, n, o1);
        K.linear(W, x, n, o);
        expect(K.heap.f32View(o, n * M), `linear it ${it}`).toEqual(K1.heap.f32View(o1, n * M));
      } else {
        const len = 5 + (it % 7);
        for (const [KK, p] of [
          [K1, x1],
          [K, x],
        ] as const) {
          KK.heap.f32View(p, rows * len).set(inputs.x.subarray(0, rows * len));
          KK.softmax(p, rows, len, 0.7);
        }
        expect(K.heap.f32View(x, rows * len), `softmax it ${it}`).toEqual(K1.heap.f32View(x1, rows * len));
        K.heap.f32View(x, rows * len).set(inputs.x.subarray(0, rows * len));
        K1.heap.f32View(x1, rows * len).set(inputs.x.subarray(0, rows * len));
      }
    }
  });

  it("idle workers stop polling (no core burnt while nothing runs)", async () => {
    const K = await CpuKernels.create({ threads: 2, parallelThreshold: 0, spin: 200 });
    made.push(K);
    const x = K.heap.upload(new Float32Array(64).fill(1));
    for (let i = 0; i < 100; i++) K.softmax(x, 8, 8);
    await new Promise((res) => setTimeout(res, 30));
    const a = process.cpuUsage();
    const t = performance.now();
    await new Promise((res) => setTimeout(res, 200));
    const u = process.cpuUsage(a);
    const cpuMs = (u.user + u.system) / 1000;
    const wallMs = performance.now() - t;
    expect(cpuMs / wallMs).toBeLessThan(0.5); // a polling worker would be ≈ 1 (one core)
  });

  it("falls back to one thread, with the reason, without shared memory", async () => {
    const K = await CpuKernels.create({ threads: 2, sharedMemory: false });
    made.push(K);
    const s = K.stats();
    expect(s.threads).toBe(1);
    expect(s.sharedMemory).toBe(false);
    expect(s.threadFallbackReason).toMatch(/sharedMemory/);
    const got = runAll(K);
    for (const key of Object.keys(one)) expect(got[key], key).toEqual(one[key]);
  });

  it("slices cover the range exactly, at multiples of the alignment", () => {
    for (const total of [1, 4, 5, 45, 4096]) {
      for (const parts of [1, 2, 3, 7]) {
        let next = 0;
        for (let i = 0; i < parts; i++) {
          const [a, b] = slice(total, parts, 4, i);
          expect(a).toBe(next);
          if (b < total) expect(b % 4).toBe(0);
          next = b;
        }
        expect(next).toBe(total);
      }
    }
    expect(workerSource).toContain("Atomics.wait");
  });

  it("workers never keep Node alive (with and without dispose)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ternion-threads-"));
    try {
      const entry = fileURLToPath(new URL("../src/runtime/cpu/kernels.ts", import.meta.url));
      const wasmDir = fileURLToPath(new URL("../dist/wasm/", import.meta.url));
      await build({ entryPoints: [entry], outfile: join(dir, "kernels.mjs"), bundle: true, format: "esm", platform: "node", logLevel: "silent" });
      for (const dispose of [true, false]) {
        const script = join(dir, `run-${dispose}.mjs`);
        writeFileSync(
          script,
          `import { CpuKernels } from "./kernels.mjs";
const K = await CpuKernels.create({ threads: 2, parallelThreshold: 0, wasm: { baseUrl: ${JSON.stringify("file://" + wasmDir)} } });
if (K.threads !== 2) throw new Error("no workers: " + K.stats().threadFallbackReason);
const x = K.heap.upload(new Float32Array(64).fill(1));
K.softmax(x, 8, 8);
${dispose ? "K.dispose();" : ""}
console.log("done");
`,
        );
        const res = spawnSync(process.execPath, [script], { encoding: "utf8", timeout: 20_000 });
        expect(res.stderr).toBe("");
        expect(res.stdout.trim()).toBe("done");
        expect(res.status).toBe(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("wasm heap and loader", () => {
  it("allocates 64-byte aligned blocks, reuses and coalesces freed ones, grows the memory", () => {
    const mem = WasmHeap.createMemory(1 << 20, false);
    const h = new WasmHeap(mem, 1000);
    const a = h.alloc(10);
    const b = h.alloc(100);
    const c = h.alloc(64);
    expect(a % 64).toBe(0);
    expect(a).toBeGreaterThanOrEqual(1000);
    expect(b - a).toBe(64);
    expect(c - b).toBe(128);
    h.free(a);
    h.free(b);
    expect(h.alloc(150)).toBe(a); // a and b coalesced
    const big = h.alloc(8 << 20); // grows past the initial 1 MiB
    expect(mem.buffer.byteLength).toBeGreaterThanOrEqual(big + (8 << 20));
    h.f32[big >> 2] = 1.5;
    expect(h.f32View(big, 1)[0]).toBe(1.5);
    h.free(big);
    h.free(c);
    expect(() => h.free(12345)).toThrow(/unknown address/);
  });

  it("unshares the memory import so the module links to a plain memory", async () => {
    const { bytes } = await loadWasmBytes("simd128");
    const un = unshareMemoryImport(bytes);
    const mod = new WebAssembly.Module(un as Uint8Array<ArrayBuffer>);
    expect(WebAssembly.Module.imports(mod)).toEqual([{ module: "env", name: "memory", kind: "memory" }]);
    const memory = new WebAssembly.Memory({ initial: 16, maximum: 65536 });
    const inst = new WebAssembly.Instance(mod, { env: { memory } });
    expect(typeof inst.exports["ternMatmul"]).toBe("function");
    expect(() => new WebAssembly.Instance(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), { env: { memory } })).toThrow();
  });
});

describe("a worker that dies", () => {
  /** A pool of 2 threads on the simd128 kernels, its first worker's handle, and the caller's exports (softmax). */
  async function pool(stallTimeoutMs: number, callerSoftmax?: (real: (...a: number[]) => void) => (...a: number[]) => void) {
    const loaded = await loadKernels({ simd: "simd128", sharedMemory: true });
    const memory = WasmHeap.createMemory(80 << 20, true, 256 << 20);
    const instance = await WebAssembly.instantiate(loaded.module, { env: { memory } });
    const ex = instance.exports as unknown as { heapBase(): number; softmax(...a: number[]): void };
    const heap = new WasmHeap(memory, ex.heapBase(), 256 << 20);
    const control = heap.calloc(CONTROL_BLOCK_BYTES);
    const real = ex.softmax;
    const p = await ThreadPool.create({ threads: 2, module: loaded.module, memory, names: ["softmax"], control, stallTimeoutMs }, [
      callerSoftmax ? callerSoftmax(real) : real,
    ]);
    const worker = (p as unknown as { workers: Array<{ terminate(): void }> }).workers[0]!;
    return { p, heap, memory, control, worker };
  }

  it("between calls: the next call throws THREAD_ERROR naming it", async () => {
    const { p, heap, worker } = await pool(60_000);
    const x = heap.upload(new Float32Array(64).fill(1));
    p.run(0, [x, 8, 1], 8);
    worker.terminate();
    await new Promise((res) => setTimeout(res, 300)); // the exit event
    expect(() => p.run(0, [x, 8, 1], 8)).toThrow(TernionError);
    expect(() => p.run(0, [x, 8, 1], 8)).toThrow(/worker 1 of the thread pool exited/);
    p.dispose();
  });

  it("holding a chunk: the call throws THREAD_ERROR after the stall timeout instead of waiting forever", async () => {
    let claimOf: () => number = () => 0;
    let kill: () => void = () => {};
    // the caller's own chunk waits until the worker holds the other one, then terminates it
    const { p, heap, memory, control, worker } = await pool(500, (real) => (...a: number[]) => {
      const deadline = performance.now() + 5000;
      while ((claimOf() & 0xfff) < 2 && performance.now() < deadline);
      kill();
      real(...a);
    });
    const ctrl = new Int32Array(memory.buffer, control, 32);
    claimOf = () => Atomics.load(ctrl, 16); // CLAIM: epoch << 12 | next chunk
    kill = () => worker.terminate();
    const len = 8 << 20; // two rows of 32 MB: a chunk (one row) takes tens of ms
    const x = heap.alloc(2 * len * 4);
    const t = performance.now();
    let error: unknown;
    try {
      p.run(0, [x, len, 1], 2);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TernionError);
    expect((error as TernionError).code).toBe("THREAD_ERROR");
    expect(String(error)).toMatch(/finished no chunk for 500 ms/);
    expect(performance.now() - t).toBeLessThan(10_000);
    expect(() => p.run(0, [x, 8, 1], 8)).toThrow(/the thread pool cannot run kernels/);
    p.dispose();
  });
});
