// Cancellation that reaches a worker while it is busy. A cancel sent as a message waits until the worker's
// current synchronous work ends (a chat template's render runs to its budget); these flags, in memory shared by
// the caller and the worker, are read by that work as it runs (CallContext.interrupted). Where there is no
// SharedArrayBuffer (a page that is not cross-origin isolated) there are no flags, and the message alone cancels.

/** Cancelled call ids, one slot per id modulo SLOTS (a later id in a slot replaces an older one), then "all". */
const SLOTS = 64;

export class InterruptFlags {
  private constructor(readonly words: Int32Array) {}

  /** New flags, or undefined where memory cannot be shared. */
  static create(): InterruptFlags | undefined {
    if (typeof SharedArrayBuffer !== "function") return undefined;
    return new InterruptFlags(new Int32Array(new SharedArrayBuffer(4 * (SLOTS + 1))));
  }

  /** The worker's view of the caller's flags (the words it was sent). */
  static from(words: Int32Array | undefined): InterruptFlags | undefined {
    return words instanceof Int32Array && words.length === SLOTS + 1 ? new InterruptFlags(words) : undefined;
  }

  interrupt(id: number): void {
    Atomics.store(this.words, id % SLOTS, id);
  }

  /** Every call, now and later (the engine is being disposed). */
  interruptAll(): void {
    Atomics.store(this.words, SLOTS, 1);
  }

  isInterrupted(id: number): boolean {
    return Atomics.load(this.words, SLOTS) !== 0 || Atomics.load(this.words, id % SLOTS) === id;
  }
}
