// `ternion` command-line entry: dispatches to one module per command and turns typed errors into one clear
// line on stderr and a non-zero exit code.
import { TernionError } from "../runtime/errors.ts";
import { enableNodeRelaxedSimd } from "../runtime/cpu/wasm/features.ts";
import { formatFlagHelp } from "./args.ts";
import type { Command } from "./command.ts";
import { inspectCommand } from "./inspect.ts";
import { quantizeCommand } from "./quantize.ts";
import { convertBitllamaCommand } from "./convert-bitllama.ts";
import { generateCommand } from "./generate.ts";
import { pplCommand } from "./ppl.ts";
import { finetuneCommand } from "./finetune.ts";
import { chatCommand } from "./chat.ts";
import { benchCommand } from "./bench.ts";

const commands: Command[] = [generateCommand, chatCommand, pplCommand, benchCommand, inspectCommand, quantizeCommand, convertBitllamaCommand, finetuneCommand];

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    "usage: ternion <command> [options]",
    "",
    "commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Run `ternion <command> --help` for a command's options.",
  ].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name ? 0 : 1;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    console.error(`ternion: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(`usage: ${command.usage}\n\n${command.summary}\n\noptions:\n${formatFlagHelp(command.flags)}`);
    return 0;
  }
  try {
    await command.run(rest, (text) => process.stdout.write(text.endsWith("\n") ? text : text + "\n"));
    return 0;
  } catch (err) {
    if (err instanceof TernionError) {
      console.error(`ternion ${name}: ${err.message} [${err.code}]`);
      return 2;
    }
    if (isNodeFsError(err)) {
      console.error(`ternion ${name}: ${err.message}`);
      return 2;
    }
    throw err;
  }
}

function isNodeFsError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === "string" && "syscall" in err;
}

// The CLI owns its process, so on Node 20/21 it turns on relaxed SIMD (a V8 flag there) before any kernel is
// compiled: the relaxed build is 2–3× faster than the baseline simd128 one.
await enableNodeRelaxedSimd();
process.exitCode = await main(process.argv.slice(2));
