// Typed errors. Every error ternion throws on bad input is a TernionError with a stable `code`, so callers
// (and the worker bridge, which re-creates errors by class name and code) can branch on it.

export class TernionError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A malformed, truncated or unsupported GGUF file. `offset` is the byte offset of the offending field. */
export class GgufError extends TernionError {
  readonly offset: number | undefined;
  constructor(code: GgufErrorCode, message: string, offset?: number) {
    super(code, offset === undefined ? message : `${message} (at byte ${offset})`);
    this.offset = offset;
  }
}

export type GgufErrorCode =
  | "BAD_MAGIC"
  | "UNSUPPORTED_VERSION"
  | "TRUNCATED"
  | "BAD_VALUE_TYPE"
  | "BAD_BOOL"
  | "NESTING_TOO_DEEP"
  | "BAD_LENGTH"
  | "BAD_DIMS"
  | "DIM_OVERFLOW"
  | "UNKNOWN_TENSOR_TYPE"
  | "BAD_ALIGNMENT"
  | "MISALIGNED_TENSOR"
  | "OVERLAPPING_TENSORS"
  | "TENSOR_OUT_OF_FILE"
  | "DUPLICATE_KEY"
  | "DUPLICATE_TENSOR"
  | "BAD_TENSOR_SHAPE"
  | "WRITE_INVALID";

/** A tensor type that is unknown, or a shape that a type cannot hold. */
export class TensorTypeError extends TernionError {}

/** Missing or inconsistent tokenizer metadata. */
export class TokenizerError extends TernionError {}

/** Wrong command-line or API option; `option` names it (as the caller spelled it) when one option is at fault. */
export class OptionError extends TernionError {
  readonly option?: string;
  constructor(code: string, message: string, option?: string) {
    super(code, message);
    if (option !== undefined) this.option = option;
  }
}

/** Model metadata or tensors that do not describe a model we can run, or a malformed checkpoint to convert. */
export class ModelError extends TernionError {}

/**
 * WebGPU backend failures: no WebGPU / no adapter, a device request or shader that failed, a model the GPU
 * cannot hold, and a lost device (code "DEVICE_LOST"; the caller may fall back to the CPU backend).
 */
export class GpuError extends TernionError {
  constructor(code: GpuErrorCode, message: string) {
    super(code, message);
  }
}

export type GpuErrorCode =
  | "NO_WEBGPU"
  | "NO_ADAPTER"
  | "DEVICE_REQUEST_FAILED"
  | "DEVICE_LOST"
  | "SHADER_ERROR"
  | "VALIDATION"
  | "OUT_OF_MEMORY"
  | "TOO_LARGE"
  | "UNSUPPORTED_TENSOR"
  | "BAD_ARGUMENT"
  | "BUSY"
  | "DISPOSED";

/** A sequence longer than the context: a prompt that does not fit, or generation past the last position. */
export class ContextError extends TernionError {}

/** The engine API (src/engine): a call on a disposed engine, a worker that cannot be found or started. */
export class EngineError extends TernionError {}

/**
 * The engine's worker died (an uncaught error, out of memory, terminated): every pending call rejects with this
 * and later calls too, until `restart()` brings the engine back.
 */
export class EngineCrashedError extends EngineError {}

/** A call or a load cancelled through its AbortSignal. Its name is "AbortError", like the platform's. */
export class AbortError extends TernionError {
  constructor(message = "the operation was aborted") {
    super("ABORTED", message);
  }
}

/**
 * The model cache and its downloads (Node, Deno and browsers): not on the server (NOT_FOUND, 404), refused
 * (UNAUTHORIZED, 401/403), the connection or server failed (DOWNLOAD_FAILED), bytes that disagree with the
 * server's size or sha256 (SIZE_MISMATCH, SHA256_MISMATCH), a full disk (QUOTA_EXCEEDED), no persistent storage
 * in this context (NO_STORAGE), or another process pulling the entry being removed (CACHE_LOCKED). No file is
 * left under the final name; a partial file may stay beside it to resume.
 */
export class CacheError extends TernionError {
  constructor(code: CacheErrorCode, message: string) {
    super(code, message);
  }
}

export type CacheErrorCode =
  | "NOT_FOUND"
  | "UNAUTHORIZED"
  | "DOWNLOAD_FAILED"
  | "SIZE_MISMATCH"
  | "SHA256_MISMATCH"
  | "QUOTA_EXCEEDED"
  | "NO_STORAGE"
  | "CACHE_LOCKED";

/**
 * Fine-tuning (src/train) input the trainer cannot use: a token outside the teacher's vocabulary
 * (BAD_TOKEN), and a checkpoint that fails verification (BAD_CHECKPOINT, CheckpointError).
 */
export class TrainError extends TernionError {
  constructor(code: TrainErrorCode, message: string) {
    super(code, message);
  }
}

export type TrainErrorCode = "BAD_TOKEN" | "BAD_CHECKPOINT";

/**
 * A fine-tuning checkpoint that fails verification: not the current format, damaged (checksum), a field out of
 * range or of the wrong type, a tensor that does not fit the model, a non-finite value, or written by a run
 * with another teacher, other data or other options. The message says which.
 */
export class CheckpointError extends TrainError {
  constructor(message: string) {
    super("BAD_CHECKPOINT", message);
  }
}

/**
 * Constrained generation (src/runtime/grammar): a GBNF grammar that does not parse (GRAMMAR_SYNTAX), names a
 * rule nobody defines (UNDEFINED_RULE), is left-recursive (LEFT_RECURSION) or exceeds a bound (GRAMMAR_TOO_LARGE,
 * GRAMMAR_TOO_AMBIGUOUS); a JSON schema with a keyword the compiler does not support (UNSUPPORTED_SCHEMA) or that
 * is malformed or admits nothing (BAD_SCHEMA); a grammar that admits no token of the vocabulary from where the
 * output stands (NO_VALID_TOKEN).
 */
export class GrammarError extends TernionError {
  constructor(code: GrammarErrorCode, message: string) {
    super(code, message);
  }
}

export type GrammarErrorCode =
  | "GRAMMAR_SYNTAX"
  | "UNDEFINED_RULE"
  | "LEFT_RECURSION"
  | "GRAMMAR_TOO_LARGE"
  | "GRAMMAR_TOO_AMBIGUOUS"
  | "UNSUPPORTED_SCHEMA"
  | "BAD_SCHEMA"
  | "NO_VALID_TOKEN";
