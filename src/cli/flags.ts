// Typed reads of parsed CLI flags: a required path or string, and numbers checked for range and
// integrality, each failure an OptionError naming the flag (and, for a choice, the closest allowed value).
import { OptionError } from "../runtime/errors.ts";
import { didYouMean } from "./suggest.ts";

/** A required string flag; `placeholder` names its value in the error ("--model <path> is required"). */
export function requiredString(flags: Map<string, string | true>, name: string, placeholder = "value"): string {
  const v = flags.get(name);
  if (typeof v !== "string" || v === "") throw new OptionError("MISSING_FLAG", `--${name} <${placeholder}> is required`);
  return v;
}

/** A numeric flag, or undefined when absent. */
export function numberFlag(flags: Map<string, string | true>, name: string, rule: { integer?: boolean; min?: number } = {}): number | undefined {
  const v = flags.get(name);
  if (v === undefined) return undefined;
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
  if (!Number.isFinite(n) || (rule.integer && !Number.isInteger(n)) || (rule.min !== undefined && n < rule.min)) {
    const what = rule.integer ? "an integer" : "a number";
    throw new OptionError("BAD_FLAG_VALUE", `--${name} must be ${what}${rule.min !== undefined ? ` ≥ ${rule.min}` : ""}, got ${JSON.stringify(v)}`);
  }
  return n;
}

/** A string flag, or undefined when absent. */
export function optionalString(flags: Map<string, string | true>, name: string): string | undefined {
  const v = flags.get(name);
  return typeof v === "string" ? v : undefined;
}

/** A flag that must be one of `allowed`, or undefined when absent; the error lists them ("a or b", "a, b, c"). */
export function choiceFlag<T extends string>(flags: Map<string, string | true>, name: string, allowed: readonly T[]): T | undefined {
  const v = flags.get(name);
  if (v === undefined) return undefined;
  if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
    const list = allowed.length === 2 ? allowed.join(" or ") : allowed.join(", ");
    const hint = typeof v === "string" ? didYouMean(v, allowed) : "";
    throw new OptionError("BAD_FLAG_VALUE", `--${name} must be ${list}, got ${JSON.stringify(v)}${hint}`);
  }
  return v as T;
}
