// `ternion generate --model M --prompt P [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S]
// [--threads N] [--json]`: text generation on the CPU engine. Streams the prompt and its continuation to
// stdout (statistics on stderr), or prints one JSON object { text, tokens, stats } with --json.
import { CpuModel } from "../runtime/cpu/model.ts";
import { OptionError } from "../runtime/errors.ts";
import { generate, promptTokens } from "../runtime/generate.ts";
import { openFileSource } from "../runtime/gguf/source-node.ts";
import { parseArgs, type FlagSpec } from "./args.ts";
import type { Command } from "./command.ts";
import { numberFlag, requiredString } from "./flags.ts";
import { ProgressBar } from "./progress.ts";

const flags: Record<string, FlagSpec> = {
  model: { type: "string", description: "GGUF model (llama or bitnet architectures; F32/F16/BF16/Q8_0/TQ1_0/TQ2_0/I2_S tensors)" },
  prompt: { type: "string", description: 'text to continue ("" generates from BOS alone)' },
  "max-tokens": { type: "string", description: "most tokens to generate (default 256)" },
  temperature: { type: "string", description: "sampling temperature, 0 = greedy (default 0.8)" },
  "top-k": { type: "string", description: "keep the k most likely tokens, 0 = off (default 40)" },
  "top-p": { type: "string", description: "nucleus sampling threshold, 1 = off (default 0.95)" },
  seed: { type: "string", description: "random seed, an integer in [0, 2^32) (default: random)" },
  threads: { type: "string", description: "threads, the caller included (default: all cores)" },
  json: { type: "boolean", description: "print one JSON object { text, tokens, stats } instead of streaming" },
  help: { type: "boolean", description: "show this help" },
};

export const generateCommand: Command = {
  name: "generate",
  summary: "generate text with a model on the CPU (wasm SIMD, multithreaded)",
  usage:
    "ternion generate --model <model.gguf> --prompt <text> [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] " +
    "[--seed S] [--threads N] [--json]",
  flags,
  async run(argv, out) {
    const args = parseArgs(argv, flags);
    if (args.positionals.length) throw new OptionError("UNEXPECTED_ARGUMENT", `unexpected argument ${JSON.stringify(args.positionals[0])}`);
    const path = requiredString(args.flags, "model");
    const prompt = args.flags.get("prompt");
    if (typeof prompt !== "string") throw new OptionError("MISSING_FLAG", "--prompt <text> is required (\"\" for none)");
    const maxTokens = numberFlag(args.flags, "max-tokens", { integer: true, min: 0 }) ?? 256;
    const threads = numberFlag(args.flags, "threads", { integer: true, min: 1 });
    const sampling = {
      temperature: numberFlag(args.flags, "temperature"),
      topK: numberFlag(args.flags, "top-k"),
      topP: numberFlag(args.flags, "top-p"),
      seed: numberFlag(args.flags, "seed"),
    };
    const json = args.flags.has("json");

    const source = await openFileSource(path);
    let model: CpuModel | undefined;
    try {
      // The KV cache holds what this run can use: the prompt and the tokens to generate.
      const loading = new ProgressBar("load");
      model = await CpuModel.load(source, {
        threads,
        onProgress: (done, total) => loading.update(done, total),
        contextLength: (config, tokenizer) => {
          const need = (prompt === "" ? 1 : tokenizer.encode(prompt).length) + maxTokens;
          return Math.max(1, Math.min(config.contextLength, need));
        },
      });
      loading.clear();
      promptTokens(model, prompt); // a prompt longer than the context fails here, before anything is printed
      if (!json) process.stdout.write(prompt);
      const result = await generate(model, prompt, {
        maxTokens,
        ...sampling,
        onText: json ? undefined : (t) => process.stdout.write(t),
      });
      if (json) {
        out(JSON.stringify({ text: result.text, tokens: result.tokens, stats: result.stats }));
      } else {
        process.stdout.write("\n");
        const s = result.stats;
        process.stderr.write(
          `[${s.promptTokens} prompt tokens at ${s.prefillTokensPerSecond.toFixed(1)} tok/s, ${s.generatedTokens} generated at ` +
            `${s.decodeTokensPerSecond.toFixed(1)} tok/s, first token after ${s.timeToFirstTokenMs.toFixed(0)} ms, ` +
            `${s.threads} thread${s.threads === 1 ? "" : "s"}, ${s.simd}; stopped: ${result.stopReason}]\n`,
        );
      }
    } finally {
      model?.dispose();
      await source.close();
    }
  },
};
