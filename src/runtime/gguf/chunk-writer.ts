// The writing counterpart of ChunkReader: little-endian fields are encoded synchronously into fixed-size
// chunks (1 MiB by default), and the writer hands the completed chunks to an async sink between entries,
// so that memory stays bounded by a chunk plus the largest single field, and the sink sees few large writes.
import { HOST_IS_LITTLE_ENDIAN, swapBytes } from "./format.ts";

export const DEFAULT_WRITE_CHUNK_SIZE = 1 << 20;

/** Receives the file's bytes in order. Each chunk is handed over for good: the writer never touches it again. */
export type ChunkSink = (chunk: Uint8Array) => void | Promise<void>;

const utf8 = new TextEncoder();
const ZEROS = new Uint8Array(4096);

export class ChunkWriter {
  /** Bytes written so far (handed to the sink or pending). */
  written = 0;
  private chunk: Uint8Array;
  private view: DataView;
  private used = 0;
  private ready: Uint8Array[] = [];

  constructor(
    private readonly sink: ChunkSink,
    private readonly chunkSize = DEFAULT_WRITE_CHUNK_SIZE,
  ) {
    this.chunk = new Uint8Array(chunkSize);
    this.view = new DataView(this.chunk.buffer);
  }

  /** Returns the chunk offset of `n` contiguous bytes, starting a new chunk when the current one is short. */
  private reserve(n: number): number {
    if (this.used + n > this.chunk.length) {
      this.retire();
      if (n > this.chunk.length) {
        this.chunk = new Uint8Array(n);
        this.view = new DataView(this.chunk.buffer);
      }
    }
    const at = this.used;
    this.used += n;
    this.written += n;
    return at;
  }

  /** Moves the filled part of the current chunk to the ready list and starts a fresh chunk. */
  private retire(): void {
    if (this.used === 0) return; // nothing of this chunk was handed out: keep using it
    this.ready.push(this.chunk.subarray(0, this.used));
    this.chunk = new Uint8Array(this.chunkSize);
    this.view = new DataView(this.chunk.buffer);
    this.used = 0;
  }

  u8(v: number): void {
    this.chunk[this.reserve(1)] = v;
  }
  i8(v: number): void {
    this.view.setInt8(this.reserve(1), v);
  }
  u16(v: number): void {
    this.view.setUint16(this.reserve(2), v, true);
  }
  i16(v: number): void {
    this.view.setInt16(this.reserve(2), v, true);
  }
  u32(v: number): void {
    this.view.setUint32(this.reserve(4), v, true);
  }
  i32(v: number): void {
    this.view.setInt32(this.reserve(4), v, true);
  }
  f32(v: number): void {
    this.view.setFloat32(this.reserve(4), v, true);
  }
  f64(v: number): void {
    this.view.setFloat64(this.reserve(8), v, true);
  }
  u64Big(v: bigint): void {
    this.view.setBigUint64(this.reserve(8), v, true);
  }
  i64Big(v: bigint): void {
    this.view.setBigInt64(this.reserve(8), v, true);
  }
  /** A u64 from a non-negative safe integer (lengths, counts, dims, offsets). */
  u64(v: number): void {
    const at = this.reserve(8);
    this.view.setUint32(at, v % 2 ** 32, true);
    this.view.setUint32(at + 4, Math.floor(v / 2 ** 32), true);
  }

  /** A u64 byte length followed by the UTF-8 bytes. */
  string(s: string): void {
    // Encode straight into the chunk when the worst case (3 bytes per UTF-16 unit) fits; patch the length.
    const worst = 3 * s.length;
    if (worst <= this.chunkSize - 8) {
      if (this.used + 8 + worst > this.chunk.length) this.retire();
      const lengthAt = this.used;
      const { written } = utf8.encodeInto(s, this.chunk.subarray(lengthAt + 8));
      this.u64(written); // lands at lengthAt: reserve() does not retire, the space was checked above
      this.used += written;
      this.written += written;
      return;
    }
    const bytes = utf8.encode(s);
    this.u64(bytes.length);
    this.bytes(bytes);
  }

  /** Copies `src` (any length) into the chunks. */
  bytes(src: Uint8Array): void {
    let done = 0;
    while (done < src.length) {
      if (this.used === this.chunk.length) this.retire();
      const n = Math.min(this.chunk.length - this.used, src.length - done);
      this.chunk.set(src.subarray(done, done + n), this.used);
      this.used += n;
      this.written += n;
      done += n;
    }
  }

  /** The little-endian bytes of a typed array. */
  typedArray(a: ArrayBufferView & { BYTES_PER_ELEMENT: number }): void {
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    if (HOST_IS_LITTLE_ENDIAN) return this.bytes(bytes);
    const copy = bytes.slice();
    swapBytes(copy, a.BYTES_PER_ELEMENT);
    this.bytes(copy);
  }

  /** Zero bytes up to the next multiple of `alignment`. */
  pad(alignment: number): void {
    let n = (alignment - (this.written % alignment)) % alignment;
    while (n > 0) {
      const k = Math.min(n, ZEROS.length);
      this.bytes(ZEROS.subarray(0, k));
      n -= k;
    }
  }

  /**
   * Hands `data` to the sink without copying it (for tensor data), after everything written before it.
   */
  async passThrough(data: Uint8Array): Promise<void> {
    this.retire();
    await this.drain();
    this.written += data.length;
    if (data.length > 0) await this.sink(data);
  }

  /** Hands the completed chunks to the sink. */
  async drain(): Promise<void> {
    const ready = this.ready;
    this.ready = [];
    for (const c of ready) await this.sink(c);
  }

  /** Hands everything written so far to the sink. */
  async flush(): Promise<void> {
    this.retire();
    await this.drain();
  }
}
