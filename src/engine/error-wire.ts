// Errors across the worker boundary, class and all: structured clone keeps only a plain Error, so the worker
// sends { name, message, code, own fields } and the caller re-creates an instance of the same class from
// errors.ts (without running its constructor, which would edit the message again), so that `instanceof
// ContextError` and `err.code` work on the caller's side exactly as in-thread.
import * as errors from "../runtime/errors.ts";

export interface WireError {
  name: string;
  message: string;
  stack?: string;
  /** Own enumerable fields (code, offset, …) that clone. */
  fields: Record<string, unknown>;
}

type ErrorClass = new (...args: never[]) => Error;

const BUILTIN: Record<string, ErrorClass> = { Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError };

/** errors.ts's classes by name (TernionError and every subclass). */
const TERNION: Record<string, ErrorClass> = Object.fromEntries(
  Object.entries(errors).filter(([, v]) => typeof v === "function" && (v === errors.TernionError || v.prototype instanceof errors.TernionError)),
) as Record<string, ErrorClass>;

export function toWireError(e: unknown): WireError {
  if (!(e instanceof Error)) return { name: "Error", message: String(e), fields: {} };
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    if (k === "name" || k === "message" || k === "stack") continue;
    if (v === null || ["string", "number", "boolean", "bigint", "undefined"].includes(typeof v)) fields[k] = v;
  }
  return { name: e.name, message: e.message, stack: e.stack, fields };
}

export function fromWireError(w: WireError): Error {
  const cls = TERNION[w.name] ?? BUILTIN[w.name] ?? Error;
  const err = Object.create(cls.prototype) as Error;
  Object.defineProperty(err, "message", { value: w.message, writable: true, configurable: true });
  if (w.stack !== undefined) Object.defineProperty(err, "stack", { value: w.stack, writable: true, configurable: true });
  // TernionError sets `name` as an own field; keep the sender's name for classes this side does not know.
  if (cls === errors.TernionError || cls.prototype instanceof errors.TernionError || cls.prototype.name !== w.name) err.name = w.name;
  Object.assign(err, w.fields);
  return err;
}
