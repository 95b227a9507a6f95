// `ternion quantize --model in.gguf --out out.gguf --type tq2_0|tq1_0|i2_s [--include-output]
//  [--salient P [--salient-metric magnitude|hessian]] [--gptq] [--calib FILE [--calib-tokens N] [--calib-order O]] [--json]`:
// ternarizes a float model's linear weights with BitNet's absmean rule (see runtime/convert/quantize.ts), keeping
// a fraction P of salient weights in a side matrix and compensating errors GPTQ's way when asked; the Hessian
// metric and GPTQ calibrate on --calib text (train/calibration.ts; sequentially by default, as GPTQ). Rows the type cannot
// hold go to the grouped ternary layout, said in one line on stderr for all of them.
import { resolve } from "node:path";
import {
  GROUPED_TERNARY_GROUP,
  GROUPED_TERNARY_NAME,
  planQuantize,
  QUANTIZE_TYPES,
  isQuantizeType,
  type QuantizedTensor,
  type QuantizePlan,
} from "../runtime/convert/quantize.ts";
import { MAX_SALIENT_FRACTION, SALIENT_METRICS, type SalientMetric } from "../runtime/convert/salient-ternarize.ts";
import { OptionError } from "../runtime/errors.ts";
import { readFile } from "node:fs/promises";
import { CALIBRATION_ORDERS, CALIBRATION_TOKENS, type CalibrationOrder, calibrateOnText } from "../train/calibration.ts";
import { writeGgufFile } from "../runtime/gguf/writer-node.ts";
import { helpFlag, parseArgs, type FlagSpec } from "./args.ts";
import type { Command } from "./command.ts";
import { terminalText } from "../runtime/terminal-text.ts";
import { choiceFlag, numberFlag, optionalString, requiredString } from "./flags.ts";
import { checkInputFile, checkOutputFolder, textFile } from "./file-checks.ts";
import { MODEL_REFERENCE_HELP, openModelReference } from "./model-reference.ts";
import { formatBytes } from "./format.ts";
import { ProgressBar } from "./progress.ts";

const flags: Record<string, FlagSpec> = {
  model: { type: "string", short: "m", description: `input GGUF (float or any type we can read): ${MODEL_REFERENCE_HELP}` },
  out: { type: "string", description: "GGUF file to write (replaced atomically)" },
  type: { type: "string", description: `ternary type for the linear weights: ${QUANTIZE_TYPES.join(", ")}` },
  "include-output": { type: "boolean", description: "ternarize output.weight too (default: keep it)" },
  salient: {
    type: "string",
    description: `keep this fraction of each matrix's weights (0 … ${MAX_SALIENT_FRACTION}) in an int8 side matrix (PB-LLM)`,
  },
  "salient-metric": {
    type: "string",
    description: "how salient weights are chosen: magnitude (|w|, default) or hessian (w²/[H⁻¹]_jj², needs --calib)",
  },
  gptq: { type: "boolean", description: "GPTQ error compensation through the calibration Hessian (needs --calib)" },
  calib: { type: "string", description: "calibration text for --gptq and --salient-metric hessian" },
  "calib-tokens": { type: "string", description: `calibration tokens run through the model (default ${CALIBRATION_TOKENS})` },
  "calib-order": {
    type: "string",
    description:
      "sequential (default: each block calibrated on the earlier blocks quantized, as GPTQ) or float (the float model's activations, one pass)",
  },
  json: { type: "boolean", description: "print one JSON object instead of text" },
  help: helpFlag,
};

export const quantizeCommand: Command = {
  name: "quantize",
  summary: "ternarize a float model's linear weights (absmean) to TQ2_0, TQ1_0 or I2_S",
  usage:
    `ternion quantize --model <in.gguf> --out <out.gguf> --type <${QUANTIZE_TYPES.join("|")}> [--include-output] ` +
    "[--salient P] [--salient-metric magnitude|hessian] [--gptq] [--calib <text>] [--calib-tokens N] [--calib-order sequential|float] [--json]",
  flags,
  async run(argv, out) {
    const args = parseArgs(argv, flags);
    if (args.positionals.length) throw new OptionError("UNEXPECTED_ARGUMENT", `unexpected argument ${JSON.stringify(args.positionals[0])}`);
    const ref = requiredString(args.flags, "model");
    const outPath = requiredString(args.flags, "out");
    const type = requiredString(args.flags, "type").toLowerCase();
    if (!isQuantizeType(type)) throw new OptionError("BAD_FLAG_VALUE", `--type ${type} must be one of ${QUANTIZE_TYPES.join(", ")}`);
    // Writing over the input while reading it would be undefined on some platforms: refuse.
    if (resolve(ref) === resolve(outPath)) throw new OptionError("BAD_FLAG_VALUE", "--out must differ from --model");
    const fraction = numberFlag(args.flags, "salient", { min: 0 }) ?? 0;
    if (fraction > MAX_SALIENT_FRACTION) {
      throw new OptionError("BAD_FLAG_VALUE", `--salient ${fraction} is over ${MAX_SALIENT_FRACTION} (a fraction of the weights: 0.01 is 1 %)`);
    }
    const metric = choiceFlag<SalientMetric>(args.flags, "salient-metric", SALIENT_METRICS);
    if (metric !== undefined && !args.flags.has("salient")) throw new OptionError("BAD_FLAG_VALUE", "--salient-metric needs --salient P");
    const gptq = args.flags.has("gptq");
    const calib = optionalString(args.flags, "calib");
    const calibTokens = numberFlag(args.flags, "calib-tokens", { integer: true, min: 1 });
    const calibOrder = choiceFlag<CalibrationOrder>(args.flags, "calib-order", CALIBRATION_ORDERS);
    const needsCalibration = gptq || metric === "hessian";
    if (needsCalibration && calib === undefined) {
      throw new OptionError(
        "MISSING_FLAG",
        `${gptq ? "--gptq" : "--salient-metric hessian"} needs --calib <text> (calibration text for the layer Hessians)`,
      );
    }
    if (!needsCalibration && (calib !== undefined || calibTokens !== undefined || calibOrder !== undefined)) {
      throw new OptionError("BAD_FLAG_VALUE", "--calib is used only by --gptq and --salient-metric hessian");
    }
    if (calib !== undefined) await checkInputFile(calib, textFile("the calibration text"));

    await checkOutputFolder(outPath, "--out");
    const opened = await openModelReference(ref);
    const { source, header } = opened;
    const model = ref;

    const bar = new ProgressBar("quantize");
    try {
      const calibration =
        calib === undefined
          ? undefined
          : await calibrateOnText(source, header, await readFile(calib, "utf8"), { maxTokens: calibTokens, order: calibOrder ?? "sequential" });
      const plan = planQuantize(source, header, {
        type,
        includeOutput: args.flags.has("include-output"),
        salient: { fraction, metric },
        gptq,
        hessians: calibration?.hessians,
        onTensor: (done, total, name) => bar.update(done, total, name),
      });
      if (plan.grouped.length) process.stderr.write(`ternion quantize: ${terminalText(groupedSummary(plan))}\n`);
      const layout = await writeGgufFile(outPath, plan.input);
      bar.clear();

      const inBytes = header.tensors.reduce((n, t) => n + t.byteLength, 0);
      const outBytes = layout.tensors.reduce((n, t) => n + t.byteLength, 0);
      const ternarized = plan.tensors.filter((t) => t.ternarized);
      if (args.flags.has("json")) {
        out(
          JSON.stringify(
            {
              model,
              out: outPath,
              type,
              salient: { fraction, metric: fraction > 0 ? (metric ?? "magnitude") : undefined },
              gptq,
              calibrationTokens: calibration?.tokens,
              calibrationOrder: calibration ? (calibOrder ?? "sequential") : undefined,
              tensorBytes: { in: inBytes, out: outBytes },
              tensors: plan.tensors,
              grouped: plan.grouped.map(brief),
            },
            null,
            2,
          ),
        );
      } else {
        out(
          `wrote ${outPath}: ${ternarized.length} of ${plan.tensors.length} tensors ternarized ` +
            `(${ternarized.length - plan.grouped.length} as ${type.toUpperCase()}, ${plan.grouped.length} as ${GROUPED_TERNARY_NAME}), ` +
            `tensor data ${formatBytes(inBytes)} → ${formatBytes(outBytes)}` +
            (fraction > 0 ? `; ${ternarized.reduce((n, t) => n + (t.salient ?? 0), 0)} salient weights kept (${metric ?? "magnitude"})` : "") +
            (gptq ? "; GPTQ" : "") +
            (calibration ? ` (calibrated on ${calibration.tokens} tokens, ${calibOrder ?? "sequential"})` : ""),
        );
      }
    } finally {
      await opened.close();
    }
  },
};

function brief(t: QuantizedTensor) {
  return { name: t.name, shape: t.dims, type: t.type, reason: t.grouped };
}

/** One line for every tensor stored in the grouped ternary layout: how many, which row lengths, why, and what reads it. */
function groupedSummary({ grouped, target }: QuantizePlan): string {
  const lengths = [...new Set(grouped.map((t) => t.dims[0]!))].sort((a, b) => a - b);
  return (
    `${grouped.length} tensor${grouped.length === 1 ? "" : "s"} with rows of ${lengths.join(", ")} (not a multiple of ` +
    `${target.blockSize}, which ${target.name} needs) stored as ${GROUPED_TERNARY_NAME}, ternion's grouped ternary layout ` +
    `(absmean per group of ${GROUPED_TERNARY_GROUP}): ternion runs the file, llama.cpp does not`
  );
}
