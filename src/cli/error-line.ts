// The one line on stderr that a failed command ends with: a TernionError's message and code, or a file-system
// error (an --out folder that does not exist, a file without permission) in words rather than Node's
// "ENOENT: no such file or directory, open '…'".
import { TernionError } from "../runtime/errors.ts";

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

/** The message for `err`, or undefined when it is neither a TernionError nor a file-system error (a bug: rethrown). */
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

function isFsError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === "string" && "syscall" in err;
}
