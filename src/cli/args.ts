// A small, strict flag parser for the CLI: `--name value`, `--name=value`, boolean `--flag`, positionals.
// Unknown flags and missing values are errors (OptionError), never silently ignored.
import { OptionError } from "../runtime/errors.ts";

export interface FlagSpec {
  /** "string" takes a value, "boolean" does not. */
  type: "string" | "boolean";
  description: string;
}

export interface ParsedArgs {
  flags: Map<string, string | true>;
  positionals: string[];
}

export function parseArgs(argv: readonly string[], spec: Record<string, FlagSpec>): ParsedArgs {
  const flags = new Map<string, string | true>();
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith("--") || arg === "--") {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const s = spec[name];
    if (!s) throw new OptionError("UNKNOWN_FLAG", `unknown flag --${name}`);
    if (s.type === "boolean") {
      if (eq >= 0) throw new OptionError("BAD_FLAG_VALUE", `--${name} takes no value`);
      flags.set(name, true);
      continue;
    }
    let value: string | undefined;
    if (eq >= 0) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      if (value === undefined) throw new OptionError("MISSING_FLAG_VALUE", `--${name} needs a value`);
      i++;
    }
    flags.set(name, value);
  }
  return { flags, positionals };
}

export function formatFlagHelp(spec: Record<string, FlagSpec>): string {
  const rows = Object.entries(spec).map(([name, s]) => [`--${name}${s.type === "string" ? " <value>" : ""}`, s.description]);
  const width = Math.max(...rows.map((r) => r[0]!.length));
  return rows.map(([a, b]) => `  ${a!.padEnd(width)}  ${b}`).join("\n");
}
