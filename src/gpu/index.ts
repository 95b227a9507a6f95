// The WebGPU backend's public API: device acquisition and the GPU model (load → forward / forwardArgmax →
// dispose). Kernels and buffer layouts are internal (see the files beside this one). GpuError is exported with
// the other errors (src/runtime/errors.ts).
export { acquireGpu, defaultGpu, isSoftwareAdapter, CPU_ADAPTER_TUNING, GPU_TUNING } from "./device.ts";
export type { GpuContext, GpuDeviceOptions, KernelTuning } from "./device.ts";
export { GpuModel } from "./model.ts";
export type { GpuModelOptions, GpuModelStats } from "./model.ts";
