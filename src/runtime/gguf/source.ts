// Random-access byte sources. A model is read by offset through one of these, never as one big buffer:
// a 2 GB model must not need a 2 GB ArrayBuffer.

export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /**
   * Reads `length` bytes at `offset`. Returns fewer bytes only at the end of the source. The returned
   * array may be a view into a shared buffer; copy it if you keep it.
   */
  read(offset: number, length: number): Promise<Uint8Array>;
  close?(): Promise<void>;
}
