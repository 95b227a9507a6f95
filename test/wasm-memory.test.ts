// The kernels' wasm memory: reserved to what a model's plan needs, and every failure to reserve or grow it is a
// typed OUT_OF_MEMORY naming the bytes.
import { afterEach, describe, expect, it, vi } from "vitest";
import { CpuModel } from "../src/runtime/cpu/model.ts";
import { sharedMemorySupport } from "../src/runtime/cpu/wasm/features.ts";
import { WASM32_MAX_BYTES, WasmHeap } from "../src/runtime/cpu/wasm/heap.ts";
import { TernionError } from "../src/runtime/errors.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { sharedPath } from "./helpers/shared.ts";

const MiB = 1 << 20;

afterEach(() => {
  vi.restoreAllMocks();
});

describe("WasmHeap memory bounds", () => {
  it("grows up to its maximum and no further, with OUT_OF_MEMORY naming the bytes", () => {
    const memory = WasmHeap.createMemory(MiB, false, 2 * MiB);
    const heap = new WasmHeap(memory, 1024, WasmHeap.maximumOf(MiB, 2 * MiB));
    expect(heap.maximumBytes).toBe(2 * MiB);
    heap.alloc(MiB + MiB / 2); // grows past its initial 1 MiB
    expect(heap.byteLength).toBeGreaterThan(MiB);
    expect(heap.byteLength).toBeLessThanOrEqual(2 * MiB);
    expect(() => heap.alloc(MiB)).toThrow(
      expect.objectContaining({ code: "OUT_OF_MEMORY", message: expect.stringMatching(/asked for 1048576 more; its maximum is 2097152 bytes/) }),
    );
  });

  it("a memory the system refuses to reserve is OUT_OF_MEMORY, not a RangeError", () => {
    vi.spyOn(WebAssembly, "Memory").mockImplementation(function refuse() {
      throw new RangeError("WebAssembly.Memory(): could not allocate memory");
    });
    let thrown: unknown;
    try {
      WasmHeap.createMemory(64 * MiB, true, 128 * MiB);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(TernionError);
    expect(thrown).toMatchObject({
      code: "OUT_OF_MEMORY",
      message: expect.stringMatching(/67108864 bytes \(maximum 134217728 bytes, shared\): .*could not allocate/),
    });
  });

  it("probes shared-memory support without creating a memory (each one reserves ~10 GiB of address space in V8)", () => {
    const created = vi.spyOn(WebAssembly, "Memory");
    expect(sharedMemorySupport().ok).toBe(true);
    expect(created).not.toHaveBeenCalled();
  });
});

describe("a model's wasm memory", () => {
  it("is reserved to the model's plan (stories260K: well under 4 GiB), not to the wasm32 maximum", async () => {
    const source = await openFileSource(sharedPath("models/stories260K.gguf"));
    const model = await CpuModel.load(source, { threads: 1 });
    try {
      const max = model.kernels.heap.maximumBytes;
      expect(max).toBeGreaterThanOrEqual(model.plan.total);
      expect(max).toBeLessThan(model.plan.total + 128 * MiB);
      expect(max).toBeLessThan(WASM32_MAX_BYTES);
      // it still runs: the forward pass's lazily sized buffers fit the headroom
      const logits = model.eval([1, 2, 3, 4, 5, 6, 7, 8]);
      expect(logits?.length).toBe(model.config.vocabSize);
    } finally {
      model.dispose();
      await source.close();
    }
  });
});
