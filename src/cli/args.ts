// The CLI's flags: `--name value`, `--name=value`, a short `-n value` / `-n5` where the spec gives one, boolean
// `--flag`, positionals, and `--` before positionals that start with a dash. node:util's parseArgs splits the
// arguments; the checks are ours, so that every mistake is one OptionError line with a "did you mean":
// parseArgs' strict mode would also refuse a value that starts with a dash (`--prompt "-x"`, `--temperature -1`,
// which must reach the range check) and words its errors in several sentences.
import { parseArgs as splitArgs } from "node:util";
import { OptionError } from "../runtime/errors.ts";
import { didYouMean } from "./suggest.ts";

export interface FlagSpec {
  /** "string" takes a value, "boolean" does not. */
  type: "string" | "boolean";
  description: string;
  /** One letter for `-x`, for the common flags (-m, -p, -n, -t, -h). */
  short?: string;
}

export interface ParsedArgs {
  flags: Map<string, string | true>;
  positionals: string[];
}

type OptionToken = { kind: "option"; name: string; rawName: string; index: number; value?: string; inlineValue?: boolean };
type Token = OptionToken | { kind: "positional"; index: number; value: string } | { kind: "option-terminator"; index: number };

/** The arguments as parseArgs reads them against `spec`, unknown flags included (as options of their own name). */
function tokenize(argv: readonly string[], spec: Record<string, FlagSpec>): Token[] {
  const options = Object.fromEntries(Object.entries(spec).map(([name, s]) => [name, s.short ? { type: s.type, short: s.short } : { type: s.type }]));
  return splitArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true }).tokens as Token[];
}

/** Reads `argv` against `spec`. Unknown flags, missing values and values given to a boolean are OptionErrors. */
export function parseArgs(argv: readonly string[], spec: Record<string, FlagSpec>): ParsedArgs {
  const flags = new Map<string, string | true>();
  const positionals: string[] = [];
  for (const token of tokenize(argv, spec)) {
    if (token.kind === "positional") positionals.push(token.value);
    if (token.kind !== "option") continue;
    checkSingleDashWord(argv[token.index]!, spec);
    const s = Object.hasOwn(spec, token.name) ? spec[token.name] : undefined;
    if (!s) throw new OptionError("UNKNOWN_FLAG", `unknown flag ${token.rawName}${suggestFlag(token.rawName, spec)}`);
    if (s.type === "boolean") {
      if (token.value !== undefined) throw new OptionError("BAD_FLAG_VALUE", `${token.rawName} takes no value`);
      flags.set(token.name, true);
    } else {
      if (token.value === undefined) throw new OptionError("MISSING_FLAG_VALUE", `${token.rawName} needs a value`);
      flags.set(token.name, token.value);
    }
  }
  return { flags, positionals };
}

/**
 * Whether `argv` asks for help (`--help`, or `-h` where `spec` gives help that short form, as a flag rather than
 * another flag's value), read leniently: a help request next to a wrong flag still shows the help.
 */
export function asksForHelp(argv: readonly string[], spec: Record<string, FlagSpec>): boolean {
  return tokenize(argv, spec).some((t) => t.kind === "option" && t.name === "help");
}

/**
 * `-model` or `-json` is a long flag typed with one dash. parseArgs would read it as `-m odel` or a group of
 * short flags; it is a mistake to name instead.
 */
function checkSingleDashWord(arg: string, spec: Record<string, FlagSpec>): void {
  if (arg.startsWith("--") || arg.length <= 2) return;
  const word = arg.slice(1).split("=")[0]!;
  if (Object.hasOwn(spec, word)) throw new OptionError("UNKNOWN_FLAG", `unknown flag ${arg} (did you mean --${word}?)`);
}

function suggestFlag(rawName: string, spec: Record<string, FlagSpec>): string {
  if (rawName.startsWith("--")) return didYouMean(rawName.slice(2), Object.keys(spec), (n) => `--${n}`);
  // A single letter is a typo of any other letter: only the same letter in the other case is offered (-M → -m).
  const letter = rawName.slice(1);
  const short = Object.values(spec).find((s) => s.short !== undefined && s.short.toLowerCase() === letter.toLowerCase());
  return short ? ` (did you mean -${short.short}?)` : "";
}

/** The options block of a command's help: `  -m, --model <value>  description`, long-only flags aligned after. */
export function formatFlagHelp(spec: Record<string, FlagSpec>): string {
  const rows = Object.entries(spec).map(([name, s]) => [
    `${s.short ? `-${s.short}, ` : "    "}--${name}${s.type === "string" ? " <value>" : ""}`,
    s.description,
  ]);
  const width = Math.max(...rows.map((r) => r[0]!.length));
  return rows.map(([a, b]) => `  ${a!.padEnd(width)}  ${b}`).join("\n");
}

/** `-h, --help`, which every command takes (main.ts answers it before the command runs). */
export const helpFlag: FlagSpec = { type: "boolean", short: "h", description: "show this help" };
