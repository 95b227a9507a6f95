// `ternion finetune --teacher F.gguf --data FILE|--data-free --steps N --out S.gguf [...]`: DLT + OFF
// fine-tuning of a ternary student from a float teacher (src/train/finetune.ts). Progress (loss, ETA) goes to
// stderr: a bar on a terminal, a line every 10 % when piped. At the end: the before/after perplexity table
// on --eval and the loss-curve SVG written beside the output; --json prints one final object instead.
// Blockwise runs train one block at a time, each against its own target, so a step's loss is shown beside
// its block's first loss, and the summary gives each block's loss at its start and end instead of one number.
import { resolve } from "node:path";
import { OptionError } from "../runtime/errors.ts";
import { type ExportFormat, EXPORT_FORMATS } from "../train/export.ts";
import { type FinetuneOptions, finetune } from "../train/finetune.ts";
import type { FeatureLoss } from "../train/loss.ts";
import type { Schedule } from "../train/run.ts";
import { SALIENT_METRICS, type SalientMetric } from "../train/salient.ts";
import { helpFlag, parseArgs, type FlagSpec } from "./args.ts";
import type { Command } from "./command.ts";
import { choiceFlag, numberFlag, optionalString, requiredString } from "./flags.ts";
import { formatTable } from "./format.ts";
import { checkInputFile, checkOutputFolder, MODEL_FILE, textFile } from "./file-checks.ts";
import { MODEL_REFERENCE_HELP, openModelReference } from "./model-reference.ts";
import { ProgressBar, formatDuration } from "./progress.ts";

const flags: Record<string, FlagSpec> = {
  teacher: { type: "string", description: `float teacher GGUF (llama or bitnet architecture): ${MODEL_REFERENCE_HELP}` },
  data: { type: "string", description: "UTF-8 training text" },
  "data-free": { type: "boolean", description: "train on text sampled from the teacher instead of --data" },
  "data-free-tokens": {
    type: "string",
    description: "--data-free: tokens to sample from the teacher (default min(steps·batch·seq-len, 65536))",
  },
  steps: { type: "string", description: "optimizer steps" },
  out: { type: "string", description: "student GGUF to write (replaced atomically); <out>.loss.svg beside it" },
  mode: { type: "string", description: "blockwise (default: α, γ, gains, one block at a time) or full (end to end)" },
  loss: { type: "string", description: "feature loss: off (default) or mse" },
  group: { type: "string", description: "DLT group size: 64, 128 (default) or 256" },
  lr: { type: "string", description: "peak learning rate (default 1e-3)" },
  warmup: { type: "string", description: "warm-up steps (default min(20, steps/10))" },
  "seq-len": { type: "string", description: "tokens per sequence (default min(64, context))" },
  batch: { type: "string", description: "sequences per step (default 8)" },
  ce: { type: "string", description: "full mode: weight of the cross-entropy term (default 1)" },
  kl: { type: "string", description: "full mode: weight of KL(teacher‖student) (default 0)" },
  "kl-temperature": {
    type: "string",
    description: "full mode: temperature τ of both softmaxes in the KL term, scaled by τ² (default 1; needs --kl)",
  },
  seed: { type: "string", description: "seed of the data sampler (default 1)" },
  "checkpoint-every": { type: "string", description: "write a checkpoint every N steps (default 0: none)" },
  checkpoint: { type: "string", description: "checkpoint path (default <out>.ckpt)" },
  resume: {
    type: "boolean",
    description:
      "continue from the checkpoint (same options and data); with more --steps than a finished run, extend it (blockwise: another pass over the blocks)",
  },
  eval: { type: "string", description: "text to score before and after (perplexity)" },
  "eval-chars": { type: "string", description: "score only the first N characters of --eval" },
  export: { type: "string", description: `output format: ${EXPORT_FORMATS.join(" (default), ")} (llama.cpp; rows must be multiples of 256)` },
  salient: { type: "string", description: "fraction of each block matrix kept as salient float weights, out of the ternary groups (e.g. 0.01)" },
  "salient-metric": { type: "string", description: "how salient weights are chosen: magnitude (default) or hessian (calibrated on --data)" },
  "salient-train": { type: "boolean", description: "train the salient weights (default)" },
  "salient-freeze": { type: "boolean", description: "keep the salient weights at the teacher's values (PB-LLM's QAT)" },
  threads: { type: "string", short: "t", description: "threads for data-free sampling and evaluation (default 1)" },
  json: {
    type: "boolean",
    description:
      "print one JSON object { steps, mode, loss, blockLosses (blockwise), evalPplBefore, evalPplAfter, tokensPerSecond, out, warnings, … }",
  },
  help: helpFlag,
};

/** A relative change as "−12.3 %" / "+4.0 %". */
function signedPercent(change: number): string {
  const percent = Math.abs(100 * change).toFixed(1);
  return percent === "0.0" ? "0.0 %" : `${change < 0 ? "−" : "+"}${percent} %`;
}

export const finetuneCommand: Command = {
  name: "finetune",
  summary: "fine-tune a ternary (DLT) student from a float teacher with OFF distillation",
  usage:
    "ternion finetune --teacher <F.gguf> (--data <file> | --data-free [--data-free-tokens N]) --steps N --out <S.gguf> [--mode blockwise|full] [--loss off|mse] " +
    "[--group 128] [--lr X] [--seq-len N] [--batch N] [--salient P [--salient-metric magnitude|hessian] [--salient-train|--salient-freeze]] " +
    "[--checkpoint-every N] [--resume] [--eval <file>] [--export dlt|tq2_0] [--json]",
  flags,
  async run(argv, out) {
    const args = parseArgs(argv, flags);
    const f = args.flags;
    if (args.positionals.length) throw new OptionError("UNEXPECTED_ARGUMENT", `unexpected argument ${JSON.stringify(args.positionals[0])}`);
    const teacher = requiredString(f, "teacher", "path");
    const outPath = requiredString(f, "out", "path");
    const steps = numberFlag(f, "steps", { integer: true, min: 1 });
    if (steps === undefined) throw new OptionError("MISSING_FLAG", "--steps <N> is required");
    const data = optionalString(f, "data");
    const dataFree = f.has("data-free");
    if (data !== undefined && dataFree) throw new OptionError("BAD_FLAG_VALUE", "give --data or --data-free, not both");
    if (data === undefined && !dataFree) throw new OptionError("MISSING_FLAG", "--data <file> or --data-free is required");
    const dataFreeTokens = numberFlag(f, "data-free-tokens", { integer: true, min: 1 });
    if (dataFreeTokens !== undefined && !dataFree) throw new OptionError("BAD_FLAG_VALUE", "--data-free-tokens needs --data-free");
    if (resolve(teacher) === resolve(outPath)) throw new OptionError("BAD_FLAG_VALUE", "--out must differ from --teacher");
    const group = numberFlag(f, "group", { integer: true, min: 1 });
    if (group !== undefined && ![64, 128, 256].includes(group))
      throw new OptionError("BAD_FLAG_VALUE", `--group must be 64, 128 or 256, got ${group}`);
    const lr = numberFlag(f, "lr", { min: 0 });
    if (lr === 0) throw new OptionError("BAD_FLAG_VALUE", "--lr must be > 0");
    const klTemperature = numberFlag(f, "kl-temperature", { min: 0 });
    if (klTemperature === 0) throw new OptionError("BAD_FLAG_VALUE", "--kl-temperature must be > 0");

    const salient = numberFlag(f, "salient", { min: 0 });
    if (f.has("salient-train") && f.has("salient-freeze"))
      throw new OptionError("BAD_FLAG_VALUE", "give --salient-train or --salient-freeze, not both");
    const salientTrain = f.has("salient-freeze") ? false : f.has("salient-train") ? true : undefined;
    const salientMetric = choiceFlag<SalientMetric>(f, "salient-metric", SALIENT_METRICS);
    if (salient === undefined && (salientMetric !== undefined || salientTrain !== undefined))
      throw new OptionError("BAD_FLAG_VALUE", "--salient-metric, --salient-train and --salient-freeze need --salient <P>");

    const options: FinetuneOptions = {
      teacher,
      data,
      dataFree,
      dataFreeTokens,
      steps,
      out: outPath,
      mode: choiceFlag<Schedule>(f, "mode", ["blockwise", "full"]),
      loss: choiceFlag<FeatureLoss>(f, "loss", ["off", "mse"]),
      group,
      lr,
      warmup: numberFlag(f, "warmup", { integer: true, min: 0 }),
      seqLen: numberFlag(f, "seq-len", { integer: true, min: 2 }),
      batch: numberFlag(f, "batch", { integer: true, min: 1 }),
      ce: numberFlag(f, "ce", { min: 0 }),
      kl: numberFlag(f, "kl", { min: 0 }),
      klTemperature,
      seed: numberFlag(f, "seed", { integer: true, min: 0 }),
      checkpointEvery: numberFlag(f, "checkpoint-every", { integer: true, min: 0 }),
      checkpoint: optionalString(f, "checkpoint"),
      resume: f.has("resume"),
      eval: optionalString(f, "eval"),
      evalChars: numberFlag(f, "eval-chars", { integer: true, min: 1 }),
      export: choiceFlag<ExportFormat>(f, "export", EXPORT_FORMATS),
      threads: numberFlag(f, "threads", { integer: true, min: 1 }),
      salient,
      salientMetric,
      salientTrain,
    };

    if (data !== undefined) await checkInputFile(data, textFile("the training text"));
    if (options.eval !== undefined) await checkInputFile(options.eval, textFile("the evaluation text"));
    await checkOutputFolder(outPath, "--out");
    if (options.checkpoint !== undefined) await checkOutputFolder(options.checkpoint, "--checkpoint");
    const teacherModel = await openModelReference(teacher, { ...MODEL_FILE, what: "the teacher" });

    // Progress: a bar on a terminal; when piped, one quiet line per 10 % (nothing with --json).
    const bar = new ProgressBar("finetune");
    const quiet = f.has("json");
    let nextLine = 0;
    let blocks: number | undefined;
    const r = await finetune(
      { ...options, teacher: teacherModel },
      {
        onNotice: (message) => {
          bar.clear();
          process.stderr.write(`ternion finetune: ${message}\n`);
        },
        onPhase: (p) => {
          if (!bar.active && !quiet && p !== "load") process.stderr.write(`ternion finetune: ${p}\n`);
        },
        onProgress: (p) => {
          blocks = p.blocks;
          const detail =
            p.block === undefined
              ? `loss ${p.loss.toPrecision(4)} ${Math.round(p.tokensPerSecond)} tok/s`
              : `block ${p.block} step ${p.blockStep}/${p.blockSteps}${p.round ? ` (pass ${p.round + 1})` : ""} loss ${p.loss.toPrecision(4)} ` +
                `(${p.blockStep === 1 ? "the block's first" : `${signedPercent(p.relativeLoss! - 1)} from the block's first ${p.blockStartLoss!.toPrecision(4)}`}) ` +
                `${Math.round(p.tokensPerSecond)} tok/s`;
          if (bar.active) bar.update(p.step, p.steps, detail);
          else if (!quiet && p.step >= nextLine) {
            process.stderr.write(`ternion finetune: step ${p.step}/${p.steps} ${detail} ETA ${formatDuration(p.etaSeconds)}\n`);
            nextLine = p.step + Math.max(1, Math.ceil(p.steps / 10));
          }
        },
      },
    ).finally(() => teacherModel.close());
    bar.clear();
    if (quiet) {
      out(
        JSON.stringify({
          steps: r.steps,
          mode: r.mode,
          loss: r.loss,
          ...(r.blockLosses !== undefined ? { blockLosses: r.blockLosses } : {}),
          evalPplBefore: r.evalPplBefore,
          evalPplAfter: r.evalPplAfter,
          tokensPerSecond: r.tokensPerSecond,
          out: r.out,
          evalPplTeacher: r.evalPplTeacher,
          lossCurve: r.lossCurve,
          teacherTernary: r.teacherTernary,
          warnings: r.warnings,
          ...(r.foldError !== undefined ? { foldError: r.foldError } : {}),
        }),
      );
      return;
    }
    const lines: string[] = [];
    if (r.blockLosses === undefined) {
      lines.push(
        `wrote ${r.out} (${r.mode}, ${r.steps} steps, final loss ${r.loss.toPrecision(4)} (mean of the last tenth), ${Math.round(r.tokensPerSecond)} training tokens/s); loss curve ${r.lossCurve}`,
      );
    } else {
      const passes = new Set(r.blockLosses.map((b) => b.round)).size > 1;
      lines.push(
        `wrote ${r.out} (${r.mode}, ${r.steps} steps, ${Math.round(r.tokensPerSecond)} training tokens/s); loss curve ${r.lossCurve} (each block relative to its start)`,
        "",
        "loss per block (its output against the teacher's; each block has its own scale, so compare a block with itself):",
        formatTable(
          [...(passes ? ["pass"] : []), "block", "steps", "first step", "last step", "change"],
          r.blockLosses.map((b) => [
            ...(passes ? [String(b.round + 1)] : []),
            String(b.block),
            String(b.steps),
            b.startLoss.toPrecision(4),
            b.endLoss.toPrecision(4),
            b.steps > 1 ? signedPercent(b.change) : "— (1 step)",
          ]),
          [...(passes ? ["right" as const] : []), "right", "right", "right", "right", "right"],
        ),
      );
      const trained = new Set(r.blockLosses.map((b) => b.block));
      const untrained = blocks === undefined ? [] : [...Array(blocks).keys()].filter((b) => !trained.has(b));
      if (untrained.length) lines.push(`block ${untrained.join(", ")}: no step (${r.steps} steps over ${blocks} blocks), left as initialized`);
    }
    if (r.foldError !== undefined)
      lines.push(`tq2_0: shifts folded into the block scales, relative weight error ${(100 * r.foldError).toFixed(2)} %`);
    if (r.evalPplAfter !== null) {
      lines.push(
        "",
        formatTable(
          ["model", "perplexity"],
          [
            ["teacher (float)", r.evalPplTeacher!.toFixed(3)],
            ["student before (DLT init)", r.evalPplBefore!.toFixed(3)],
            ["student after", r.evalPplAfter.toFixed(3)],
          ],
          ["left", "right"],
        ),
      );
    }
    out(lines.join("\n"));
  },
};
