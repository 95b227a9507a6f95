// The worker's side of createEngine: an EngineCore behind comlink. Each call carries an id: its events (chunks,
// progress) are posted as raw messages tagged with it, on the same port as comlink's replies and so ahead of
// the reply; `cancel(id)` fires the call's AbortSignal. Results and errors travel as Outcomes, so that errors
// keep their class (error-wire.ts).
import { expose } from "comlink";
import type { CoreMethod } from "./client.ts";
import { EngineCore, type CallContext, type CoreLoadOptions, type EngineEvent } from "./core.ts";
import { toWireError, type WireError } from "./error-wire.ts";
import { InterruptFlags } from "./interrupt-flags.ts";
import { parentPort } from "./worker-port.ts";

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: WireError };

/** A raw message from the worker: an event of call `call`, or the worker's "ready". */
export const EVENT_TAG = "ternion:event";
export const READY_TAG = "ternion:ready";
export interface EventMessage {
  [EVENT_TAG]: number;
  event: EngineEvent;
}

export class EngineHost {
  private core: EngineCore | undefined;
  private readonly calls = new Map<number, AbortController>();
  private readonly running = new Set<Promise<unknown>>();
  /** The caller's shared cancel flags (interrupt-flags.ts), where it could share memory. */
  private flags: InterruptFlags | undefined;

  /** `close` ends the worker from inside once it is disposed (Web workers; see dispose). */
  constructor(
    private readonly post: (message: EventMessage) => void,
    private readonly close: () => void = () => {},
  ) {}

  /** Loads the model; `interrupts` are the caller's InterruptFlags words, read by busy calls. */
  load(id: number, options: CoreLoadOptions, interrupts?: Int32Array): Promise<Outcome<void>> {
    this.flags = InterruptFlags.from(interrupts);
    return this.run(id, async (ctx) => {
      await this.core?.dispose();
      this.core = await EngineCore.load(options, ctx);
    });
  }

  call(method: CoreMethod, id: number, args: unknown[]): Promise<Outcome<unknown>> {
    return this.run(id, (ctx) => {
      if (!this.core) throw new Error("the engine worker has no model loaded");
      return (this.core[method] as (ctx: CallContext, ...a: unknown[]) => Promise<unknown>)(ctx, ...args);
    });
  }

  cancel(id: number): void {
    this.calls.get(id)?.abort();
  }

  /** Disposes the core, then waits for every call's answer to be on its way, so that each precedes this one's. */
  async dispose(): Promise<void> {
    await this.core?.dispose();
    this.core = undefined;
    await Promise.allSettled(this.running);
    // A Web worker then closes itself, after this answer has been posted: Deno crashes at exit (SIGSEGV) when a
    // worker that has asked WebGPU for an adapter is terminated from outside as the process ends.
    setTimeout(this.close, 0);
  }

  private run<T>(id: number, f: (ctx: CallContext) => Promise<T>): Promise<Outcome<T>> {
    const p = this.settle(id, f);
    this.running.add(p);
    void p.then(() => this.running.delete(p));
    return p;
  }

  private async settle<T>(id: number, f: (ctx: CallContext) => Promise<T>): Promise<Outcome<T>> {
    const controller = new AbortController();
    this.calls.set(id, controller);
    const ctx: CallContext = {
      signal: controller.signal,
      emit: (event) => this.post({ [EVENT_TAG]: id, event }),
      interrupted: () => this.flags?.isInterrupted(id) ?? false,
    };
    try {
      return { ok: true, value: await f(ctx) };
    } catch (e) {
      return { ok: false, error: toWireError(e) };
    } finally {
      this.calls.delete(id);
    }
  }
}

/**
 * The body of an engine worker script: an EngineHost exposed with comlink on the worker's port, then "ready", so
 * the caller never posts before anyone listens.
 */
export async function serveEngine(): Promise<void> {
  const port = await parentPort();
  expose(
    new EngineHost(
      (m) => port.post(m),
      () => port.close(),
    ),
    port.endpoint,
  );
  port.post({ [READY_TAG]: true });
}
