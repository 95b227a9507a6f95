// What the model-running commands (generate, chat, ppl, bench, serve) share: the --backend, --threads and sampling
// flags, and opening an engine on a model file with a load progress bar on a terminal.
import type { Engine, EngineOptions, LoadProgress, BackendChoice } from "../engine/engine.ts";
import { createLocalEngine } from "../engine/local-engine.ts";
import { createEngine } from "../engine/worker-engine.ts";
import { resolveSamplingOptions, type SamplingOptions } from "../runtime/sampling/options.ts";
import type { FlagSpec } from "./args.ts";
import { choiceFlag, numberFlag } from "./flags.ts";
import { formatBytes } from "./format.ts";
import { ProgressBar } from "./progress.ts";

const BACKENDS: readonly BackendChoice[] = ["wasm", "webgpu", "auto"];

export const backendFlags: Record<string, FlagSpec> = {
  backend: {
    type: "string",
    description: "wasm (default: CPU, SIMD, threads), webgpu (Node: the webgpu package) or auto (WebGPU on a hardware adapter, else wasm)",
  },
  threads: { type: "string", short: "t", description: "CPU threads, the caller included (default: all cores)" },
};

/** --head-type, for the commands that pass it on (generate, ppl, bench). */
export const headTypeFlags: Record<string, FlagSpec> = {
  "head-type": {
    type: "string",
    description: "output head on wasm: stored (default, the file's weights) or q8_0 (quantized to Q8_0 at load, int8 activations)",
  },
};

/** --head-type's value (undefined: the engine's default). */
export function headTypeChoice(flags: Map<string, string | true>): "stored" | "q8_0" | undefined {
  return choiceFlag(flags, "head-type", ["stored", "q8_0"] as const);
}

/** --kv-type, for the commands that pass it on (generate, chat, serve, ppl, bench). */
export const kvTypeFlags: Record<string, FlagSpec> = {
  "kv-type": {
    type: "string",
    description: "KV cache on wasm: f16 (default; ppl: f32), f32 (exact) or q8_0 (int8 per 32 with a scale: less memory, faster attention)",
  },
};

/** --kv-type's value (undefined: the command's default). */
export function kvTypeChoice(flags: Map<string, string | true>): "f16" | "f32" | "q8_0" | undefined {
  return choiceFlag(flags, "kv-type", ["f16", "f32", "q8_0"] as const);
}

export const samplingFlags: Record<string, FlagSpec> = {
  temperature: { type: "string", description: "sampling temperature, 0 = greedy (default 0.8)" },
  "top-k": { type: "string", description: "keep the k most likely tokens, 0 = off (default 40)" },
  "top-p": { type: "string", description: "nucleus sampling threshold, 1 = off (default 0.95)" },
  seed: { type: "string", description: "random seed, an integer in [0, 2^32) (default: random)" },
};

/** --backend, defaulting to wasm: WebGPU in Node needs the `webgpu` package, which is not a runtime dependency. */
export function backendChoice(flags: Map<string, string | true>): BackendChoice {
  return choiceFlag(flags, "backend", BACKENDS) ?? "wasm";
}

/** The sampling flags that are set (the engine's defaults apply to the others). */
export function samplingOptions(flags: Map<string, string | true>): SamplingOptions {
  const o: SamplingOptions = {
    temperature: numberFlag(flags, "temperature"),
    topK: numberFlag(flags, "top-k"),
    topP: numberFlag(flags, "top-p"),
    seed: numberFlag(flags, "seed"),
  };
  for (const k of Object.keys(o) as (keyof SamplingOptions)[]) if (o[k] === undefined) delete o[k];
  resolveSamplingOptions(o); // a bad value fails now, before a model is loaded or anything printed
  return o;
}

export interface OpenEngineOptions extends Omit<EngineOptions, "onProgress" | "gpu"> {
  /** The model in a worker (createEngine): the calling thread stays free for stdin and signals. */
  worker?: boolean;
}

/**
 * Loads the model on an engine. Node's WebGPU is the `webgpu` package, asked for only when the backend may be
 * WebGPU. On a terminal a "load" bar follows the bytes read (tensors are uploaded as they are read).
 */
export async function openEngine(options: OpenEngineOptions): Promise<Engine> {
  const { worker, ...rest } = options;
  const bar = new ProgressBar("load");
  const onProgress = (p: LoadProgress) => {
    // Reads go on at the full size (tensors read after the header overlap it): the bar is cleared then anyway.
    if (p.phase === "read" && p.loaded < p.total) bar.update(p.loaded, p.total, `${formatBytes(p.loaded)} of ${formatBytes(p.total)}`);
  };
  const load: EngineOptions = { ...rest, onProgress };
  if ((options.backend ?? "auto") !== "wasm") load.gpu = "webgpu";
  try {
    return worker ? await createEngine(load) : await createLocalEngine(load);
  } finally {
    bar.clear();
  }
}

/** One line on the engine's statistics, as `generate` prints them on stderr. */
export function formatStats(s: {
  promptTokens: number;
  generatedTokens: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  timeToFirstTokenMs: number;
  backend: string;
  threads: number;
  simd: string;
}): string {
  const where = s.backend === "webgpu" ? "WebGPU" : `${s.threads} thread${s.threads === 1 ? "" : "s"}, ${s.simd}`;
  return (
    `${s.promptTokens} prompt tokens at ${s.prefillTokensPerSecond.toFixed(1)} tok/s, ${s.generatedTokens} generated at ` +
    `${s.decodeTokensPerSecond.toFixed(1)} tok/s, first token after ${s.timeToFirstTokenMs.toFixed(0)} ms, ${where}`
  );
}
