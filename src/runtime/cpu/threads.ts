// A pool of workers that instantiate the kernel module on the caller's shared WebAssembly.Memory and compute
// chunks of a kernel's range (rows, tokens or elements). Dispatch and completion go through Atomics on a control
// block in that memory: no postMessage per call. The calling thread takes part in every call.
//
// The worker is a small self-contained script (a string): Node runs it with worker_threads' `eval: true`,
// browsers and Deno from a Blob URL as a module worker. No bundler or TS loader ever sees it.
//
// A call is cut in CHUNKS pieces at multiples of `align` (a few per thread); the caller and the workers claim
// them one at a time (compare-exchange on CLAIM) until none is left, so a worker that wakes late, or is
// descheduled by another process, costs no waiting: the others take its share. Results never depend on who
// computes a chunk (every kernel computes a row/token the same way in any slice).
//
// CLAIM = epoch << 12 | next chunk. The caller bumps the epoch (and marks the call closed, next = CLOSED) before
// it touches the parameters of the next call, so a worker that claimed chunk i under epoch e and still reads
// epoch e after loading the parameters knows they are call e's; and while chunk i < CHUNKS is unfinished call e
// cannot end. A chunk done counts in DONE; the caller returns when DONE = CHUNKS.
//
// Latency policy (a decode step makes hundreds of short calls: a round trip must cost µs, not a futex wake):
// - an idle worker busy-polls SEQ for `spin` µs after its last chunk (or wake-up), then sleeps in
//   Atomics.wait; it counts itself in SLEEPERS first, and the caller calls Atomics.notify only when one sleeps;
// - the caller, once no chunk is left to claim, polls DONE for `callerSpin` µs — or twice its own longest chunk
//   of the call, up to MAX_CALLER_SPIN_MS, as a worker's last chunk takes about as long: blocking there would add a
//   futex wake and a reschedule (ms on a loaded machine) to every call of a memory-bound matvec — then blocks in
//   Atomics.wait where the thread may (not a browser's main thread); it raises CWAIT first, and the worker that
//   completes the call notifies only then;
// - words written by one side and polled by the other sit on their own 64-byte lines.
//
// A worker that dies (an error outside a kernel, terminated, out of memory) is noticed: its exit event marks the
// pool broken, and a call that waits on it makes no progress for `stallTimeoutMs` — either way the call throws
// THREAD_ERROR (and so does every later one) instead of waiting forever for its chunk.
import { TernionError } from "../errors.ts";

// Control block, in i32 units from its start (each hot word on its own 64-byte line).
const SEQ = 0; // generation counter: bumped by the caller to wake the workers
const CLAIM = 16; // epoch << 12 | next chunk to claim
const DONE = 32; // chunks finished in the current call
const CWAIT = 33; // 1 while the caller blocks on DONE (DONE's line: the finishing worker has it at hand)
const SLEEPERS = 48; // workers in (or about to enter) Atomics.wait on SEQ
const FN = 64; // export index
const NARGS = 65;
const TOTAL = 66;
const ALIGN = 67;
const CHUNKS = 68; // pieces of the current call
const CMD = 69; // 1 = exit
const ERR = 70; // 1 = a worker threw; message at MSG
const CTRL_I32 = 80; // i32 words the views cover
const ARGS_BYTES = 320; // f64 arguments from here
const MAX_ARGS = 28;
const MSG_BYTES = 576; // error text (latin-1), 512 bytes
export const CONTROL_BLOCK_BYTES = 1088;
const CLOSED = 0xfff; // next-chunk field of a call that is over (or not open yet)
/** Most chunks per call (below CLOSED). */
const MAX_CHUNKS = 1024;
/** Chunks per participating thread. */
const CHUNKS_PER_THREAD = 4;
/** Default µs an idle worker keeps polling before it sleeps. */
export const DEFAULT_SPIN_US = 500;
/** Default µs the caller polls for completion before it blocks. */
export const DEFAULT_CALLER_SPIN_US = 100;
/** The most ms the caller polls for completion, whatever its own chunks took. */
const MAX_CALLER_SPIN_MS = 2;
/** Default ms a call may wait on the workers without one finishing a chunk before it is declared stalled. */
export const DEFAULT_STALL_TIMEOUT_MS = 60_000;

/** Slice i of [0, total) cut in `parts` pieces at multiples of `align` (the worker script has a copy: keep them equal). */
export function slice(total: number, parts: number, align: number, i: number): [number, number] {
  const units = Math.ceil(total / align);
  const base = Math.floor(units / parts);
  const extra = units % parts;
  const a = i * base + Math.min(i, extra);
  const b = a + base + (i < extra ? 1 : 0);
  return [Math.min(total, a * align), Math.min(total, b * align)];
}

const WORKER_SRC = `"use strict";
const SEQ = ${SEQ}, CLAIM = ${CLAIM}, DONE = ${DONE}, CWAIT = ${CWAIT}, SLEEPERS = ${SLEEPERS}, FN = ${FN},
  NARGS = ${NARGS}, TOTAL = ${TOTAL}, ALIGN = ${ALIGN}, CHUNKS = ${CHUNKS}, CMD = ${CMD}, ERR = ${ERR},
  CTRL_I32 = ${CTRL_I32}, ARGS = ${ARGS_BYTES}, MAXA = ${MAX_ARGS}, MSG = ${MSG_BYTES}, CLOSED = ${CLOSED};
function slice(total, parts, align, i) {
  const units = Math.ceil(total / align);
  const base = Math.floor(units / parts);
  const extra = units % parts;
  const a = i * base + Math.min(i, extra);
  const b = a + base + (i < extra ? 1 : 0);
  return [Math.min(total, a * align), Math.min(total, b * align)];
}
function main(d, post) {
  let inst;
  try {
    const mod = d.module instanceof WebAssembly.Module ? d.module : new WebAssembly.Module(d.bytes);
    inst = new WebAssembly.Instance(mod, { env: { memory: d.memory } });
  } catch (e) {
    post({ type: "fail", message: String((e && e.message) || e) });
    return;
  }
  const fns = d.names.map((n) => inst.exports[n]);
  const buf = d.memory.buffer;
  const ctrl = new Int32Array(buf, d.ctrl, CTRL_I32);
  const args = new Float64Array(buf, d.ctrl + ARGS, MAXA);
  const msg = new Uint8Array(buf, d.ctrl + MSG, 512);
  const spinMs = d.spin / 1000;
  const now = typeof performance !== "undefined" ? () => performance.now() : () => Date.now();
  const argv = [];
  let seen = d.seq;
  // claims and runs chunks of the open call until none is left
  function work() {
    for (;;) {
      const v = Atomics.load(ctrl, CLAIM);
      const i = v & 0xfff;
      if (i >= CLOSED) return;
      if (Atomics.compareExchange(ctrl, CLAIM, v, v + 1) !== v) continue;
      const chunks = ctrl[CHUNKS], total = ctrl[TOTAL], align = ctrl[ALIGN], fn = ctrl[FN], n = ctrl[NARGS];
      argv.length = n + 2;
      for (let j = 0; j < n; j++) argv[j] = args[j];
      // the epoch moves before the parameters change: still ours means they are this call's
      if (Atomics.load(ctrl, CLAIM) >>> 12 !== v >>> 12 || i >= chunks) return;
      const r = slice(total, chunks, align, i);
      try {
        if (r[0] < r[1]) {
          argv[n] = r[0];
          argv[n + 1] = r[1];
          fns[fn].apply(null, argv);
        }
      } catch (e) {
        const t = String((e && e.message) || e).slice(0, 511);
        for (let j = 0; j < t.length; j++) msg[j] = t.charCodeAt(j) & 255;
        msg[t.length] = 0;
        Atomics.store(ctrl, ERR, 1);
      }
      if (Atomics.add(ctrl, DONE, 1) + 1 === chunks && Atomics.load(ctrl, CWAIT) !== 0) Atomics.notify(ctrl, DONE);
    }
  }
  post({ type: "ready" });
  let last = now();
  for (;;) {
    let s = Atomics.load(ctrl, SEQ);
    // busy-poll for spinMs after the last chunk (or wake-up), reading the clock every 64 polls
    for (let k = 1; s === seen; k++) {
      if ((k & 63) === 0 && now() - last > spinMs) break;
      s = Atomics.load(ctrl, SEQ);
    }
    if (s === seen) {
      Atomics.add(ctrl, SLEEPERS, 1);
      Atomics.wait(ctrl, SEQ, seen);
      Atomics.sub(ctrl, SLEEPERS, 1);
      last = now();
      continue;
    }
    seen = s;
    if (Atomics.load(ctrl, CMD) === 1) return;
    work();
    last = now();
  }
}
if (typeof require === "function" && typeof self === "undefined") {
  const wt = require("node:worker_threads");
  main(wt.workerData, (m) => wt.parentPort.postMessage(m));
} else {
  self.onmessage = (e) => {
    self.onmessage = null;
    main(e.data, (m) => self.postMessage(m));
  };
}
`;

/** The worker script (exported for tests and for CSPs that need to allow it). */
export const workerSource = WORKER_SRC;

interface WorkerHandle {
  terminate(): void;
}

/** Why the pool cannot run calls any more (a worker died), set by the workers' exit and error events. */
interface PoolHealth {
  broken: string | undefined;
}

export interface ThreadPoolOptions {
  /** Total threads, the caller included (1 = no workers). */
  threads: number;
  module: WebAssembly.Module;
  /** The module bytes, for engines that cannot post a WebAssembly.Module to a worker. */
  bytes?: Uint8Array;
  memory: WebAssembly.Memory;
  /** Export names, in the order `run` refers to them. */
  names: readonly string[];
  /** Byte address of a CONTROL_BLOCK_BYTES-sized, 64-byte aligned block in memory. */
  control: number;
  /** µs an idle worker busy-polls after its last job before it sleeps (Atomics.wait). Default 500. */
  spin?: number;
  /** µs the caller busy-polls for the workers' completion before it blocks (Atomics.wait, where allowed); at
   *  least twice its own longest chunk of the call, up to 2 ms. Default 100. */
  callerSpin?: number;
  /** ms a call may wait on the workers with no chunk finished before it throws THREAD_ERROR (a dead or hung
   *  worker). Default 60 000. */
  stallTimeoutMs?: number;
  /** Start-up timeout per worker (ms). */
  timeoutMs?: number;
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === "string";
}

/** Can this thread block in Atomics.wait? (Not a browser's main thread.) */
function canBlock(view: Int32Array): boolean {
  try {
    Atomics.wait(view, CMD, 12345, 0);
    return true;
  } catch {
    return false;
  }
}

export class ThreadPool {
  /** Threads taking part in a call, the caller included. */
  readonly size: number;
  private readonly workers: WorkerHandle[];
  private readonly ctrl: Int32Array;
  private readonly args: Float64Array;
  private readonly msg: Uint8Array;
  private readonly fns: Array<(...a: number[]) => void>;
  private readonly blocking: boolean;
  private readonly callerSpinMs: number;
  private readonly stallMs: number;
  private readonly health: PoolHealth;
  private disposed = false;

  private constructor(
    workers: WorkerHandle[],
    memory: WebAssembly.Memory,
    control: number,
    fns: Array<(...a: number[]) => void>,
    health: PoolHealth = { broken: undefined },
    callerSpinUs = DEFAULT_CALLER_SPIN_US,
    stallTimeoutMs = DEFAULT_STALL_TIMEOUT_MS,
  ) {
    this.callerSpinMs = callerSpinUs / 1000;
    this.stallMs = stallTimeoutMs;
    this.health = health;
    this.workers = workers;
    this.size = workers.length + 1;
    this.ctrl = new Int32Array(memory.buffer, control, CTRL_I32);
    this.args = new Float64Array(memory.buffer, control + ARGS_BYTES, MAX_ARGS);
    this.msg = new Uint8Array(memory.buffer, control + MSG_BYTES, 512);
    this.fns = fns;
    this.blocking = canBlock(this.ctrl);
  }

  /**
   * Starts threads − 1 workers. `fns` are the caller's own instance exports (same order as `names`).
   * Rejects when a worker cannot start; the caller then falls back to one thread.
   */
  static async create(opts: ThreadPoolOptions, fns: Array<(...a: number[]) => void>): Promise<ThreadPool> {
    const n = Math.max(0, Math.floor(opts.threads) - 1);
    const ctrl = new Int32Array(opts.memory.buffer, opts.control, CTRL_I32);
    ctrl.fill(0);
    ctrl[CLAIM] = CLOSED;
    const seq = Atomics.load(ctrl, SEQ);
    const workers: WorkerHandle[] = [];
    const started: Array<Promise<void>> = [];
    const health: PoolHealth = { broken: undefined };
    const died = (i: number, why: string) => {
      health.broken ??= `worker ${i} of the thread pool ${why}`;
    };
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const spin = opts.spin ?? DEFAULT_SPIN_US;
    const data = (id: number, withModule: boolean) => ({
      module: withModule ? opts.module : undefined,
      bytes: withModule ? undefined : opts.bytes,
      memory: opts.memory,
      names: [...opts.names],
      ctrl: opts.control,
      id,
      seq,
      spin,
    });
    const WebWorker = (globalThis as { Worker?: new (url: string | URL, o?: { type?: string; name?: string }) => Worker }).Worker;
    try {
      if (typeof WebWorker === "function") {
        const url = URL.createObjectURL(new Blob([WORKER_SRC], { type: "text/javascript" }));
        try {
          for (let i = 1; i <= n; i++) {
            const w = new WebWorker(url, { type: "module", name: `ternion-${i}` });
            workers.push(w);
            started.push(
              new Promise<void>((resolve, reject) => {
                const t = setTimeout(() => reject(new Error("worker start timed out")), timeoutMs);
                w.onmessage = (e: MessageEvent) => {
                  const m = e.data as { type: string; message?: string };
                  if (m.type === "ready") {
                    clearTimeout(t);
                    w.onerror = (err: ErrorEvent) => died(i, `failed: ${err.message || "worker error"}`);
                    resolve();
                  } else if (m.type === "fail") {
                    clearTimeout(t);
                    reject(new Error(m.message));
                  }
                };
                w.onerror = (e: ErrorEvent) => {
                  clearTimeout(t);
                  reject(new Error(e.message || "worker error"));
                };
              }),
            );
            try {
              w.postMessage(data(i, true));
            } catch {
              if (!opts.bytes) throw new Error("cannot post the WebAssembly.Module to a worker and no bytes were given");
              w.postMessage(data(i, false));
            }
          }
          await Promise.all(started);
        } finally {
          URL.revokeObjectURL(url);
        }
      } else if (isNode()) {
        const wtName = "node:worker_threads";
        const wt = (await import(/* @vite-ignore */ wtName)) as typeof import("node:worker_threads");
        for (let i = 1; i <= n; i++) {
          const w = new wt.Worker(WORKER_SRC, { eval: true, workerData: data(i, true), name: `ternion-${i}` });
          w.unref(); // never keeps the process alive, even without dispose()
          workers.push({ terminate: () => void w.terminate() });
          started.push(
            new Promise<void>((resolve, reject) => {
              const t = setTimeout(() => reject(new Error("worker start timed out")), timeoutMs);
              t.unref?.();
              w.once("message", (m: { type: string; message?: string }) => {
                clearTimeout(t);
                if (m.type === "ready") {
                  w.on("error", (e: Error) => died(i, `failed: ${e.message}`));
                  w.on("exit", (code) => died(i, `exited (code ${code})`));
                  resolve();
                } else reject(new Error(m.message ?? "worker failed"));
              });
              w.once("error", (e) => {
                clearTimeout(t);
                reject(e);
              });
              w.once("exit", (code) => {
                clearTimeout(t);
                reject(new Error(`worker exited with code ${code}`));
              });
            }),
          );
        }
        await Promise.all(started);
      } else {
        throw new Error("no Worker implementation in this environment");
      }
    } catch (e) {
      Atomics.store(ctrl, CMD, 1);
      Atomics.add(ctrl, SEQ, 1);
      Atomics.notify(ctrl, SEQ);
      for (const w of workers) w.terminate();
      throw e;
    }
    return new ThreadPool(workers, opts.memory, opts.control, fns, health, opts.callerSpin, opts.stallTimeoutMs);
  }

  /** A pool of one: the caller only. */
  static single(memory: WebAssembly.Memory, control: number, fns: Array<(...a: number[]) => void>): ThreadPool {
    return new ThreadPool([], memory, control, fns);
  }

  /**
   * Runs export `fn` with `args` followed by (start, end) over [0, total), split over at most `maxParts`
   * threads in chunks at multiples of `align`; returns when every chunk is done.
   */
  run(fn: number, args: readonly number[], total: number, align = 1, maxParts = this.size): void {
    if (this.disposed) throw new TernionError("DISPOSED", "the thread pool was disposed");
    if (this.health.broken) throw new TernionError("THREAD_ERROR", `${this.health.broken}: the thread pool cannot run kernels`);
    if (total <= 0) return;
    const units = Math.ceil(total / align);
    const parts = Math.max(1, Math.min(this.size, maxParts, units));
    const f = this.fns[fn]!;
    if (parts === 1) {
      f(...args, 0, total);
      return;
    }
    if (args.length > MAX_ARGS - 2) throw new TernionError("BAD_ARGUMENT", `too many kernel arguments (${args.length})`);
    const chunks = Math.min(units, parts * CHUNKS_PER_THREAD, MAX_CHUNKS);
    const c = this.ctrl;
    // the previous call left CLAIM closed under a new epoch: nobody reads these until it opens
    for (let i = 0; i < args.length; i++) this.args[i] = args[i]!;
    c[FN] = fn;
    c[NARGS] = args.length;
    c[TOTAL] = total;
    c[ALIGN] = align;
    c[CHUNKS] = chunks;
    Atomics.store(c, DONE, 0);
    const epoch = Atomics.load(c, CLAIM) & ~0xfff;
    Atomics.store(c, CLAIM, epoch);
    Atomics.add(c, SEQ, 1);
    // a worker counts itself in SLEEPERS before it waits on SEQ (and waits only while SEQ is unchanged): with
    // both sides sequentially consistent, either we see it here or it sees the new SEQ
    if (Atomics.load(c, SLEEPERS) !== 0) Atomics.notify(c, SEQ);
    let mine: unknown;
    let done = 0;
    let longest = 0;
    for (;;) {
      const v = Atomics.load(c, CLAIM);
      const i = v & 0xfff;
      if (i >= chunks) break;
      if (Atomics.compareExchange(c, CLAIM, v, v + 1) !== v) continue;
      const [a, b] = slice(total, chunks, align, i);
      const t0 = performance.now();
      try {
        if (a < b) f(...args, a, b);
      } catch (e) {
        mine ??= e;
      }
      longest = Math.max(longest, performance.now() - t0);
      done++;
    }
    let d = Atomics.add(c, DONE, done) + done;
    if (d !== chunks) d = this.awaitWorkers(chunks, d, Math.min(MAX_CALLER_SPIN_MS, Math.max(this.callerSpinMs, 2 * longest)));
    // close the call under the next epoch before anyone may change the parameters
    Atomics.store(c, CLAIM, (epoch + 0x1000) | CLOSED);
    if (mine) throw mine;
    if (Atomics.load(c, ERR)) {
      Atomics.store(c, ERR, 0);
      let text = "";
      for (let i = 0; i < 512 && this.msg[i]; i++) text += String.fromCharCode(this.msg[i]!);
      throw new TernionError("THREAD_ERROR", `a kernel failed in a worker: ${text}`);
    }
  }

  /**
   * Waits until DONE = chunks (d: its value now): polls for spinMs, then sleeps where this thread may block.
   * Throws THREAD_ERROR (and breaks the pool) when no chunk finishes for stallMs: a worker died holding one.
   */
  private awaitWorkers(chunks: number, d: number, spinMs: number): number {
    const c = this.ctrl;
    let progress = performance.now();
    const until = progress + spinMs;
    for (let k = 1; d !== chunks; k++) {
      if ((k & 63) === 0 && performance.now() > until) break;
      d = Atomics.load(c, DONE);
    }
    if (d === chunks) return d;
    if (this.blocking) Atomics.store(c, CWAIT, 1);
    try {
      while (d !== chunks) {
        if (this.blocking) Atomics.wait(c, DONE, d, 100);
        const now = Atomics.load(c, DONE);
        if (now !== d) {
          d = now;
          progress = performance.now();
        } else if (performance.now() - progress > this.stallMs) {
          this.health.broken ??= `a worker of the thread pool finished no chunk for ${Math.round(this.stallMs)} ms (dead or hung)`;
          throw new TernionError("THREAD_ERROR", `${this.health.broken}: the call was abandoned`);
        }
      }
    } finally {
      if (this.blocking) Atomics.store(c, CWAIT, 0);
    }
    return d;
  }

  /** Stops the workers; the pool cannot be used afterwards. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.workers.length) {
      Atomics.store(this.ctrl, CMD, 1);
      Atomics.add(this.ctrl, SEQ, 1);
      Atomics.notify(this.ctrl, SEQ);
      for (const w of this.workers) w.terminate();
    }
  }
}
