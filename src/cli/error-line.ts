// The one line on stderr that a failed command ends with: a TernionError's message and code, a file-system
// error (an --out folder that does not exist, a file without permission) in words rather than Node's
// "ENOENT: no such file or directory, open '…'", and anything else — a bug in ternion — as "internal error"
// with where to report it. Stack traces only with --debug.
import { TernionError } from "../runtime/errors.ts";
import { packageRoot } from "./package-root.ts";
import { terminalText } from "../runtime/terminal-text.ts";

const REASONS: Record<string, string> = {
  ENOENT: "no such file or directory",
  ENOTDIR: "a folder on the path is a file",
  EISDIR: "it is a directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOSPC: "no space left on the device",
  EMFILE: "too many open files",
};

/** The message for `err`, or undefined when it is neither a TernionError nor a file-system error (a bug). */
export function errorLine(err: unknown): string | undefined {
  if (err instanceof TernionError) return `${err.message} [${err.code}]`;
  if (isFsError(err)) {
    const reason = REASONS[err.code!];
    if (reason === undefined || err.path === undefined) return err.message;
    const dest = (err as { dest?: string }).dest;
    return `cannot ${err.syscall} ${err.path}${dest ? ` to ${dest}` : ""}: ${reason} [${err.code}]`;
  }
  return undefined;
}

/**
 * What is said about `err` (control characters escaped: a message may quote a model file): errorLine's text, or
 * for anything else — not the input's fault but a bug — "internal error: …" and where to report it.
 */
export function describeFailure(err: unknown): string {
  const known = errorLine(err);
  if (known !== undefined) return terminalText(known);
  const message = err instanceof Error ? `${err.name === "Error" ? "" : `${err.name}: `}${err.message}` : String(err);
  const where = reportUrl();
  return `internal error: ${terminalText(message)} (a bug in ternion: ${where ? `please report it at ${where}` : "please report it"}, with what --debug prints)`;
}

/** What stderr gets when a command fails: `<prefix>: <describeFailure>`, and with `debug` the stack trace after it. */
export function failureReport(prefix: string, err: unknown, debug: boolean): string {
  const stack = debug && err instanceof Error && err.stack ? `\n${err.stack}` : "";
  return `${prefix}: ${describeFailure(err)}${stack}`;
}

function reportUrl(): string | undefined {
  try {
    return packageRoot().bugs;
  } catch {
    return undefined;
  }
}

function isFsError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === "string" && "syscall" in err;
}
