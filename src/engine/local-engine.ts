// createLocalEngine: the Engine with the model in the calling thread. The wasm backend's compute blocks this
// thread during a forward pass (the thread pool's workers share the work); prefer createEngine in a UI thread.
import { EngineClient, type CoreTransport } from "./client.ts";
import { EngineCore, silentContext, type CallContext } from "./core.ts";
import type { Engine, EngineOptions } from "./engine.ts";
import { checkEngineOptions } from "./arguments.ts";

export async function createLocalEngine(options: EngineOptions): Promise<Engine> {
  checkEngineOptions(options);
  const { onProgress, signal, ...load } = options;
  const ctx: CallContext = {
    signal: signal ?? silentContext.signal,
    emit: (e) => {
      if (e.type === "progress") onProgress?.(e.progress);
    },
  };
  const core = await EngineCore.load(load, ctx);
  return new EngineClient(localTransport(core));
}

function localTransport(core: EngineCore): CoreTransport {
  return {
    call(method, args, signal, onEvent) {
      const ctx: CallContext = { signal: signal ?? silentContext.signal, emit: onEvent ?? silentContext.emit };
      return (core[method] as (ctx: CallContext, ...a: unknown[]) => Promise<never>)(ctx, ...args);
    },
    restart: (options) => core.restart(silentContext, options),
    dispose: () => core.dispose(),
  };
}
