// Random-access byte sources. A model is read by offset through one of these, never as one big buffer:
// a 2 GB model must not need a 2 GB ArrayBuffer.

export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Reads `length` bytes at `offset`. Returns fewer bytes only at the end of the source. The returned
   * array may be a view of memory the source shares (bytesSource returns a view of its input): never write
   * to it; copy it first if you need to modify it. Implementations in this repo never reuse a returned
   * array for a later read, so callers may keep it.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  close?(): Promise<void>;
}
