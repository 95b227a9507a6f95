// The help texts: the overview (`ternion help`, `ternion --help`, or no command) and one command's
// (`ternion help <command>`, `ternion <command> --help`).
import { formatFlagHelp, type FlagSpec } from "./args.ts";
import type { Command } from "./command.ts";

/** The flags `ternion` itself takes, before any command. `-V` is read as `-v` too (main.ts). */
export const globalFlags: Record<string, FlagSpec> = {
  help: { type: "boolean", short: "h", description: "show this help; `ternion help <command>` shows a command's options" },
  version: { type: "boolean", short: "v", description: "print the version (also -V)" },
  debug: { type: "boolean", description: "on a failure, print the stack trace after the error line (also after a command)" },
};

export function overview(commands: readonly Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    "usage: ternion <command> [options]",
    "",
    "commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "options:",
    formatFlagHelp(globalFlags),
    "",
    "Run `ternion help <command>` or `ternion <command> --help` for a command's options.",
  ].join("\n");
}

export function commandHelp(command: Command): string {
  return `usage: ${command.usage}\n\n${command.summary}\n\noptions:\n${formatFlagHelp(command.flags)}`;
}
