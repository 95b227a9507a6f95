// `ternion chat --model M [--system S] [--max-tokens N] [sampling] [--threads N] [--backend B] [--ctx N] [--json]`:
// an interactive chat (chat-repl.ts) on stdin, line by line, so it also runs piped:
// `printf 'Hi\n/exit\n' | ternion chat --model M`. The model runs in a worker (createEngine), which leaves this
// thread free to read Ctrl-C while an answer streams: Ctrl-C stops the answer, a second one at the prompt quits.
import { createInterface } from "node:readline";
import { EngineError, OptionError } from "../runtime/errors.ts";
import { helpFlag, parseArgs, type FlagSpec } from "./args.ts";
import { ChatRepl, CHAT_COMMANDS } from "./chat-repl.ts";
import type { Command } from "./command.ts";
import { terminalText } from "../runtime/terminal-text.ts";
import { DEFAULT_MODEL_HELP, modelOrDefault } from "./default-model.ts";
import {
  backendChoice,
  backendFlags,
  headTypeChoice,
  headTypeFlags,
  kvTypeChoice,
  kvTypeFlags,
  openEngine,
  samplingFlags,
  samplingOptions,
} from "./engine-flags.ts";
import { numberFlag, optionalString } from "./flags.ts";
import { constraintFlags, constraintOptions } from "./constraint-flags.ts";
import { MODEL_REFERENCE_HELP, prepareModel } from "./model-reference.ts";

const flags: Record<string, FlagSpec> = {
  model: {
    type: "string",
    short: "m",
    description: `GGUF model (its tokenizer.chat_template, or a plain User:/Assistant: transcript): ${MODEL_REFERENCE_HELP} (${DEFAULT_MODEL_HELP})`,
  },
  system: { type: "string", description: "system message at the start of the conversation" },
  "max-tokens": { type: "string", short: "n", description: "most tokens per answer (default 256)" },
  ...samplingFlags,
  ...constraintFlags,
  ...backendFlags,
  ...headTypeFlags,
  ...kvTypeFlags,
  ctx: { type: "string", description: "context (KV cache) length in tokens (default: the model's)" },
  json: { type: "boolean", description: "print one JSON line per answer { content, finish_reason, usage, stats }" },
  help: helpFlag,
};

export const chatCommand: Command = {
  name: "chat",
  summary: "chat with a model: history kept across turns, /reset, /exit, Ctrl-C stops an answer",
  usage:
    "ternion chat [--model <model.gguf>] [--system <text>] [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S] " +
    "[--json-schema FILE | --grammar FILE] [--threads N] [--backend wasm|webgpu|auto] [--head-type stored|q8_0] [--kv-type f16|f32|q8_0] [--ctx N] [--json]",
  flags,
  async run(argv) {
    const args = parseArgs(argv, flags);
    const f = args.flags;
    if (args.positionals.length) throw new OptionError("UNEXPECTED_ARGUMENT", `unexpected argument ${JSON.stringify(args.positionals[0])}`);
    const ref = modelOrDefault(f);
    const system = optionalString(f, "system");
    const maxTokens = numberFlag(f, "max-tokens", { integer: true, min: 1 }) ?? 256;
    const threads = numberFlag(f, "threads", { integer: true, min: 1 });
    const contextLength = numberFlag(f, "ctx", { integer: true, min: 1 });
    const backend = backendChoice(f);
    const sampling = samplingOptions(f);
    const { jsonSchema, grammar } = await constraintOptions(f);
    const { model } = await prepareModel(ref); // before a worker starts

    const engine = await openEngine({ model, backend, threads, contextLength, worker: true, headType: headTypeChoice(f), kvType: kvTypeChoice(f) });
    const tty = process.stdin.isTTY === true;
    const rl = createInterface({ input: process.stdin, output: tty ? process.stdout : undefined, terminal: tty, prompt: "> " });
    const repl = new ChatRepl({
      engine,
      system,
      request: {
        max_tokens: maxTokens,
        temperature: sampling.temperature,
        top_p: sampling.topP,
        top_k: sampling.topK,
        seed: sampling.seed,
        // Every answer follows the schema or grammar. A request's schema is an object: the boolean schema `true`
        // (any JSON value) is the empty one; `false` was refused by constraintOptions, as for generate.
        response_format:
          jsonSchema === undefined
            ? undefined
            : {
                type: "json_schema",
                json_schema: { name: "json-schema", schema: (jsonSchema === true ? {} : jsonSchema) as Record<string, unknown> },
              },
        grammar,
      },
      // The answers go to a pipe as they are; on a terminal, their control characters are escaped (terminal-text.ts).
      write: (t) => process.stdout.write(process.stdout.isTTY ? terminalText(t, { lines: true }) : t),
      note: (t) => process.stderr.write(t + "\n"),
      json: f.has("json"),
    });
    // A terminal's Ctrl-C reaches readline; a signal (kill -INT, Ctrl-C in a pipeline) reaches the process.
    let busy = false;
    const onInterrupt = () => {
      if (repl.interrupt() === "exit") rl.close();
      else if (tty && !busy) rl.prompt();
    };
    rl.on("SIGINT", onInterrupt);
    process.on("SIGINT", onInterrupt);
    let exited = false;
    try {
      if (tty) {
        const info = await engine.info();
        process.stderr.write(
          `${model}: ${info.backend}${info.backend === "wasm" ? `, ${info.threads} thread${info.threads === 1 ? "" : "s"}` : ""}, context ${info.contextLength}. ${CHAT_COMMANDS}.\n`,
        );
        rl.prompt();
      }
      for await (const line of rl) {
        busy = true;
        const more = await repl.line(line);
        busy = false;
        if (!more) {
          exited = true;
          break;
        }
        if (tty) rl.prompt();
      }
    } finally {
      process.removeListener("SIGINT", onInterrupt);
      rl.close();
      await engine.dispose();
    }
    // A script piping its input learns that the conversation ended on a failed turn (the note above said which).
    if (!exited && repl.lastFailure !== undefined) throw new EngineError("CHAT_FAILED", "the input ended on a turn that failed (the error above)");
  },
};
