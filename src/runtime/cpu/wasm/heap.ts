// The JS-owned allocator of the kernels' one wasm memory: first fit over a sorted free list, 64-byte
// alignment (a cache line; every SIMD load is then aligned), growing the memory when it runs out.
// Addresses are plain numbers (byte offsets into memory.buffer).
import { TernionError } from "../../errors.ts";

const PAGE = 65536;
const ALIGN = 64;
/** What a wasm32 memory can address: 65536 pages of 64 KiB. */
export const WASM32_MAX_BYTES = 4 * 1024 ** 3;

/** Pages of a memory of `initialBytes` (at least 1 MiB) that may grow to `maximumBytes` (at most 4 GiB). */
function memoryPages(initialBytes: number, maximumBytes: number): { initial: number; maximum: number } {
  const initial = Math.max(16, Math.ceil(initialBytes / PAGE));
  return { initial, maximum: Math.min(WASM32_MAX_BYTES / PAGE, Math.max(initial, Math.ceil(maximumBytes / PAGE))) };
}

export class WasmHeap {
  readonly memory: WebAssembly.Memory;
  readonly shared: boolean;
  /** The memory's maximum, in bytes: it never grows beyond this. */
  readonly maximumBytes: number;
  private readonly base: number;
  private top: number;
  /** Free blocks [start, size], sorted by start, coalesced. */
  private freeList: Array<[number, number]> = [];
  private readonly sizes = new Map<number, number>();
  private buf: ArrayBuffer | SharedArrayBuffer | undefined;
  private _u8!: Uint8Array;
  private _i8!: Int8Array;
  private _u16!: Uint16Array;
  private _i16!: Int16Array;
  private _i32!: Int32Array;
  private _f32!: Float32Array;
  private _f64!: Float64Array;

  constructor(memory: WebAssembly.Memory, heapBase: number, maximumBytes = WASM32_MAX_BYTES) {
    this.memory = memory;
    this.maximumBytes = maximumBytes;
    this.shared = typeof SharedArrayBuffer !== "undefined" && memory.buffer instanceof SharedArrayBuffer;
    this.base = Math.ceil(heapBase / ALIGN) * ALIGN;
    this.top = this.base;
  }

  /**
   * Creates the memory the module imports (shared when possible), of `initialBytes` growing up to `maximumBytes`
   * (default 4 GiB). A shared memory reserves its whole maximum of address space at once, so callers that know
   * what they will need (a model's memory plan) pass that. A reservation the system refuses is OUT_OF_MEMORY.
   */
  static createMemory(initialBytes: number, shared: boolean, maximumBytes = WASM32_MAX_BYTES): WebAssembly.Memory {
    const { initial, maximum } = memoryPages(initialBytes, maximumBytes);
    try {
      return new WebAssembly.Memory({ initial, maximum, shared } as WebAssembly.MemoryDescriptor);
    } catch (e) {
      throw new TernionError(
        "OUT_OF_MEMORY",
        `cannot reserve a wasm memory of ${initial * PAGE} bytes (maximum ${maximum * PAGE} bytes${shared ? ", shared" : ""}): ${(e as Error).message}`,
      );
    }
  }

  /** The maximum, in bytes, of a memory that `createMemory(initialBytes, shared, maximumBytes)` creates. */
  static maximumOf(initialBytes: number, maximumBytes = WASM32_MAX_BYTES): number {
    return memoryPages(initialBytes, maximumBytes).maximum * PAGE;
  }

  /** Bytes handed out and not freed. */
  get used(): number {
    let s = 0;
    for (const v of this.sizes.values()) s += v;
    return s;
  }

  /**
   * The highest address ever handed out: the part of the memory that has been touched. Pages above it are
   * reserved address space the OS has not committed, so this is the heap's real peak footprint.
   */
  get highWater(): number {
    return this.top;
  }

  get byteLength(): number {
    return this.memory.buffer.byteLength;
  }

  /** Allocates `bytes` (rounded up to 64), 64-byte aligned. Contents are NOT zeroed when reused. */
  alloc(bytes: number): number {
    if (!(bytes >= 0) || !Number.isFinite(bytes)) throw new TernionError("BAD_ALLOCATION", `cannot allocate ${bytes} bytes`);
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    for (let i = 0; i < this.freeList.length; i++) {
      const [start, fsize] = this.freeList[i]!;
      if (fsize >= size) {
        if (fsize === size) this.freeList.splice(i, 1);
        else this.freeList[i] = [start + size, fsize - size];
        this.sizes.set(start, size);
        return start;
      }
    }
    // extend the top (merging a free block that ends at the top)
    let start = this.top;
    const last = this.freeList[this.freeList.length - 1];
    if (last && last[0] + last[1] === this.top) {
      start = last[0];
      this.freeList.pop();
    }
    const end = start + size;
    if (end > this.memory.buffer.byteLength) {
      const need = Math.ceil((end - this.memory.buffer.byteLength) / PAGE);
      const have = this.memory.buffer.byteLength / PAGE;
      // grow geometrically (at least 1/8 of the current size) to keep the number of grows small
      const grow = Math.min(this.maximumBytes / PAGE - have, Math.max(need, Math.ceil(have / 8)));
      if (grow < need) {
        throw new TernionError(
          "OUT_OF_MEMORY",
          `wasm memory cannot hold ${end} bytes (asked for ${size} more; its maximum is ${this.maximumBytes} bytes)`,
        );
      }
      try {
        this.memory.grow(grow);
      } catch (e) {
        throw new TernionError("OUT_OF_MEMORY", `cannot grow wasm memory by ${grow * PAGE} bytes to ${end}: ${(e as Error).message}`);
      }
    }
    this.top = end;
    this.sizes.set(start, size);
    return start;
  }

  /** Allocates and zeroes. */
  calloc(bytes: number): number {
    const p = this.alloc(bytes);
    this.u8.fill(0, p, p + bytes);
    return p;
  }

  free(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) throw new TernionError("BAD_ALLOCATION", `free of unknown address ${ptr}`);
    this.sizes.delete(ptr);
    // insert sorted, coalesce with neighbours
    let lo = 0;
    let hi = this.freeList.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.freeList[mid]![0] < ptr) lo = mid + 1;
      else hi = mid;
    }
    this.freeList.splice(lo, 0, [ptr, size]);
    if (lo + 1 < this.freeList.length && this.freeList[lo]![0] + this.freeList[lo]![1] === this.freeList[lo + 1]![0]) {
      this.freeList[lo]![1] += this.freeList[lo + 1]![1];
      this.freeList.splice(lo + 1, 1);
    }
    if (lo > 0 && this.freeList[lo - 1]![0] + this.freeList[lo - 1]![1] === this.freeList[lo]![0]) {
      this.freeList[lo - 1]![1] += this.freeList[lo]![1];
      this.freeList.splice(lo, 1);
    }
    // give the tail back to the bump pointer
    const last = this.freeList[this.freeList.length - 1];
    if (last && last[0] + last[1] === this.top) {
      this.top = last[0];
      this.freeList.pop();
    }
  }

  /** Size of an allocation (rounded), or undefined. */
  sizeOf(ptr: number): number | undefined {
    return this.sizes.get(ptr);
  }

  private refresh(): void {
    const b = this.memory.buffer;
    if (b === this.buf) return;
    this.buf = b;
    this._u8 = new Uint8Array(b);
    this._i8 = new Int8Array(b);
    this._u16 = new Uint16Array(b);
    this._i16 = new Int16Array(b);
    this._i32 = new Int32Array(b);
    this._f32 = new Float32Array(b);
    this._f64 = new Float64Array(b);
  }

  // Views over the whole memory (refreshed after growth). Index with byte address >> log2(size).
  get u8(): Uint8Array {
    this.refresh();
    return this._u8;
  }
  get i8(): Int8Array {
    this.refresh();
    return this._i8;
  }
  get u16(): Uint16Array {
    this.refresh();
    return this._u16;
  }
  get i16(): Int16Array {
    this.refresh();
    return this._i16;
  }
  get i32(): Int32Array {
    this.refresh();
    return this._i32;
  }
  get f32(): Float32Array {
    this.refresh();
    return this._f32;
  }
  get f64(): Float64Array {
    this.refresh();
    return this._f64;
  }

  /** A Float32Array over [ptr, ptr + 4·length) (valid until the memory grows). */
  f32View(ptr: number, length: number): Float32Array {
    return this.f32.subarray(ptr >> 2, (ptr >> 2) + length);
  }

  /** Copies bytes in. */
  write(ptr: number, data: ArrayBufferView): void {
    this.u8.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), ptr);
  }

  /** Allocates and copies a typed array in. */
  upload(data: ArrayBufferView): number {
    const p = this.alloc(data.byteLength);
    this.write(p, data);
    return p;
  }
}
