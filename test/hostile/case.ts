// The hostile corpus: inputs an attacker controls, each with what to do with it. The corpus tests run every case
// in a process of its own under a memory cap and a time limit (./bounded-run.ts) through the library, the worker
// engine and the CLI, and accept only two outcomes: a result, or a typed error (a TernionError with a code; a
// one-line message and exit 2 from the CLI). A crash, a hang, a memory blow-up or an untyped error fails.

/** A hostile model file: a GGUF (usually a real small model with one thing changed) and what to run on it. */
export interface HostileModelCase {
  /** Unique and stable; says what is hostile, e.g. "gguf/block_count=2147483647". */
  name: string;
  /** The file's bytes. */
  model(): Uint8Array;
  /**
   * What to run after the load: "load" only; "generate" a few tokens; "chat" one user message (renders the
   * file's chat template); "ppl" a short perplexity; "inspect" (the CLI's `inspect`, the library's header read).
   */
  action: "load" | "generate" | "chat" | "ppl" | "inspect";
  /**
   * What the case must end with, where only one outcome is right; without it, a result or any typed error.
   * `refused`: a typed error whose code matches (and message, if given) — e.g. NaN where the forward pass reads
   * it, a template over its budget; `answers`: a result — odd but valid input must still work.
   */
  expect?: { refused: { code: RegExp; message?: RegExp } } | { answers: true };
}

/** A hostile fine-tuning checkpoint: a good one (from a short real run) changed by `corrupt`, then resumed. */
export interface HostileCheckpointCase {
  /** Unique and stable, e.g. "checkpoint/step-edited-beyond-steps". */
  name: string;
  corrupt(good: Uint8Array): Uint8Array;
}

/** Every case of the corpus runs under these bounds (per case and per path: library, worker engine, CLI). */
export const CASE_MEMORY_CAP_MIB = 256;
export const CASE_TIME_LIMIT_MS = 10_000;
