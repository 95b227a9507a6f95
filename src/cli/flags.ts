// Typed reads of parsed CLI flags: a required path or string, and numbers checked for range and
// integrality, each failure an OptionError naming the flag.
import { OptionError } from "../runtime/errors.ts";

/** A required string flag; `placeholder` names its value in the error ("--model <path> is required"). */
export function requiredString(flags: Map<string, string | true>, name: string, placeholder = "value"): string {
  const v = flags.get(name);
  if (typeof v !== "string" || v === "") throw new OptionError("MISSING_FLAG", `--${name} <${placeholder}> is required`);
  return v;
}

/** A numeric flag, or undefined when absent. */
export function numberFlag(
  flags: Map<string, string | true>,
  name: string,
  rule: { integer?: boolean; min?: number } = {},
): number | undefined {
  const v = flags.get(name);
  if (v === undefined) return undefined;
  const n = typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
  if (!Number.isFinite(n) || (rule.integer && !Number.isInteger(n)) || (rule.min !== undefined && n < rule.min)) {
    const what = rule.integer ? "an integer" : "a number";
    throw new OptionError("BAD_FLAG_VALUE", `--${name} must be ${what}${rule.min !== undefined ? ` ≥ ${rule.min}` : ""}, got ${JSON.stringify(v)}`);
  }
  return n;
}
