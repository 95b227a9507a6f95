// Reads of a remote file through a small cache of aligned blocks, so that the loader's reads — small tensors
// in an order that jumps back and forth within a layer, the header in 1 MiB chunks — become a few block-sized
// requests instead of one per tensor. A read of a block or more is fetched as asked (it is already one large
// request), its ends taken from cached blocks where they are there, so that no byte is fetched twice. Memory
// is at most `maxBlocks` blocks, whatever the file's size.

/** Fetches bytes [start, end) of the file, exactly. */
export type FetchRange = (start: number, end: number) => Promise<Uint8Array>;

export class BlockCache {
  /** Cached blocks by index, least recently used first. */
  private readonly blocks = new Map<number, Uint8Array>();

  constructor(
    private readonly size: number,
    private readonly blockBytes: number,
    private readonly maxBlocks: number,
    private readonly fetchRange: FetchRange,
  ) {
    // A read smaller than a block spans at most two: both must fit.
    if (maxBlocks < 2) throw new RangeError(`a block cache needs at least 2 blocks, got ${maxBlocks}`);
  }

  /** Puts block `index` (already fetched, e.g. with the request that found the file's size). */
  put(index: number, bytes: Uint8Array): void {
    this.blocks.delete(index);
    this.blocks.set(index, bytes);
    while (this.blocks.size > this.maxBlocks) this.blocks.delete(this.blocks.keys().next().value as number);
  }

  /** Bytes [start, end), within the file. The result may be a view of a cached block: never write to it. */
  async read(start: number, end: number): Promise<Uint8Array> {
    if (end <= start) return new Uint8Array(0);
    const B = this.blockBytes;
    const first = Math.floor(start / B);
    const last = Math.floor((end - 1) / B);
    if (end - start < B) {
      // One or two blocks: fetch the missing ones in one request and keep them.
      const missing = [];
      for (let i = first; i <= last; i++) {
        if (this.blocks.has(i))
          this.block(i); // most recently used: the blocks fetched now must not evict it
        else missing.push(i);
      }
      if (missing.length > 0) {
        const lo = missing[0]!;
        const hi = missing.at(-1)!;
        const bytes = await this.fetchRange(lo * B, Math.min(this.size, (hi + 1) * B));
        // Copies when the reply holds two blocks, so that evicting one frees its memory.
        for (let i = lo; i <= hi; i++) this.put(i, hi === lo ? bytes : bytes.slice((i - lo) * B, (i - lo + 1) * B));
      }
      if (first === last) return this.block(first).subarray(start - first * B, end - first * B);
      return this.assemble(start, end, first, last, undefined);
    }
    // A large read: cached blocks at either end serve those bytes, the rest is one request.
    let lo = first;
    while (lo <= last && this.blocks.has(lo)) lo++;
    if (lo > last) return this.assemble(start, end, first, last, undefined);
    let hi = last;
    while (hi > lo && this.blocks.has(hi)) hi--;
    const middleStart = Math.max(start, lo * B);
    const middle = await this.fetchRange(middleStart, Math.min(end, (hi + 1) * B));
    if (lo === first && hi === last) return middle;
    return this.assemble(start, end, first, last, { from: lo, to: hi, at: middleStart, bytes: middle });
  }

  private block(index: number): Uint8Array {
    const b = this.blocks.get(index)!;
    this.put(index, b); // most recently used now
    return b;
  }

  /** [start, end) from blocks first..last, where blocks `middle.from..to` are replaced by `middle.bytes`. */
  private assemble(
    start: number,
    end: number,
    first: number,
    last: number,
    middle: { from: number; to: number; at: number; bytes: Uint8Array } | undefined,
  ): Uint8Array {
    const B = this.blockBytes;
    const out = new Uint8Array(end - start);
    for (let i = first; i <= last; i++) {
      if (middle && i >= middle.from && i <= middle.to) {
        if (i === middle.from) out.set(middle.bytes, middle.at - start);
        continue;
      }
      const from = Math.max(start, i * B);
      const to = Math.min(end, (i + 1) * B);
      out.set(this.block(i).subarray(from - i * B, to - i * B), from - start);
    }
    return out;
  }
}
