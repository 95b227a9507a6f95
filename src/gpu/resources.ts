// Buffers and pipelines, created once and tracked: every buffer the backend makes goes through a GpuArena
// (so its bytes are counted and dispose() frees them all), pipelines are cached by their WGSL, and a GpuOp is a
// pipeline with its bind group(s) fixed at load, which only needs `encode(pass, n)` per step.
import { GpuError } from "../runtime/errors.ts";
import type { GpuContext } from "./device.ts";
import type { ShaderSource } from "./wgsl/shader.ts";

export class GpuArena {
  readonly device: GPUDevice;
  private readonly buffers: GPUBuffer[] = [];
  bytes = 0;

  constructor(readonly ctx: GpuContext) {
    this.device = ctx.device;
  }

  /** A storage buffer (COPY_DST|COPY_SRC too) of at least 4 bytes, rounded up to a multiple of 4. */
  storage(label: string, bytes: number, extraUsage = 0): GPUBuffer {
    return this.buffer(label, bytes, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC | extraUsage);
  }

  /** A storage buffer holding `data`. */
  upload(label: string, data: ArrayBufferView): GPUBuffer {
    const buf = this.storage(label, data.byteLength);
    writeChunked(this.device, buf, data);
    return buf;
  }

  /** A uniform buffer of 32-bit fields: numbers are u32 unless listed in `floats` (by field index). */
  uniform(label: string, fields: readonly number[], floats: readonly number[] = []): GPUBuffer {
    const n = Math.max(4, Math.ceil(fields.length / 4) * 4);
    const data = new DataView(new ArrayBuffer(n * 4));
    fields.forEach((v, i) => (floats.includes(i) ? data.setFloat32(i * 4, v, true) : data.setUint32(i * 4, v >>> 0, true)));
    const buf = this.buffer(label, n * 4, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    this.device.queue.writeBuffer(buf, 0, data.buffer);
    return buf;
  }

  buffer(label: string, bytes: number, usage: number): GPUBuffer {
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    if (size > this.ctx.maxBufferBytes || ((usage & GPUBufferUsage.STORAGE) !== 0 && size > this.ctx.maxBindingBytes)) {
      throw new GpuError(
        "TOO_LARGE",
        `${label}: ${size} bytes exceed the device's limit (${Math.min(this.ctx.maxBufferBytes, this.ctx.maxBindingBytes)} bytes per storage buffer)`,
      );
    }
    const buf = this.device.createBuffer({ label, size, usage });
    this.buffers.push(buf);
    this.bytes += size;
    return buf;
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
    this.buffers.length = 0;
    this.bytes = 0;
  }
}

/** queue.writeBuffer in pieces of at most 64 MiB (bounded staging memory for large tensors). */
export function writeChunked(device: GPUDevice, buffer: GPUBuffer, data: ArrayBufferView, offset = 0): void {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const piece = 64 << 20;
  for (let at = 0; at < bytes.length; at += piece) {
    const part = bytes.subarray(at, Math.min(bytes.length, at + piece));
    // writeBuffer needs a multiple of 4 bytes: the last piece is padded through a copy.
    const src = part.length % 4 === 0 ? part : padTo4(part);
    device.queue.writeBuffer(buffer, offset + at, src.buffer, src.byteOffset, src.byteLength);
  }
}

function padTo4(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(b.length / 4) * 4);
  out.set(b);
  return out;
}

/** Compiled pipelines, one per distinct WGSL source. */
export class PipelineCache {
  private readonly cache = new Map<string, Promise<GPUComputePipeline>>();
  constructor(private readonly device: GPUDevice) {}

  get(src: ShaderSource): Promise<GPUComputePipeline> {
    let p = this.cache.get(src.code);
    if (!p) {
      p = this.compile(src);
      this.cache.set(src.code, p);
    }
    return p;
  }

  get size(): number {
    return this.cache.size;
  }

  private async compile(src: ShaderSource): Promise<GPUComputePipeline> {
    const module = this.device.createShaderModule({ label: src.label, code: src.code });
    try {
      return await this.device.createComputePipelineAsync({ label: src.label, layout: "auto", compute: { module, entryPoint: "main" } });
    } catch (e) {
      let detail = (e as Error).message;
      const info = await module.getCompilationInfo?.().catch(() => undefined);
      const errors = info?.messages.filter((m) => m.type === "error") ?? [];
      if (errors.length) detail = errors.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join("; ");
      throw new GpuError("SHADER_ERROR", `WGSL "${src.label}" failed: ${detail}`);
    }
  }
}

/** One dispatch of a step, bound once; `encode` records it for a step of n tokens. */
export interface GpuOp {
  readonly label: string;
  encode(pass: GPUComputePassEncoder, n: number): void;
}

export type Dispatch = (n: number) => readonly [number, number?, number?];

/** Binds `buffers` (by the shader's binding names) to a pipeline. */
export function bindGroup(device: GPUDevice, pipeline: GPUComputePipeline, src: ShaderSource, buffers: Record<string, GPUBuffer>): GPUBindGroup {
  return device.createBindGroup({
    label: src.label,
    layout: pipeline.getBindGroupLayout(0),
    entries: src.bindings.map((name, binding) => {
      const buffer = buffers[name];
      if (!buffer) throw new GpuError("BAD_ARGUMENT", `${src.label}: no buffer for binding "${name}"`);
      return { binding, resource: { buffer } };
    }),
  });
}

/** An op that runs `pipeline` with `dispatch(n)` workgroups. */
export function simpleOp(label: string, pipeline: GPUComputePipeline, group: GPUBindGroup, dispatch: Dispatch): GpuOp {
  return {
    label,
    encode(pass, n) {
      const [x, y = 1, z = 1] = dispatch(n);
      if (x === 0 || y === 0) return;
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, group);
      pass.dispatchWorkgroups(x, y, z);
    },
  };
}

/** A 1-D count of workgroups folded into 2-D when it exceeds the per-dimension limit. */
export function fold(count: number, limit = 65535): readonly [number, number] {
  return count <= limit ? [count, 1] : [limit, Math.ceil(count / limit)];
}

/** Copies `bytes` of `buffer` back to the CPU through a temporary staging buffer (tests, one-off reads). */
export async function readBuffer(ctx: GpuContext, buffer: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
  const size = Math.ceil(bytes / 4) * 4;
  const staging = ctx.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const enc = ctx.device.createCommandEncoder();
    enc.copyBufferToBuffer(buffer, offset, staging, 0, size);
    ctx.device.queue.submit([enc.finish()]);
    await mapRead(ctx, staging, size);
    return staging.getMappedRange(0, size).slice(0, bytes);
  } finally {
    staging.destroy();
  }
}

/** mapAsync(READ) with a lost device reported as GpuError DEVICE_LOST. */
export async function mapRead(ctx: GpuContext, buffer: GPUBuffer, size: number): Promise<void> {
  try {
    await buffer.mapAsync(GPUMapMode.READ, 0, size);
  } catch (e) {
    ctx.check();
    throw new GpuError("DEVICE_LOST", `reading back from the GPU failed: ${(e as Error).message}`);
  }
}
