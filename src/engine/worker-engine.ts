// createEngine: the Engine with the model in a worker (Node worker_threads, Deno and browser module Workers),
// reached through comlink. The worker script is dist/engine-worker.js, found beside this bundle with
// `new URL("./engine-worker.js", import.meta.url)` (the form bundlers follow). When the worker dies, every
// pending call rejects with EngineCrashedError, and so does every later call until restart(); a call made while
// restart() starts the worker again waits for it.
import { wrap, type Remote } from "comlink";
import { AbortError, EngineCrashedError, EngineError, OptionError } from "../runtime/errors.ts";
import { checkEngineOptions } from "./arguments.ts";
import { EngineClient, type CoreArgs, type CoreMethod, type CoreResult, type CoreTransport } from "./client.ts";
import type { CoreLoadOptions, EngineEvent } from "./core.ts";
import type { Engine, EngineOptions, LoadProgress } from "./engine.ts";
import { EVENT_TAG, READY_TAG, type EngineHost, type EventMessage, type Outcome } from "./engine-host.ts";
import { fromWireError } from "./error-wire.ts";
import { InterruptFlags } from "./interrupt-flags.ts";
import { wasmBesideBundle } from "../runtime/cpu/wasm/loader.ts";
import { requestPersistentStorage } from "../runtime/hub/cache-browser.ts";
import { isNode, startWorker, type WorkerHandle } from "./worker-port.ts";

export interface WorkerEngineOptions extends EngineOptions {
  /** The worker script. Default: engine-worker.js beside this module (dist/). */
  workerUrl?: string | URL;
}

export async function createEngine(options: WorkerEngineOptions): Promise<Engine> {
  checkEngineOptions(options, { workerUrl: (v) => (typeof v === "string" || v instanceof URL ? undefined : "a string or a URL") });
  const { onProgress, signal, workerUrl, ...load } = options;
  if (load.gpu !== undefined && load.gpu !== "webgpu") {
    throw new OptionError(
      "BAD_OPTION",
      'a GPU object cannot be sent to a worker: pass gpu: "webgpu" (Node, the webgpu package) or use createLocalEngine',
    );
  }
  const model = load.model;
  if (
    typeof model === "object" &&
    !(model instanceof URL) &&
    !(model instanceof Uint8Array) &&
    !(model instanceof ArrayBuffer) &&
    !(typeof Blob !== "undefined" && model instanceof Blob)
  ) {
    throw new OptionError(
      "BAD_OPTION",
      "a worker engine takes the model as a path, URL, Blob/File or bytes (a ByteSource cannot be sent to a worker)",
    );
  }
  // The worker downloads hf: and http(s) models into the browser's cache; only a window may ask to keep it.
  if ((typeof model === "string" || model instanceof URL) && load.cache !== false) void requestPersistentStorage().catch(() => {});
  const url = await workerScript(workerUrl);
  // A URL object does not clone: its text does (openModelSource reads file: and http(s): strings as such).
  const transport = new WorkerTransport(url, {
    ...load,
    model: model instanceof URL ? model.href : model,
    wasmUrls: load.wasmUrls ?? wasmBesideBundle(),
  });
  await transport.start(signal, onProgress);
  const engine = new EngineClient(transport);
  transports.set(engine, transport);
  return engine;
}

/** Test hook: ends the engine's worker as a crash would (an out-of-memory kill gives no warning either). */
export function killEngineWorker(engine: Engine): void {
  const t = transports.get(engine);
  if (!t) throw new OptionError("BAD_OPTION", "not a worker engine");
  t.kill();
}

const transports = new WeakMap<Engine, WorkerTransport>();

interface Pending {
  reject(error: unknown): void;
  onEvent?: (event: EngineEvent) => void;
}

class WorkerTransport implements CoreTransport {
  private worker: WorkerHandle | undefined;
  private remote: Remote<EngineHost> | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private dead: EngineCrashedError | undefined;
  private disposed = false;
  /** Cancels that reach the worker while it is busy in synchronous work (a chat template's render). */
  private readonly flags = InterruptFlags.create();
  /** A restart starting the worker: calls wait for it (until it has loaded, the worker has no remote to call). */
  private starting: Promise<void> | undefined;

  constructor(
    private readonly url: URL,
    private readonly load: CoreLoadOptions,
  ) {}

  /** Starts a worker and loads the model in it. */
  async start(signal?: AbortSignal, onProgress?: (p: LoadProgress) => void): Promise<void> {
    if (signal?.aborted) throw new AbortError("the model load was aborted");
    const worker = await startWorker(this.url);
    this.worker = worker;
    this.dead = undefined;
    let ready!: () => void;
    const started = new Promise<void>((resolve) => (ready = resolve));
    worker.onMessage((data) => {
      if (typeof data !== "object" || data === null) return;
      if (READY_TAG in data) ready();
      else if (EVENT_TAG in data) {
        const m = data as EventMessage;
        this.pending.get(m[EVENT_TAG])?.onEvent?.(m.event);
      }
    });
    const exited = new Promise<never>((_, reject) =>
      worker.onExit((reason) => {
        this.crashed(worker, reason);
        reject(new EngineError("WORKER_FAILED", `the engine worker (${shortUrl(this.url)}) stopped before it was ready: ${reason}`));
      }),
    );
    exited.catch(() => {});
    try {
      await Promise.race([started, exited]);
      this.remote = wrap<EngineHost>(worker.endpoint);
      const remote = this.remote;
      await this.invoke(
        (id) => remote.load(id, this.load, this.flags?.words),
        signal,
        (e) => {
          if (e.type === "progress") onProgress?.(e.progress);
        },
      );
    } catch (e) {
      this.stop(worker);
      throw e;
    } finally {
      if (this.worker === worker) worker.unref();
    }
  }

  call<M extends CoreMethod>(method: M, args: CoreArgs<M>, signal?: AbortSignal, onEvent?: (event: EngineEvent) => void): Promise<CoreResult<M>> {
    if (this.starting) {
      const retry = () => this.call(method, args, signal, onEvent);
      return this.starting.then(retry, retry); // a failed start leaves no worker: the call says so
    }
    const remote = this.remote;
    return this.invoke((id) => remote!.call(method, id, args as unknown[]), signal, onEvent) as Promise<CoreResult<M>>;
  }

  async restart(options: { backend?: "auto" | "wasm" | "webgpu" }): Promise<void> {
    if (this.disposed) throw new EngineError("DISPOSED", "the engine was disposed");
    if (this.starting) return this.starting;
    if (options.backend !== undefined) this.load.backend = options.backend;
    if (!this.dead && this.remote) return this.call("restart", [options]);
    if (this.worker) this.stop(this.worker);
    this.starting = this.start().finally(() => (this.starting = undefined));
    return this.starting;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const worker = this.worker;
    if (worker && !this.dead && this.remote) {
      this.flags?.interruptAll();
      // The core ends the running call and rejects the queued ones; a worker that does not answer is ended anyway.
      // (The timer is cleared: a pending one would keep a Node process alive for its 5 s after dispose.)
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 5000)));
      const answered = await Promise.race([
        this.remote.dispose().then(
          () => true,
          () => false,
        ),
        timeout,
      ]);
      clearTimeout(timer);
      // A Web worker that answered closes itself (engine-host.ts says why); anything else is terminated.
      if (answered && !worker.reportsTermination) {
        this.worker = undefined;
        this.remote = undefined;
        this.failAll(new EngineError("DISPOSED", "the engine was disposed"));
        return;
      }
    }
    if (worker) this.stop(worker);
    this.failAll(new EngineError("DISPOSED", "the engine was disposed"));
  }

  kill(): void {
    const worker = this.worker;
    if (!worker) return;
    worker.terminate();
    if (!worker.reportsTermination) this.crashed(worker, "the worker was terminated");
  }

  /** Sends one call (its id registered first, so its events find it) and settles it from its Outcome. */
  private invoke<T>(send: (id: number) => Promise<Outcome<T>>, signal?: AbortSignal, onEvent?: (event: EngineEvent) => void): Promise<T> {
    if (this.disposed) return Promise.reject(new EngineError("DISPOSED", "the engine was disposed"));
    if (this.dead) return Promise.reject(this.dead);
    if (!this.worker)
      return Promise.reject(new EngineCrashedError("NOT_RUNNING", "the engine's worker is not running (a restart failed?); restart() starts it"));
    const id = this.nextId++;
    const worker = this.worker!;
    const remote = this.remote;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        this.flags?.interrupt(id);
        void remote?.cancel(id).catch(() => {});
      };
      const done = () => {
        this.pending.delete(id);
        signal?.removeEventListener("abort", onAbort);
        if (this.pending.size === 0 && this.worker === worker) worker.unref();
      };
      this.pending.set(id, { reject: (e) => (done(), reject(e)), onEvent });
      worker.ref();
      send(id).then(
        (outcome) => {
          if (!this.pending.has(id)) return; // already rejected (crash)
          done();
          if (outcome.ok) resolve(outcome.value);
          else reject(fromWireError(outcome.error));
        },
        (e) => {
          if (!this.pending.has(id)) return;
          done();
          reject(e);
        },
      );
      signal?.addEventListener("abort", onAbort, { once: true });
      if (signal?.aborted) onAbort();
    });
  }

  private crashed(worker: WorkerHandle, reason: string): void {
    if (worker !== this.worker) return; // an old worker, already replaced or stopped
    this.remote = undefined;
    if (this.disposed) return;
    this.dead = new EngineCrashedError("CRASHED", `the engine's worker died (${reason}); restart() starts it again`);
    this.failAll(this.dead);
  }

  private failAll(error: Error): void {
    for (const p of [...this.pending.values()]) p.reject(error);
  }

  /** Ends a worker on purpose: its exit is not a crash. */
  private stop(worker: WorkerHandle): void {
    if (this.worker === worker) {
      this.worker = undefined;
      this.remote = undefined;
    }
    worker.terminate();
  }
}

/** The worker script: the caller's, or engine-worker.js beside this module (the bundle in dist/, or dist/ from the sources). */
async function workerScript(override: string | URL | undefined): Promise<URL> {
  if (override !== undefined) {
    const url = new URL(String(override), import.meta.url);
    if (isNode() && url.protocol === "file:" && !(await fileExists(url))) {
      throw new EngineError("WORKER_NOT_FOUND", `the engine worker script ${url.href} does not exist`);
    }
    return url;
  }
  const beside = new URL("./engine-worker.js", import.meta.url);
  if (!isNode() || beside.protocol !== "file:") return beside;
  // Not the literal `new URL("…", import.meta.url)` form: bundlers would try to emit a file outside the package.
  const here = import.meta.url;
  const fromSources = new URL("../../dist/engine-worker.js", here);
  for (const url of [beside, fromSources]) if (await fileExists(url)) return url;
  throw new EngineError(
    "WORKER_NOT_FOUND",
    `cannot find the engine worker script (tried ${beside.href}, ${fromSources.href}): run \`npm run build\`, or pass workerUrl`,
  );
}

async function fileExists(url: URL): Promise<boolean> {
  const name = "node:fs/promises";
  const fs = (await import(/* @vite-ignore */ name)) as typeof import("node:fs/promises");
  return fs.access(url).then(
    () => true,
    () => false,
  );
}

/** A URL for messages: a data: or blob: URL carries the whole worker script, so only its start is shown. */
function shortUrl(url: URL): string {
  return url.href.length > 120 ? `${url.href.slice(0, 60)}… (${url.href.length} characters)` : url.href;
}
