// A pool of workers that instantiate the kernel module on the caller's shared WebAssembly.Memory and each
// compute a slice of a kernel's range (rows, tokens or elements). Dispatch and completion go through Atomics on
// a control block in that memory: no postMessage per call. The calling thread computes slice 0 itself.
//
// The worker is a small self-contained script (a string): Node runs it with worker_threads' `eval: true`,
// browsers and Deno from a Blob URL as a module worker. No bundler or TS loader ever sees it.
import { TernionError } from "../errors.ts";

// Control block, in i32 units from its start (each hot word on its own 64-byte line).
const SEQ = 0; // generation counter: bumped by the caller to dispatch
const REM = 16; // workers still running the current call
const FN = 32; // export index
const NARGS = 33;
const TOTAL = 34;
const ALIGN = 35;
const PARTS = 36; // participants, caller included
const CMD = 37; // 1 = exit
const ERR = 38; // 1 = a worker threw; message at MSG
const ARGS_BYTES = 256; // f64 arguments from here
const MAX_ARGS = 28;
const MSG_BYTES = 512; // error text (latin-1), 512 bytes
export const CONTROL_BLOCK_BYTES = 1024;

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
const SEQ = ${SEQ}, REM = ${REM}, FN = ${FN}, NARGS = ${NARGS}, TOTAL = ${TOTAL}, ALIGN = ${ALIGN}, PARTS = ${PARTS},
  CMD = ${CMD}, ERR = ${ERR}, ARGS = ${ARGS_BYTES}, MAXA = ${MAX_ARGS}, MSG = ${MSG_BYTES};
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
  const ctrl = new Int32Array(buf, d.ctrl, 64);
  const args = new Float64Array(buf, d.ctrl + ARGS, MAXA);
  const msg = new Uint8Array(buf, d.ctrl + MSG, 512);
  const id = d.id;
  const spin = d.spin;
  let seen = d.seq;
  post({ type: "ready" });
  for (;;) {
    let s = Atomics.load(ctrl, SEQ);
    for (let k = 0; s === seen && k < spin; k++) s = Atomics.load(ctrl, SEQ);
    if (s === seen) {
      Atomics.wait(ctrl, SEQ, seen);
      continue;
    }
    seen = s;
    if (ctrl[CMD] === 1) return;
    const parts = ctrl[PARTS];
    if (id >= parts) continue;
    const r = slice(ctrl[TOTAL], parts, ctrl[ALIGN], id);
    try {
      if (r[0] < r[1]) {
        const n = ctrl[NARGS];
        const a = new Array(n + 2);
        for (let i = 0; i < n; i++) a[i] = args[i];
        a[n] = r[0];
        a[n + 1] = r[1];
        fns[ctrl[FN]].apply(null, a);
      }
    } catch (e) {
      const t = String((e && e.message) || e).slice(0, 511);
      for (let i = 0; i < t.length; i++) msg[i] = t.charCodeAt(i) & 255;
      msg[t.length] = 0;
      Atomics.store(ctrl, ERR, 1);
    }
    if (Atomics.sub(ctrl, REM, 1) === 1) Atomics.notify(ctrl, REM);
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
  /** Busy-wait iterations before a worker sleeps (Atomics.wait) between calls. */
  spin?: number;
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
  private disposed = false;

  private constructor(workers: WorkerHandle[], memory: WebAssembly.Memory, control: number, fns: Array<(...a: number[]) => void>) {
    this.workers = workers;
    this.size = workers.length + 1;
    this.ctrl = new Int32Array(memory.buffer, control, 64);
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
    const ctrl = new Int32Array(opts.memory.buffer, opts.control, 64);
    ctrl.fill(0);
    const seq = Atomics.load(ctrl, SEQ);
    const workers: WorkerHandle[] = [];
    const started: Array<Promise<void>> = [];
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const spin = opts.spin ?? 20_000;
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
                if (m.type === "ready") resolve();
                else reject(new Error(m.message ?? "worker failed"));
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
    return new ThreadPool(workers, opts.memory, opts.control, fns);
  }

  /** A pool of one: the caller only. */
  static single(memory: WebAssembly.Memory, control: number, fns: Array<(...a: number[]) => void>): ThreadPool {
    return new ThreadPool([], memory, control, fns);
  }

  /**
   * Runs export `fn` with `args` followed by (start, end) over [0, total), split in at most `maxParts`
   * slices at multiples of `align`; returns when every slice is done.
   */
  run(fn: number, args: readonly number[], total: number, align = 1, maxParts = this.size): void {
    if (this.disposed) throw new TernionError("DISPOSED", "the thread pool was disposed");
    if (total <= 0) return;
    const parts = Math.max(1, Math.min(this.size, maxParts, Math.ceil(total / align)));
    const f = this.fns[fn]!;
    if (parts === 1) {
      f(...args, 0, total);
      return;
    }
    if (args.length > MAX_ARGS - 2) throw new TernionError("BAD_ARGUMENT", `too many kernel arguments (${args.length})`);
    const c = this.ctrl;
    for (let i = 0; i < args.length; i++) this.args[i] = args[i]!;
    c[FN] = fn;
    c[NARGS] = args.length;
    c[TOTAL] = total;
    c[ALIGN] = align;
    c[PARTS] = parts;
    Atomics.store(c, REM, parts - 1);
    Atomics.add(c, SEQ, 1);
    Atomics.notify(c, SEQ);
    const [a, b] = slice(total, parts, align, 0);
    let mine: unknown;
    try {
      if (a < b) f(...args, a, b);
    } catch (e) {
      mine = e;
    }
    // wait for the workers: spin a little, then sleep where this thread may block
    let v = Atomics.load(c, REM);
    for (let k = 0; v !== 0 && k < 200_000; k++) v = Atomics.load(c, REM);
    while (v !== 0) {
      if (this.blocking) Atomics.wait(c, REM, v, 100);
      v = Atomics.load(c, REM);
    }
    if (mine) throw mine;
    if (Atomics.load(c, ERR)) {
      Atomics.store(c, ERR, 0);
      let text = "";
      for (let i = 0; i < 512 && this.msg[i]; i++) text += String.fromCharCode(this.msg[i]!);
      throw new TernionError("THREAD_ERROR", `a kernel failed in a worker: ${text}`);
    }
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
