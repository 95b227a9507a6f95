// `ternion generate --model M --prompt P [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S]
// [--threads N] [--backend B] [--ctx N] [--json]`: text generation on the engine (in this thread). Streams the
// prompt and its continuation to stdout (statistics on stderr), or prints one JSON object
// { text, tokens, stopReason, stats } with --json. Ctrl-C ends the generation early, keeping what was generated.
// A generation longer than the context slides the window (engine/context-shift.ts) instead of stopping.
import type { Engine } from "../engine/engine.ts";
import { OptionError } from "../runtime/errors.ts";
import { promptTokens } from "../engine/generate.ts";
import { modelConfigFromGguf } from "../runtime/model/config.ts";
import { tokenizerFromGguf } from "../runtime/tokenizer/index.ts";
import { helpFlag, parseArgs, type FlagSpec } from "./args.ts";
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
  formatStats,
  openEngine,
  samplingFlags,
  samplingOptions,
} from "./engine-flags.ts";
import { numberFlag } from "./flags.ts";
import { constraintFlags, constraintOptions } from "./constraint-flags.ts";
import { MODEL_REFERENCE_HELP, prepareModel } from "./model-reference.ts";

const flags: Record<string, FlagSpec> = {
  model: {
    type: "string",
    short: "m",
    description: `GGUF model (llama or bitnet architectures; F32/F16/BF16/Q8_0/TQ1_0/TQ2_0/I2_S tensors): ${MODEL_REFERENCE_HELP} (${DEFAULT_MODEL_HELP})`,
  },
  prompt: { type: "string", short: "p", description: 'text to continue ("" generates from BOS alone)' },
  "max-tokens": { type: "string", short: "n", description: "most tokens to generate (default 256)" },
  ...samplingFlags,
  ...constraintFlags,
  ...backendFlags,
  ...headTypeFlags,
  ...kvTypeFlags,
  ctx: { type: "string", description: "context (KV cache) length in tokens (default: the model's); longer generations slide it" },
  json: { type: "boolean", description: "print one JSON object { text, tokens, stopReason, stats } instead of streaming" },
  help: helpFlag,
};

export const generateCommand: Command = {
  name: "generate",
  summary: "generate text with a model (wasm SIMD on the CPU, multithreaded, or WebGPU)",
  usage:
    "ternion generate [--model <model.gguf>] --prompt <text> [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] " +
    "[--seed S] [--json-schema FILE | --grammar FILE] [--threads N] [--backend wasm|webgpu|auto] [--head-type stored|q8_0] [--kv-type f16|f32|q8_0] [--ctx N] [--json]",
  flags,
  async run(argv, out) {
    const args = parseArgs(argv, flags);
    if (args.positionals.length) throw new OptionError("UNEXPECTED_ARGUMENT", `unexpected argument ${JSON.stringify(args.positionals[0])}`);
    const model = modelOrDefault(args.flags);
    const prompt = args.flags.get("prompt");
    if (typeof prompt !== "string") throw new OptionError("MISSING_FLAG", '--prompt <text> is required ("" for none)');
    const maxTokens = numberFlag(args.flags, "max-tokens", { integer: true, min: 0 }) ?? 256;
    const threads = numberFlag(args.flags, "threads", { integer: true, min: 1 });
    const ctx = numberFlag(args.flags, "ctx", { integer: true, min: 1 });
    const backend = backendChoice(args.flags);
    const sampling = samplingOptions(args.flags);
    const constraint = await constraintOptions(args.flags);
    const json = args.flags.has("json");

    const { model: engineModel, header } = await prepareModel(model);
    let engine: Engine | undefined;
    try {
      // The KV cache holds what this run can use: the prompt and the tokens to generate, at most the context
      // (then the window slides). A prompt longer than the context fails here, before anything is loaded or
      // printed (the load repeats any tokenizer warning).
      const config = modelConfigFromGguf(header.metadata, header.tensors);
      if (ctx !== undefined && ctx > config.contextLength)
        throw new OptionError("BAD_FLAG_VALUE", `--ctx ${ctx} is more than the model's context of ${config.contextLength}`);
      const context = ctx ?? config.contextLength;
      const tokenizer = tokenizerFromGguf(header.metadata, { onWarning: () => {} });
      const need = promptTokens({ tokenizer, contextLength: context }, prompt).length + maxTokens;
      const contextLength = Math.max(1, Math.min(context, need));
      engine = await openEngine({
        model: engineModel,
        backend,
        threads,
        contextLength,
        headType: headTypeChoice(args.flags),
        kvType: kvTypeChoice(args.flags),
      });

      const stop = new AbortController();
      const interrupt = () => stop.abort();
      process.once("SIGINT", interrupt); // a second Ctrl-C ends the process as usual
      try {
        if (!json) process.stdout.write(prompt);
        const stream = engine.generate(prompt, { maxTokens, ...sampling, ...constraint, signal: stop.signal });
        // The model's text goes to a pipe as it is; on a terminal, its control characters are escaped (terminal-text.ts).
        const shown = process.stdout.isTTY ? (t: string) => terminalText(t, { lines: true }) : (t: string) => t;
        for await (const chunk of stream) if (!json) process.stdout.write(shown(chunk.text));
        const result = await stream.result;
        if (json) {
          out(JSON.stringify({ text: result.text, tokens: result.tokens, stopReason: result.stopReason, stats: result.stats }));
        } else {
          process.stdout.write("\n");
          if (backend === "auto") process.stderr.write(`[${(await engine.info()).backendReason}]\n`);
          process.stderr.write(`[${formatStats(result.stats)}; stopped: ${result.stopReason}]\n`);
        }
      } finally {
        process.removeListener("SIGINT", interrupt);
      }
    } finally {
      await engine?.dispose();
    }
  },
};
