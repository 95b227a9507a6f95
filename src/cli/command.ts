// The shape every CLI command has, so that main.ts can dispatch and print help uniformly.
import type { FlagSpec } from "./args.ts";

export interface Command {
  name: string;
  summary: string;
  usage: string;
  flags: Record<string, FlagSpec>;
  /** Runs the command; `out` writes one block of text to stdout. Throws TernionError on bad input. */
  run(argv: string[], out: (text: string) => void): Promise<void>;
}
