// `ternion convert-bitllama --model m.bin --tokenizer tok.bin --out m.gguf [--json]`: a bitllama ternary
// checkpoint and its llama2.c tokenizer → a GGUF of the "bitnet" architecture with I2_S weights.
import { readFile } from "node:fs/promises";
import { convertBitllama } from "../runtime/convert/bitllama.ts";
import { OptionError } from "../runtime/errors.ts";
import { openFileSource } from "../runtime/gguf/source-node.ts";
import { writeGgufFile } from "../runtime/gguf/writer-node.ts";
import { tensorTypeName } from "../runtime/tensor-types/table.ts";
import { helpFlag, parseArgs, type FlagSpec } from "./args.ts";
import type { Command } from "./command.ts";
import { requiredString } from "./flags.ts";
import { checkInputFile, checkOutputFolder } from "./file-checks.ts";
import { formatBytes } from "./format.ts";

const flags: Record<string, FlagSpec> = {
  model: { type: "string", short: "m", description: 'bitllama checkpoint (.bin, magic "ak42")' },
  tokenizer: { type: "string", description: "llama2.c tokenizer file for the same vocabulary (tokenizer.bin)" },
  out: { type: "string", description: "GGUF file to write (replaced atomically)" },
  name: { type: "string", description: 'general.name of the output (default "bitllama")' },
  json: { type: "boolean", description: "print one JSON object instead of text" },
  help: helpFlag,
};

export const convertBitllamaCommand: Command = {
  name: "convert-bitllama",
  summary: "convert a bitllama ternary checkpoint (+ llama2.c tokenizer) to a GGUF with I2_S weights",
  usage: "ternion convert-bitllama --model <model.bin> --tokenizer <tokenizer.bin> --out <model.gguf> [--json]",
  flags,
  async run(argv, out) {
    const args = parseArgs(argv, flags);
    if (args.positionals.length) throw new OptionError("UNEXPECTED_ARGUMENT", `unexpected argument ${JSON.stringify(args.positionals[0])}`);
    const model = requiredString(args.flags, "model", "path");
    const tokenizerPath = requiredString(args.flags, "tokenizer", "path");
    const outPath = requiredString(args.flags, "out", "path");
    const name = args.flags.get("name");

    await checkInputFile(model, { what: "the checkpoint", notFound: "FILE_NOT_FOUND", extension: ".bin" });
    await checkInputFile(tokenizerPath, { what: "the tokenizer", notFound: "FILE_NOT_FOUND", extension: ".bin" });
    await checkOutputFolder(outPath, "--out");
    const tokenizer = await readFile(tokenizerPath);
    const source = await openFileSource(model);
    try {
      const { header, input } = await convertBitllama(source, tokenizer, typeof name === "string" ? { name } : {});
      const layout = await writeGgufFile(outPath, input);
      const tensors = layout.tensors.map((t) => ({ name: t.name, type: tensorTypeName(t.type), shape: t.dims }));
      const bytes = layout.tensors.reduce((n, t) => n + t.byteLength, 0);
      if (args.flags.has("json")) {
        out(JSON.stringify({ out: outPath, architecture: input.metadata.get("general.architecture")?.value, header, tensors }, null, 2));
      } else {
        out(
          `wrote ${outPath}: bitnet, ${header.layers} layers, dim ${header.dim}, ffn ${header.hiddenDim}, ` +
            `${header.heads}/${header.kvHeads} heads, vocab ${header.vocabSize}, ${tensors.length} tensors, ${formatBytes(bytes)} of tensor data`,
        );
      }
    } finally {
      await source.close();
    }
  },
};
