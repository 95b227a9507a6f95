// One shape for a worker on every platform: Node's worker_threads (an EventEmitter, which comlink cannot use
// directly, hence the small adapter), and the Web Worker of browsers and Deno. Both sides see a comlink
// Endpoint, a way to post and receive raw messages (events, "ready"), and, on the caller's side, an exit
// notification (a crash, running out of memory, terminate()).
import type { Endpoint } from "comlink";
import { EngineError } from "../runtime/errors.ts";

export interface WorkerHandle {
  /** For comlink.wrap. */
  readonly endpoint: Endpoint;
  /** Raw messages from the worker (comlink's own are seen too; they carry an `id`). */
  onMessage(listener: (data: unknown) => void): void;
  /** Called once when the worker is gone (Node: exit or uncaught error; Web: an uncaught error). */
  onExit(listener: (reason: string) => void): void;
  terminate(): void;
  /** Node: whether the worker keeps the process alive (only while a call is pending). No-op elsewhere. */
  ref(): void;
  unref(): void;
  /** Web workers report no exit after terminate(): the caller notes it itself. */
  readonly reportsTermination: boolean;
}

interface NodeWorkerLike {
  postMessage(message: unknown, transfer?: readonly unknown[]): void;
  on(event: string, listener: (arg: never) => void): void;
  off(event: string, listener: (arg: never) => void): void;
  terminate(): Promise<number>;
  ref(): void;
  unref(): void;
}

/** A Node MessagePort/Worker as a comlink Endpoint (comlink's node-adapter, typed for our use). */
function nodeEndpoint(port: NodeWorkerLike): Endpoint {
  const listeners = new Map<unknown, (data: unknown) => void>();
  return {
    postMessage: (message: unknown, transfer?: Transferable[]) => port.postMessage(message, transfer),
    addEventListener: (_type: string, handler: EventListenerOrEventListenerObject) => {
      const l = (data: unknown) => {
        const event = { data } as MessageEvent;
        if ("handleEvent" in handler) handler.handleEvent(event);
        else handler(event);
      };
      listeners.set(handler, l);
      port.on("message", l as (arg: never) => void);
    },
    removeEventListener: (_type: string, handler: EventListenerOrEventListenerObject) => {
      const l = listeners.get(handler);
      if (!l) return;
      listeners.delete(handler);
      port.off("message", l as (arg: never) => void);
    },
  };
}

export function isNode(): boolean {
  const g = globalThis as { process?: { versions?: { node?: string } }; Deno?: unknown };
  return typeof g.process?.versions?.node === "string" && g.Deno === undefined;
}

async function nodeWorkerThreads(): Promise<typeof import("node:worker_threads")> {
  const name = "node:worker_threads"; // a name bundlers leave alone: browser bundles never load it
  return (await import(/* @vite-ignore */ name)) as typeof import("node:worker_threads");
}

/** Starts the engine worker script at `url`. */
export async function startWorker(url: URL): Promise<WorkerHandle> {
  if (isNode()) {
    const { Worker } = await nodeWorkerThreads();
    const w = new Worker(url, { name: "ternion-engine" }) as unknown as NodeWorkerLike;
    let exited = false;
    const exitListeners: ((reason: string) => void)[] = [];
    const exit = (reason: string) => {
      if (exited) return;
      exited = true;
      for (const l of exitListeners) l(reason);
    };
    w.on("error", ((e: Error) => exit(`uncaught error in the worker: ${e.message}`)) as (arg: never) => void);
    w.on("exit", ((code: number) => exit(`the worker exited with code ${code}`)) as (arg: never) => void);
    return {
      endpoint: nodeEndpoint(w),
      onMessage: (l) => w.on("message", l as (arg: never) => void),
      onExit: (l) => void exitListeners.push(l),
      terminate: () => void w.terminate(),
      ref: () => w.ref(),
      unref: () => w.unref(),
      reportsTermination: true,
    };
  }
  const WebWorker = (globalThis as { Worker?: typeof Worker }).Worker;
  if (typeof WebWorker !== "function") throw new EngineError("NO_WORKERS", "this environment has no Worker: use createLocalEngine");
  const w = new WebWorker(url, { type: "module", name: "ternion-engine" });
  const exitListeners: ((reason: string) => void)[] = [];
  w.addEventListener("error", (ev: ErrorEvent) => {
    ev.preventDefault?.();
    for (const l of exitListeners.splice(0)) l(`uncaught error in the worker: ${ev.message || "unknown error"}`);
    w.terminate();
  });
  return {
    endpoint: w as unknown as Endpoint,
    onMessage: (l) => w.addEventListener("message", (ev: MessageEvent) => l(ev.data)),
    onExit: (l) => void exitListeners.push(l),
    terminate: () => w.terminate(),
    ref: () => {},
    unref: () => {},
    reportsTermination: false,
  };
}

/** The worker's side: its endpoint to the caller and a raw post. */
export async function parentPort(): Promise<{ endpoint: Endpoint; post(message: unknown): void; close(): void }> {
  if (isNode()) {
    const { parentPort: port } = await nodeWorkerThreads();
    if (!port) throw new EngineError("NOT_A_WORKER", "the engine worker script must run in a worker");
    const p = port as unknown as NodeWorkerLike;
    // Node's caller terminates the worker itself (and sees its exit).
    return { endpoint: nodeEndpoint(p), post: (m) => p.postMessage(m), close: () => {} };
  }
  const self = globalThis as unknown as Endpoint & { postMessage(m: unknown): void; close(): void };
  return { endpoint: self, post: (m) => self.postMessage(m), close: () => self.close() };
}
