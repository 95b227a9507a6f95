// Device acquisition: `navigator.gpu` where it exists (browsers, Deno), or a `GPU` / `GPUDevice` passed in by
// the caller (Node with the `webgpu` package: `import { create, globals } from "webgpu"; gpu: create([])`).
// Every failure is a GpuError with a stable code; a lost device is remembered and reported by `check()`.
import { GpuError } from "../runtime/errors.ts";

export interface GpuDeviceOptions {
  /** A WebGPU entry point (Node: `create([])` of the `webgpu` package). Default: `navigator.gpu`. */
  gpu?: GPU;
  /** An existing device (its adapter's description is then unknown unless `adapterName` says it). */
  device?: GPUDevice;
  adapterName?: string;
  powerPreference?: GPUPowerPreference;
  /** Workgroup shapes; default by adapter (GPU_TUNING, or CPU_ADAPTER_TUNING for software adapters). */
  tuning?: KernelTuning;
  /** An adapter already asked for (probeAdapter), so that it is not asked for twice. */
  probe?: AdapterProbe;
}

export interface GpuContext {
  readonly device: GPUDevice;
  /** The entry point the device came from, kept referenced: Node's Dawn binding tears the instance (and
   *  every device of it) down when its GPU object is garbage-collected. */
  readonly gpu: GPU | undefined;
  /** "vendor architecture description" of the adapter, for reports. */
  readonly adapterName: string;
  /** The device's limits we size buffers by. */
  readonly maxBindingBytes: number;
  readonly maxBufferBytes: number;
  /** WGSL has dot4I8Packed (the `packed_4x8_integer_dot_product` language feature); else a polyfill runs. */
  readonly packedDot: boolean;
  /** Workgroup shapes for this adapter (see KernelTuning). */
  readonly tuning: KernelTuning;
  /** Throws GpuError("DEVICE_LOST") once the device is lost, or the first uncaptured GPU error. */
  check(): void;
  /** Resolves when the device is lost (destroy() included). */
  readonly lost: Promise<GPUDeviceLostInfo>;
  destroy(): void;
}

/**
 * Workgroup shapes. A GPU wants 32 lanes per matrix row (coalesced 128-byte reads) and 256-thread
 * reductions; a CPU adapter (SwiftShader, lavapipe) runs every invocation of a workgroup as a fiber and pays
 * for each barrier, so it gets 4 lanes and 32-thread reductions (6× faster there, identical results up to
 * the order of f32 sums).
 */
export interface KernelTuning {
  /** Lanes that split one row of a matmul. */
  lanes: number;
  /** Threads of the reduction kernels (quantize, RMSNorm, argmax). */
  reduce: number;
}

export const GPU_TUNING: KernelTuning = { lanes: 32, reduce: 256 };
export const CPU_ADAPTER_TUNING: KernelTuning = { lanes: 4, reduce: 32 };

/** Software rasterizers that expose Vulkan/WebGPU on the CPU. */
export function isSoftwareAdapter(name: string): boolean {
  return /swiftshader|llvmpipe|lavapipe|software|warp/i.test(name);
}

/** The WebGPU entry point of this platform, if any. */
export function defaultGpu(): GPU | undefined {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  return nav?.gpu;
}

/**
 * Acquires a device with the adapter's own storage-buffer limits (the defaults, 128 MiB per binding, are
 * too small for a 2B model's embedding). Throws GpuError NO_WEBGPU, NO_ADAPTER or DEVICE_REQUEST_FAILED.
 */
export async function acquireGpu(options: GpuDeviceOptions = {}): Promise<GpuContext> {
  if (options.device) {
    const gpu = options.gpu ?? defaultGpu();
    const name = options.adapterName ?? "(caller's device)";
    return wrapDevice(gpu, options.device, name, hasPackedDot(gpu), options.tuning ?? (isSoftwareAdapter(name) ? CPU_ADAPTER_TUNING : GPU_TUNING));
  }
  const { adapter, name, software } = options.probe ?? (await probeAdapter(options));
  const limits = adapter.limits;
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({
      requiredLimits: {
        maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
        maxBufferSize: limits.maxBufferSize,
        maxStorageBuffersPerShaderStage: Math.min(limits.maxStorageBuffersPerShaderStage, 10),
        maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      },
    });
  } catch (e) {
    throw new GpuError("DEVICE_REQUEST_FAILED", `requestDevice on ${name} failed: ${(e as Error).message}`);
  }
  const gpu = options.gpu ?? defaultGpu();
  return wrapDevice(gpu, device, name, hasPackedDot(gpu), software ? CPU_ADAPTER_TUNING : GPU_TUNING);
}

/** The adapter WebGPU offers, its name, and whether it computes on the CPU (a software or fallback adapter). */
export interface AdapterProbe {
  adapter: GPUAdapter;
  name: string;
  software: boolean;
}

/**
 * Asks for an adapter without creating a device: enough to decide whether WebGPU is worth using. (A device
 * requested only to be destroyed again has crashed Deno at exit with Mesa's lavapipe.) Throws GpuError
 * NO_WEBGPU or NO_ADAPTER.
 */
export async function probeAdapter(options: Pick<GpuDeviceOptions, "gpu" | "powerPreference"> = {}): Promise<AdapterProbe> {
  const gpu = options.gpu ?? defaultGpu();
  if (!gpu) throw new GpuError("NO_WEBGPU", "WebGPU is not available here (no navigator.gpu and no GPU object passed in)");
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter(options.powerPreference ? { powerPreference: options.powerPreference } : undefined);
  } catch (e) {
    throw new GpuError("NO_ADAPTER", `requestAdapter failed: ${(e as Error).message}`);
  }
  if (!adapter) throw new GpuError("NO_ADAPTER", "WebGPU has no adapter on this machine (no GPU or no driver)");
  const info = adapter.info;
  const name = [info?.vendor, info?.architecture, info?.description || info?.device].filter(Boolean).join(" ") || "unknown adapter";
  const fallback =
    (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
    (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter === true;
  return { adapter, name, software: fallback || isSoftwareAdapter(name) };
}

function hasPackedDot(gpu: GPU | undefined): boolean {
  const features = (gpu as { wgslLanguageFeatures?: ReadonlySet<string> } | undefined)?.wgslLanguageFeatures;
  return features?.has("packed_4x8_integer_dot_product") ?? false;
}

function wrapDevice(gpu: GPU | undefined, device: GPUDevice, adapterName: string, packedDot: boolean, tuning: KernelTuning): GpuContext {
  let failure: GpuError | undefined;
  const lost = device.lost.then((info) => {
    failure ??= new GpuError("DEVICE_LOST", `the GPU device was lost (${info.reason}): ${info.message || "no message"}`);
    return info;
  });
  device.addEventListener?.("uncapturederror", (ev) => {
    const err = (ev as GPUUncapturedErrorEvent).error;
    const oom = typeof GPUOutOfMemoryError !== "undefined" && err instanceof GPUOutOfMemoryError;
    failure ??= new GpuError(oom ? "OUT_OF_MEMORY" : "VALIDATION", `GPU error: ${err.message}`);
  });
  return {
    device,
    gpu,
    adapterName,
    maxBindingBytes: device.limits.maxStorageBufferBindingSize,
    maxBufferBytes: device.limits.maxBufferSize,
    packedDot,
    tuning,
    lost,
    check() {
      if (failure) throw failure;
    },
    destroy() {
      device.destroy();
    },
  };
}
