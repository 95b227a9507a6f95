// `ternion` command-line entry: the global flags (--help, --version, --debug), `ternion help [command]`, and
// dispatch to one module per command. Whatever ends a command early — a typed error, a bug, a rejection nobody
// awaited, an error thrown in a callback — ends it as one line on stderr and exit code 2 (error-line.ts); the
// stack trace only with --debug.
import { OptionError } from "../runtime/errors.ts";
import { enableNodeRelaxedSimd } from "../runtime/cpu/wasm/features.ts";
import { asksForHelp } from "./args.ts";
import type { Command } from "./command.ts";
import { failureReport } from "./error-line.ts";
import { terminalText } from "../runtime/terminal-text.ts";
import { commandHelp, globalFlags, overview } from "./help.ts";
import { didYouMean } from "./suggest.ts";
import { packageVersion } from "./version.ts";
import { inspectCommand } from "./inspect.ts";
import { quantizeCommand } from "./quantize.ts";
import { convertBitllamaCommand } from "./convert-bitllama.ts";
import { generateCommand } from "./generate.ts";
import { pplCommand } from "./ppl.ts";
import { finetuneCommand } from "./finetune.ts";
import { chatCommand } from "./chat.ts";
import { benchCommand } from "./bench.ts";
import { pullCommand } from "./pull.ts";
import { modelsCommand } from "./models.ts";
import { serveCommand } from "./serve.ts";

const commands: Command[] = [
  generateCommand,
  chatCommand,
  serveCommand,
  pplCommand,
  benchCommand,
  inspectCommand,
  quantizeCommand,
  convertBitllamaCommand,
  finetuneCommand,
  pullCommand,
  modelsCommand,
];

/** The command called `name`; an OptionError naming the commands (and the closest) when there is none. */
function findCommand(name: string): Command {
  const command = commands.find((c) => c.name === name);
  if (command) return command;
  const names = commands.map((c) => c.name);
  throw new OptionError("UNKNOWN_COMMAND", `unknown command "${name}"${didYouMean(name, names)}; the commands are ${names.join(", ")}`);
}

/** `ternion [--help | --version | help [command]]`: what comes before a command. Returns the exit code. */
function runGlobal(argv: string[]): number {
  const [first, ...rest] = argv;
  if (first === "help" || first === "--help" || first === "-h") {
    if (rest.length > 1) throw new OptionError("UNEXPECTED_ARGUMENT", `unexpected argument ${JSON.stringify(rest[1])}`);
    console.log(rest.length ? commandHelp(findCommand(rest[0]!)) : overview(commands));
    return 0;
  }
  if (first === "--version" || first === "-v" || first === "-V") {
    if (rest.length) throw new OptionError("UNEXPECTED_ARGUMENT", `unexpected argument ${JSON.stringify(rest[0])}`);
    console.log(`ternion ${packageVersion()}`);
    return 0;
  }
  const hint = first!.startsWith("--") ? didYouMean(first!.slice(2), Object.keys(globalFlags), (n) => `--${n}`) : "";
  throw new OptionError("UNKNOWN_FLAG", `unknown flag ${first}${hint}; a command comes first: ternion <command> [options]`);
}

/** Shows the stack trace of a failure (--debug, anywhere before a `--`). */
let debug = false;

/** `argv` without the --debug flags before any `--`, and whether there were any. */
function takeDebugFlag(argv: string[]): { argv: string[]; debug: boolean } {
  const end = argv.indexOf("--");
  const head = end < 0 ? argv : argv.slice(0, end);
  const kept = head.filter((a) => a !== "--debug");
  return { argv: end < 0 ? kept : [...kept, ...argv.slice(end)], debug: kept.length !== head.length };
}

/** The command running, for the failure line. */
let running: string | undefined;

/** Ends the process after a failure that escaped every command's own handling. */
function die(err: unknown): void {
  console.error(failureReport(`ternion${running ? ` ${running}` : ""}`, err, debug));
  process.exit(2);
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name) {
    console.log(overview(commands));
    return 1;
  }
  let command: Command | undefined;
  try {
    if (name === "help" || name.startsWith("-")) return runGlobal(argv);
    command = findCommand(name);
    running = command.name;
    if (asksForHelp(rest, command.flags)) {
      console.log(commandHelp(command));
      return 0;
    }
    // Command output may quote the model file (names, metadata, tensor names): control characters are escaped.
    await command.run(rest, (text) => process.stdout.write(terminalText(text.endsWith("\n") ? text : text + "\n", { lines: true })));
    return 0;
  } catch (err) {
    console.error(failureReport(`ternion${command ? ` ${command.name}` : ""}`, err, debug));
    return 2;
  }
}

const parsed = takeDebugFlag(process.argv.slice(2));
debug = parsed.debug;
process.on("unhandledRejection", die);
process.on("uncaughtException", die);
// The CLI owns its process, so on Node 20/21 it turns on relaxed SIMD (a V8 flag there) before any kernel is
// compiled: the relaxed build is 2–3× faster than the baseline simd128 one.
await enableNodeRelaxedSimd();
process.exitCode = await main(parsed.argv);
