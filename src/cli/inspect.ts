// `ternion inspect <model.gguf> [--json]`: what a model file holds.
import { inspectModel, type ModelReport } from "../runtime/inspect.ts";
import { OptionError } from "../runtime/errors.ts";
import { helpFlag, parseArgs, type FlagSpec } from "./args.ts";
import { formatBytes, formatCount, formatTable } from "./format.ts";
import type { Command } from "./command.ts";
import { openModelReference } from "./model-reference.ts";
import { terminalText } from "../runtime/terminal-text.ts";

const flags: Record<string, FlagSpec> = {
  json: { type: "boolean", description: "print one JSON object instead of tables" },
  "no-sparsity": { type: "boolean", description: "skip counting zero weights of ternary tensors (faster)" },
  help: helpFlag,
};

export const inspectCommand: Command = {
  name: "inspect",
  summary: "show a model's architecture, hyper-parameters, tokenizer, tensors and ternary sparsity",
  usage: "ternion inspect <model.gguf | hf:owner/repo/file.gguf[@rev] | URL> [--json] [--no-sparsity]",
  flags,
  async run(argv, out) {
    const args = parseArgs(argv, flags);
    const [ref, ...extra] = args.positionals;
    if (!ref) throw new OptionError("MISSING_ARGUMENT", "inspect needs a model file: ternion inspect <model.gguf>");
    if (extra.length) throw new OptionError("UNEXPECTED_ARGUMENT", `unexpected argument ${JSON.stringify(extra[0])}`);
    const model = await openModelReference(ref);
    try {
      const report = await inspectModel(model, { sparsity: !args.flags.has("no-sparsity") });
      out(args.flags.has("json") ? JSON.stringify(report, null, 2) : renderReport(ref, report));
    } finally {
      await model.close();
    }
  },
};

function pct(x: number | undefined): string {
  return x === undefined ? "" : `${(x * 100).toFixed(1)}%`;
}

function pct2(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

/** The report as text. Every string from the file is one line, its control characters escaped (terminal-text.ts). */
export function renderReport(path: string, r: ModelReport): string {
  const text = (s: string) => terminalText(s);
  const parts: string[] = [];
  parts.push(`${path}`);
  parts.push(
    `  GGUF v${r.ggufVersion}, ${formatBytes(r.fileSize)}, ${r.tensors.length} tensors, ${formatCount(r.elements)} parameters` +
      (r.name ? `, "${text(r.name)}"` : ""),
  );
  parts.push(`  architecture: ${text(r.architecture ?? "(none)")}`);
  const hp = Object.entries(r.hyperParameters);
  if (hp.length) {
    parts.push("", "Hyper-parameters");
    parts.push(
      formatTable(
        ["key", "value"],
        hp.map(([k, v]) => [text(k), text(String(v))]),
      ),
    );
  }
  const t = r.tokenizer;
  parts.push(
    "",
    `Tokenizer: ${text(t.model ?? "(none)")}${t.pre ? ` (pre ${text(t.pre)})` : ""}, vocab ${t.vocabSize ?? "?"}, bos ${t.bos ?? "-"}, eos ${t.eos ?? "-"}` +
      (t.hasChatTemplate ? ", chat template" : ""),
  );
  parts.push("", "Tensors");
  parts.push(
    formatTable(
      ["name", "type", "shape", "elements", "bytes", "zeros", "salient", "bits/weight"],
      r.tensors.map((x) => [
        text(x.name),
        x.type,
        x.shape.join(" x "),
        formatCount(x.elements),
        formatBytes(x.bytes),
        pct(x.zeroFraction),
        x.salientFraction ? pct2(x.salientFraction) : "",
        x.bitsPerWeight === undefined ? "" : x.bitsPerWeight.toFixed(3),
      ]),
      ["left", "left", "left", "right", "right", "right", "right", "right"],
    ),
  );
  parts.push(`  total tensor data: ${formatBytes(r.tensorBytes)}`);
  if (r.layerSparsity.length) {
    parts.push("", "Ternary sparsity per layer (fraction of zero weights)");
    parts.push(
      formatTable(
        ["layer", "ternary weights", "zeros", ""],
        r.layerSparsity.map((l) => [
          String(l.layer),
          formatCount(l.ternaryElements),
          pct(l.zeroFraction),
          "#".repeat(Math.round(l.zeroFraction * 40)),
        ]),
        ["right", "right", "right", "left"],
      ),
    );
  }
  if (r.ternaryBitsPerWeight !== undefined) {
    parts.push(
      `  ternary matrices: ${r.ternaryBitsPerWeight.toFixed(3)} bits/weight (codes, scales and side matrices over each matrix's m·k weights)` +
        (r.ternarySalientFraction ? `, ${pct2(r.ternarySalientFraction)} salient` : ""),
    );
  }
  if (r.ternaryZeroFraction !== undefined) parts.push(`  all ternary tensors: ${pct(r.ternaryZeroFraction)} zeros`);
  else parts.push("", "No ternary tensors.");
  return parts.join("\n");
}
