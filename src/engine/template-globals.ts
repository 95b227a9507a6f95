// The names a chat template sees besides its variables: what @huggingface/jinja's own setup gives (true/false/none
// in both cases, raise_exception, range, strftime_now), with range refused before it builds a list over the size
// budget and raise_exception failing with a typed error that carries the template's message.
import type { Environment } from "@huggingface/jinja";
import { ModelError } from "../runtime/errors.ts";
import { ENTRY_SIZE, type TemplateBudget } from "./template-budget.ts";

/** Longest message from raise_exception kept in the error (the template's text, so bounded). */
const MAX_RAISED_CHARS = 500;

export function setTemplateGlobals(env: Environment, budget: TemplateBudget): void {
  for (const [name, value] of [
    ["true", true],
    ["false", false],
    ["none", null],
    ["True", true],
    ["False", false],
    ["None", null],
  ] as const) {
    env.set(name, value);
  }
  env.set("raise_exception", (message: unknown) => {
    const text = String(message);
    const shown = printable(text.length > MAX_RAISED_CHARS ? `${text.slice(0, MAX_RAISED_CHARS)}… (${text.length} characters)` : text);
    throw new ModelError("BAD_CHAT_TEMPLATE", `the chat template raised an exception: ${shown}`);
  });
  env.set("range", (...args: unknown[]) => boundedRange(args, budget));
  env.set("strftime_now", (format: unknown) => strftime(new Date(), String(format)));
}

/** Text from the model file as it may be printed: control characters (escape sequences) written as \\xNN. */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/** Python's range(stop) / range(start, stop[, step]), its length checked before any number is made. */
function boundedRange(args: unknown[], budget: TemplateBudget): number[] {
  if (args.length < 1 || args.length > 3 || !args.every((a) => Number.isSafeInteger(a)))
    throw new ModelError("BAD_CHAT_TEMPLATE", `range() takes one to three integers, not (${args.map(String).join(", ")})`);
  const [start, stop, step] = (args.length === 1 ? [0, args[0], 1] : [args[0], args[1], args[2] ?? 1]) as [number, number, number];
  if (step === 0) throw new ModelError("BAD_CHAT_TEMPLATE", "range() step must not be zero");
  const length = Math.max(0, Math.ceil((stop - start) / step));
  if (length * ENTRY_SIZE > budget.maxValueSize) {
    throw new ModelError(
      "BAD_CHAT_TEMPLATE",
      `the chat template exceeded its size budget: range() of ${length} numbers (${length * ENTRY_SIZE} > ${budget.maxValueSize})`,
    );
  }
  return Array.from({ length }, (_, i) => start + i * step);
}

/** The strftime subset chat templates use (as @huggingface/jinja has it): %Y %m %d %b %B %H %M %%. */
function strftime(date: Date, format: string): string {
  const pad2 = (n: number) => String(n).padStart(2, "0");
  return format.replace(/%[YmdbBHM%]/g, (token) => {
    switch (token) {
      case "%Y":
        return String(date.getFullYear());
      case "%m":
        return pad2(date.getMonth() + 1);
      case "%d":
        return pad2(date.getDate());
      case "%b":
        return new Intl.DateTimeFormat(undefined, { month: "short" }).format(date);
      case "%B":
        return new Intl.DateTimeFormat(undefined, { month: "long" }).format(date);
      case "%H":
        return pad2(date.getHours());
      case "%M":
        return pad2(date.getMinutes());
      default:
        return "%";
    }
  });
}
