// A forward-only reader over a ByteSource that pulls bounded chunks (1 MiB by default), so that parsing a
// header with a 10 MB vocabulary costs a handful of source reads instead of one per field, and no read ever
// asks the source for the whole file.
//
// Reads are split in two so that the hot loops stay synchronous: the caller checks `buffered()` and awaits
// `fill(n)` only when the current chunk runs short; the typed accessors then read from the chunk without
// promises. The accessors do not check bounds themselves: every call site fills first.
import { GgufError } from "../errors.ts";
import type { ByteSource } from "./source.ts";

export const DEFAULT_CHUNK_SIZE = 1 << 20;

const TWO_POW_32 = 2 ** 32;
// ignoreBOM keeps a leading U+FEFF: a vocabulary can hold it as a token of its own.
const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });

export class ChunkReader {
  /** Absolute offset of the next byte to parse. */
  pos = 0;
  private chunk: Uint8Array = new Uint8Array(0);
  private view: DataView = new DataView(this.chunk.buffer);
  private chunkStart = 0;

  constructor(
    private readonly source: ByteSource,
    private readonly chunkSize = DEFAULT_CHUNK_SIZE,
  ) {}

  get size(): number {
    return this.source.size;
  }

  /** Bytes between `pos` and the end of the source. */
  remaining(): number {
    return this.source.size - this.pos;
  }

  /** Bytes that can be read synchronously at `pos`. */
  buffered(): number {
    return this.chunkStart + this.chunk.length - this.pos;
  }

  /**
   * Makes the next `n` bytes synchronously readable. Reads one chunk, or exactly `n` bytes when a single
   * field (a long string) is larger than a chunk; callers have already checked `n` against the file size.
   */
  async fill(n: number, field: string): Promise<void> {
    if (n > this.remaining()) {
      throw new GgufError("TRUNCATED", `file ends inside ${field}: needs ${n} bytes, ${this.remaining()} left`, this.pos);
    }
    const want = Math.min(Math.max(n, this.chunkSize), this.remaining());
    const bytes = await this.source.read(this.pos, want);
    if (bytes.length < n) {
      throw new GgufError("TRUNCATED", `source returned ${bytes.length} of ${n} bytes for ${field}`, this.pos);
    }
    this.chunk = bytes;
    this.chunkStart = this.pos;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Fills only when needed: `if (r.buffered() < n) await r.fill(n, f)` inlined is faster in hot loops. */
  async ensure(n: number, field: string): Promise<void> {
    if (this.buffered() < n) await this.fill(n, field);
  }

  private take(n: number): number {
    const at = this.pos - this.chunkStart;
    this.pos += n;
    return at;
  }

  u8(): number {
    return this.chunk[this.take(1)]!;
  }
  i8(): number {
    return this.view.getInt8(this.take(1));
  }
  u16(): number {
    return this.view.getUint16(this.take(2), true);
  }
  i16(): number {
    return this.view.getInt16(this.take(2), true);
  }
  u32(): number {
    return this.view.getUint32(this.take(4), true);
  }
  i32(): number {
    return this.view.getInt32(this.take(4), true);
  }
  f32(): number {
    return this.view.getFloat32(this.take(4), true);
  }
  f64(): number {
    return this.view.getFloat64(this.take(8), true);
  }
  u64Big(): bigint {
    return this.view.getBigUint64(this.take(8), true);
  }
  i64Big(): bigint {
    return this.view.getBigInt64(this.take(8), true);
  }

  /**
   * A u64 count, length, dimension or offset as a number. Values of 2^53 or more come back rounded but still
   * ≥ 2^53, so callers reject them with a plain comparison against a safe limit.
   */
  u64(): number {
    const at = this.take(8);
    return this.view.getUint32(at + 4, true) * TWO_POW_32 + this.view.getUint32(at, true);
  }

  /** A view of the next `n` buffered bytes; valid until the next `fill`. */
  bytes(n: number): Uint8Array {
    const at = this.take(n);
    return this.chunk.subarray(at, at + n);
  }

  /** Decodes `n` buffered bytes as UTF-8 (invalid sequences become U+FFFD, as with TextDecoder). */
  string(n: number): string {
    const at = this.take(n);
    const c = this.chunk;
    // Most vocabulary entries are a few ASCII bytes: building those directly skips TextDecoder's call
    // overhead and a subarray allocation, which together dominate parsing a 32k-entry vocabulary.
    if (n <= 16) {
      let s = "";
      for (let i = at; i < at + n; i++) {
        const b = c[i]!;
        if (b >= 0x80) return utf8.decode(c.subarray(at, at + n));
        s += String.fromCharCode(b);
      }
      return s;
    }
    return utf8.decode(c.subarray(at, at + n));
  }

  /** Copies `dst.length` bytes at `pos` into `dst`, chunk by chunk (for large numeric arrays). */
  async copyInto(dst: Uint8Array, field: string): Promise<void> {
    let done = 0;
    while (done < dst.length) {
      if (this.buffered() <= 0) await this.fill(Math.min(dst.length - done, this.chunkSize), field);
      const n = Math.min(this.buffered(), dst.length - done);
      dst.set(this.bytes(n), done);
      done += n;
    }
  }
}
