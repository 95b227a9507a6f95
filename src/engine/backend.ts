// Which backend runs a model, and loading it there. "auto" takes WebGPU on a hardware adapter and wasm
// otherwise: no WebGPU, no adapter, only a software adapter (SwiftShader, lavapipe: the wasm kernels are
// faster on the same CPU), or a model this device cannot hold. The reason for the choice is kept for info().
import { acquireGpu, defaultGpu, type GpuContext, probeAdapter } from "../gpu/device.ts";
import { nodeWebGpu } from "../gpu/node-webgpu.ts";
import { GpuError, OptionError } from "../runtime/errors.ts";
import type { ByteSource } from "../runtime/gguf/source.ts";
import type { GgufHeader } from "../runtime/gguf/types.ts";
import { CpuLanguageModel } from "../runtime/cpu/language-model.ts";
import type { BackendChoice, ModelLoadOptions } from "./engine.ts";
import { GpuLanguageModel } from "../gpu/language-model.ts";
import type { LanguageModel } from "../runtime/model/language-model.ts";

export interface LoadedModel {
  model: LanguageModel;
  backendReason: string;
}

const CHOICES: readonly BackendChoice[] = ["auto", "wasm", "webgpu"];

/** What the caller of loadOnBackend already has or wants besides the options. */
export interface LoadContext {
  /** The source's parsed header (read once by the caller, not again by the backend). */
  header?: GgufHeader;
  /** wasm tensors placed so far. */
  onUpload?: (done: number, total: number) => void;
  /** The reason to report instead of the choice's own (a fallback after a lost device). */
  why?: string;
}

/** Loads `source` on the backend `options.backend` asks for. */
export async function loadOnBackend(source: ByteSource, options: ModelLoadOptions, load: LoadContext = {}): Promise<LoadedModel> {
  const { why } = load;
  const choice = options.backend ?? "auto";
  if (!CHOICES.includes(choice)) throw new OptionError("BAD_OPTION", `backend must be "auto", "wasm" or "webgpu", got ${String(choice)}`);
  if (choice === "wasm") return { model: await loadWasm(source, options, load), backendReason: why ?? "wasm requested" };
  if (choice === "webgpu") {
    const ctx = await acquireGpu({ gpu: await resolveGpu(options.gpu, true) });
    return { model: await loadWebGpu(ctx, source, options, load.header), backendReason: why ?? `WebGPU requested (${ctx.adapterName})` };
  }

  // auto: the adapter alone says whether WebGPU is worth a device (a software adapter is slower than wasm).
  let ctx: GpuContext;
  try {
    const gpu = await resolveGpu(options.gpu, false);
    if (!gpu) return { model: await loadWasm(source, options, load), backendReason: "auto: no WebGPU here, wasm" };
    const probe = await probeAdapter({ gpu });
    if (probe.software) {
      return {
        model: await loadWasm(source, options, load),
        backendReason: `auto: the only WebGPU adapter (${probe.name}) runs on the CPU, where the wasm kernels are faster; wasm`,
      };
    }
    ctx = await acquireGpu({ gpu, probe });
  } catch (e) {
    if (!(e instanceof GpuError)) throw e;
    return { model: await loadWasm(source, options, load), backendReason: `auto: WebGPU unavailable (${e.message}), wasm` };
  }
  try {
    return { model: await loadWebGpu(ctx, source, options, load.header), backendReason: `auto: WebGPU adapter ${ctx.adapterName}` };
  } catch (e) {
    if (!(e instanceof GpuError)) throw e;
    return { model: await loadWasm(source, options, load), backendReason: `auto: the WebGPU backend cannot run this model (${e.message}), wasm` };
  }
}

async function loadWasm(source: ByteSource, o: ModelLoadOptions, load: LoadContext): Promise<LanguageModel> {
  const { threads, contextLength, kvType, headType, batchSize, wasmUrls } = o;
  return CpuLanguageModel.load(source, {
    threads,
    contextLength,
    kvType,
    headType,
    batchSize,
    wasmUrls,
    header: load.header,
    onProgress: load.onUpload,
  });
}

async function loadWebGpu(ctx: GpuContext, source: ByteSource, o: ModelLoadOptions, header: GgufHeader | undefined): Promise<LanguageModel> {
  try {
    return await GpuLanguageModel.load(ctx, source, { header, contextLength: o.contextLength, maxBatch: o.batchSize }, true);
  } catch (e) {
    ctx.destroy();
    throw e;
  }
}

/**
 * The WebGPU entry point: a GPU object, the `webgpu` npm package (Node), or navigator.gpu. With `required`,
 * GpuError NO_WEBGPU when there is none.
 */
async function resolveGpu(gpu: ModelLoadOptions["gpu"], required: boolean): Promise<GPU | undefined> {
  if (gpu === undefined) {
    const found = defaultGpu();
    if (!found && required)
      throw new GpuError(
        "NO_WEBGPU",
        'WebGPU is not available here (no navigator.gpu; in Node pass gpu: "webgpu" with the webgpu package installed)',
      );
    return found;
  }
  return gpu === "webgpu" ? nodeWebGpu() : (gpu as GPU);
}
