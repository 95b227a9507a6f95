// `ternion ppl --model M --text FILE [--ctx N] [--threads N] [--backend B] [--json]`: perplexity of a text with
// llama.cpp's method (runtime/model/perplexity.ts) on the engine, and the evaluation speed.
import { readFile } from "node:fs/promises";
import type { Engine } from "../engine/engine.ts";
import { OptionError } from "../runtime/errors.ts";
import { modelConfigFromGguf } from "../runtime/model/config.ts";
import { helpFlag, parseArgs, type FlagSpec } from "./args.ts";
import type { Command } from "./command.ts";
import { DEFAULT_MODEL_HELP, modelOrDefault } from "./default-model.ts";
import { backendChoice, backendFlags, headTypeChoice, headTypeFlags, kvTypeChoice, kvTypeFlags, openEngine } from "./engine-flags.ts";
import { numberFlag, requiredString } from "./flags.ts";
import { checkInputFile, textFile } from "./file-checks.ts";
import { MODEL_REFERENCE_HELP, prepareModel } from "./model-reference.ts";
import { ProgressBar } from "./progress.ts";

const flags: Record<string, FlagSpec> = {
  model: { type: "string", short: "m", description: `GGUF model: ${MODEL_REFERENCE_HELP} (${DEFAULT_MODEL_HELP})` },
  text: { type: "string", description: "UTF-8 text file to score" },
  ctx: { type: "string", description: "window length in tokens (default: 512, or the model's context if smaller)" },
  ...backendFlags,
  ...headTypeFlags,
  ...kvTypeFlags,
  json: { type: "boolean", description: "print one JSON object { ppl, tokens, windows, scored, ctx, tokensPerSecond }" },
  help: helpFlag,
};

export const pplCommand: Command = {
  name: "ppl",
  summary: "perplexity of a text file (llama.cpp's method: windows of ctx tokens, second half scored)",
  usage:
    "ternion ppl [--model <model.gguf>] --text <file> [--ctx N] [--threads N] [--backend wasm|webgpu|auto] [--head-type stored|q8_0] [--kv-type f16|f32|q8_0] [--json]",
  flags,
  async run(argv, out) {
    const args = parseArgs(argv, flags);
    if (args.positionals.length) throw new OptionError("UNEXPECTED_ARGUMENT", `unexpected argument ${JSON.stringify(args.positionals[0])}`);
    const model = modelOrDefault(args.flags);
    const textPath = requiredString(args.flags, "text");
    const ctxFlag = numberFlag(args.flags, "ctx", { integer: true, min: 4 });
    const threads = numberFlag(args.flags, "threads", { integer: true, min: 1 });
    const backend = backendChoice(args.flags);
    await checkInputFile(textPath, textFile("the text"));
    const { model: engineModel, header } = await prepareModel(model);
    const text = await readFile(textPath, "utf8");
    let engine: Engine | undefined;
    try {
      const config = modelConfigFromGguf(header.metadata, header.tensors);
      const ctx = ctxFlag ?? Math.min(512, config.contextLength);
      if (ctx > config.contextLength) {
        throw new OptionError("BAD_FLAG_VALUE", `--ctx ${ctx} is larger than the model's context length ${config.contextLength}`);
      }
      // The KV cache holds one window; f32 keys and values, as llama.cpp's perplexity is usually run.
      engine = await openEngine({
        model: engineModel,
        backend,
        threads,
        contextLength: ctx,
        kvType: kvTypeChoice(args.flags) ?? "f32",
        headType: headTypeChoice(args.flags),
      });
      const scoring = new ProgressBar("ppl");
      const r = await engine.perplexity(text, { ctx, onWindow: (w, n, ppl) => scoring.update(w, n, `ppl ${ppl.toFixed(4)}`) });
      scoring.clear();
      if (args.flags.has("json")) out(JSON.stringify(r));
      else {
        out(
          `ppl ${r.ppl.toFixed(4)} over ${r.scored} scored tokens (${r.windows} windows of ${r.ctx}, ${r.tokens} tokens), ` +
            `${r.tokensPerSecond.toFixed(1)} tokens/s`,
        );
      }
    } finally {
      await engine?.dispose();
    }
  },
};
