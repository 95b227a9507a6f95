// `ternion` command-line entry: the global flags (--help, --version), `ternion help [command]`, and dispatch to one
// module per command; typed errors end as one clear line on stderr and exit code 2.
import { OptionError } from "../runtime/errors.ts";
import { enableNodeRelaxedSimd } from "../runtime/cpu/wasm/features.ts";
import { asksForHelp } from "./args.ts";
import type { Command } from "./command.ts";
import { errorLine } from "./error-line.ts";
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
    if (asksForHelp(rest, command.flags)) {
      console.log(commandHelp(command));
      return 0;
    }
    await command.run(rest, (text) => process.stdout.write(text.endsWith("\n") ? text : text + "\n"));
    return 0;
  } catch (err) {
    const line = errorLine(err);
    if (line === undefined) throw err;
    console.error(`ternion${command ? ` ${command.name}` : ""}: ${line}`);
    return 2;
  }
}

// The CLI owns its process, so on Node 20/21 it turns on relaxed SIMD (a V8 flag there) before any kernel is
// compiled: the relaxed build is 2–3× faster than the baseline simd128 one.
await enableNodeRelaxedSimd();
process.exitCode = await main(process.argv.slice(2));
