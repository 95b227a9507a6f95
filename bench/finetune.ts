// The fine-tuning experiment of issue 7 and training speed: perplexity of stories260K (float), of its
// post-training ternarizations (absmean per tensor, symmetric absmax per group without shift, DLT init) and
// of DLT students fine-tuned with the same seed, steps and data (MSE blockwise, OFF blockwise, OFF full,
// OFF blockwise on data-free text sampled from the teacher). Every row is exported to GGUF and scored by
// the inference engine (runtime/perplexity.ts, llama.cpp's method). Then training tokens/s of both
// schedules on 1 and 2 threads. Then the post-training rows of issue 18 (salient weights, ternary GPTQ): absmean
// per tensor with and without GPTQ, and + salient 0.5 / 1 / 2 / 5 % by magnitude and by the Hessian criterion,
// with and without GPTQ, per tensor and per group of 64, and GPTQ calibrated sequentially, each with its total bits
// per weight (runtime/convert/salient-ternarize.ts).
//
//   npm run bench:finetune -- [--steps 200] [--batch 8] [--seq-len 64] [--group 128] [--eval-chars 100000|all]
//                             [--train-chars all] [--threads 1,2] [--rows all|salient|sequential|salient-finetune] [--json]
//                             [--salient-fractions 0.01] [--salient-runs all|full,full-1,…] [--lr 1e-3] [--kl 0] [--ce 1]
//                             [--kl-temperature 1] [--data text|teacher:N|mixed:N]
//
// `--rows salient` runs the float row, the post-training rows and the salient rows only (no training);
// `--rows sequential` of those only the sequentially calibrated rows and quantize's file read back.
// `--rows salient-finetune` runs the float row and issue 18's fine-tuned rows (finetune --salient) only.
// `--lr`, `--kl` and `--ce` set the trained rows' peak learning rate and the weights of KL(teacher ‖ student) and of
// the cross-entropy, `--kl-temperature` the KL term's temperature τ (finetune's; the full schedule uses them), and
// each trained row's label names those given. `--data` sets the trained rows' data: `text` (default) the training
// text, `teacher:N` N tokens sampled from the float teacher (train/data-free.ts, seed 1, as `finetune --data-free`
// samples them), `mixed:N` the training text followed by those N tokens, one stream; a row on other data than the
// text names it in its label.
//
// Defaults keep the whole run to a few minutes on 2 cores; raise --steps and --eval-chars all for the
// full measurement.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OptionError } from "../src/runtime/errors.ts";
import { prepareHessian, type PreparedHessian } from "../src/runtime/convert/hessian.ts";
import { GROUPED_TERNARY_GROUP, isLinearWeight, planQuantize } from "../src/runtime/convert/quantize.ts";
import { readGgufHeader, readTensorData } from "../src/runtime/gguf/reader.ts";
import { dltScaleNames, salientNames } from "../src/runtime/model/tensors.ts";
import { salientBits } from "../src/runtime/model/salient-file.ts";
import { denseOf, type SalientMetric, salientTernarize } from "../src/runtime/convert/salient-ternarize.ts";
import { GgmlType, tensorTypeTraits } from "../src/runtime/tensor-types/table.ts";
import { writeGgufToBytes } from "../src/runtime/gguf/writer.ts";
import { calibrate, sequentialCalibration } from "../src/train/calibration.ts";
import { bytesSource } from "../src/runtime/gguf/sources.ts";
import { tokenizerFromGguf } from "../src/runtime/tokenizer/index.ts";
import { applyBaselineToModel, type Baseline } from "../src/train/baselines.ts";
import { perplexityOfGguf } from "../src/train/eval.ts";
import { exportStudent } from "../src/train/export.ts";
import { sampleTeacherStream } from "../src/train/data-free.ts";
import { finetune, type FinetuneOptions } from "../src/train/finetune.ts";
import { buildTrainModel } from "../src/train/model.ts";
import { loadFloatModel } from "../src/train/teacher.ts";

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : def;
};
const json = argv.includes("--json");
const shared = new URL("../../shared/", import.meta.url);
const teacherPath = new URL("models/stories260K.gguf", shared).pathname;
const trainText = readFileSync(new URL("corpus/tinystories-train-2MiB.txt", shared), "utf8");
const evalFull = readFileSync(new URL("corpus/tinystories-valid-a.txt", shared), "utf8");
const evalChars = opt("eval-chars", "100000");
const evalText = evalChars === "all" ? evalFull : evalFull.slice(0, Number(evalChars));
const trainChars = opt("train-chars", "all");
const steps = Number(opt("steps", "200"));
const batch = Number(opt("batch", "8"));
const seqLen = Number(opt("seq-len", "64"));
const group = Number(opt("group", "128"));
// the trained rows' peak learning rate and loss weights; finetune's defaults (lr 1e-3, KL 0, CE 1) unless given
const given = (flag: string, name: "lr" | "kl" | "ce" | "klTemperature") => (argv.includes(`--${flag}`) ? { [name]: Number(opt(flag, "")) } : {});
const trainOptions: Pick<FinetuneOptions, "lr" | "kl" | "ce" | "klTemperature"> = {
  ...given("lr", "lr"),
  ...given("kl", "kl"),
  ...given("ce", "ce"),
  ...given("kl-temperature", "klTemperature"),
};
const threadList = opt("threads", "1,2").split(",").map(Number);
const rowSet = opt("rows", "all");
const log = (s: string) => process.stderr.write(s + "\n");

const teacherBytes = new Uint8Array(readFileSync(teacherPath));
const teacher = await loadFloatModel(bytesSource(teacherBytes));
let t = performance.now();
const tokens = Int32Array.from(
  tokenizerFromGguf(teacher.header.metadata).encode(trainChars === "all" ? trainText : trainText.slice(0, Number(trainChars)), { addBos: true }),
);
log(`tokenized the training text: ${tokens.length} tokens in ${((performance.now() - t) / 1000).toFixed(1)} s`);

/**
 * The trained rows' token stream (`--data`) and what their label adds for it: the training text, N tokens sampled
 * from the teacher with the rows' seed, or the text followed by those tokens.
 */
const trainedRowsData = async (spec: string, seed: number): Promise<{ tokens: Int32Array; label: string }> => {
  if (spec === "text") return { tokens, label: "" };
  const [kind, count] = spec.split(":");
  const n = Number(count);
  if ((kind !== "teacher" && kind !== "mixed") || !Number.isInteger(n) || n < 1)
    throw new OptionError("BAD_FLAG_VALUE", `--data must be text, teacher:N or mixed:N (N ≥ 1 tokens), got ${JSON.stringify(spec)}`);
  const started = performance.now();
  const sampled = await sampleTeacherStream(bytesSource(teacherBytes), { tokens: n, seed, header: teacher.header });
  log(`sampled ${n} tokens from the teacher in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (kind === "teacher") return { tokens: sampled, label: `, data: ${n} teacher tokens` };
  const both = new Int32Array(tokens.length + n);
  both.set(tokens);
  both.set(sampled, tokens.length);
  return { tokens: both, label: `, data: text + ${n} teacher tokens` };
};
const SEED = 1;
const trainedData = await trainedRowsData(opt("data", "text"), SEED);
/** What a trained row's label adds for the options given on the command line, e.g. ", lr 5e-4, KL 1, CE 0". */
const trainLabel = [
  trainOptions.lr !== undefined ? `, lr ${opt("lr", "")}` : "",
  trainOptions.kl !== undefined ? `, KL ${opt("kl", "")}` : "",
  trainOptions.ce !== undefined ? `, CE ${opt("ce", "")}` : "",
  trainOptions.klTemperature !== undefined ? `, τ ${opt("kl-temperature", "")}` : "",
  trainedData.label,
].join("");

// what every trained row shares (the rows add the schedule, the loss and the salient options)
const common: Omit<FinetuneOptions, "out"> = {
  teacher: teacherPath,
  dataTokens: trainedData.tokens,
  steps,
  batch,
  seqLen,
  group,
  seed: SEED,
  threads: 1,
  ...trainOptions,
};
const dir = mkdtempSync(join(tmpdir(), "ternion-bench-finetune-"));
interface Row {
  method: string;
  ppl: number;
  trainSeconds?: number;
  /** Total bits per weight of the block matrices (salient rows), side matrix in the agreed format. */
  bitsPerWeight?: number;
  /** The same with the side matrix in the compact variant (`compactSalientBits`), computed, not written. */
  compactBitsPerWeight?: number;
}
const rows: Row[] = [];
interface RowBits {
  agreed: number;
  compact: number;
}
const score = async (method: string, bytes: Uint8Array, trainSeconds?: number, bits?: RowBits) => {
  const r = await perplexityOfGguf(bytes, evalText, { threads: Math.max(...threadList) });
  rows.push({
    method,
    ppl: r.ppl,
    ...(trainSeconds !== undefined ? { trainSeconds } : {}),
    ...(bits !== undefined ? { bitsPerWeight: bits.agreed, compactBitsPerWeight: bits.compact } : {}),
  });
  const trained = trainSeconds !== undefined ? `, trained in ${trainSeconds.toFixed(0)} s` : "";
  const perWeight = bits !== undefined ? `, ${bits.agreed.toFixed(3)} bits/weight (compact side matrix ${bits.compact.toFixed(3)})` : "";
  log(`${method}: ppl ${r.ppl.toFixed(3)} (${r.scored} tokens scored)${perWeight}${trained}`);
};

// Issue 18's rows. Calibration: the first 512 tokens of the training text through the float model (its own
// activations, train/calibration.ts). Each row is scored as the dense student weight Ŵ + S written as F32, so the
// engine runs it as a float model (no int8 activation rounding, which the DLT rows above have). Bits per weight
// over the block matrices: TQ2_0's 2.0625 for the codes plus the side matrix, (2.0625·m·k + 24·nnz + 32·(m + 1)
// + 32·m) / (m·k) summed over the matrices (per group: + 32·ceil(k/g)·m for α and γ); a matrix without salient
// weights has no side matrix.
const TERNARY_BITS = (66 * 8) / 256;
/**
 * Bits of a side matrix of `nnz` entries in the compact variant that src/train/README.md weighs against the agreed
 * format (a computed figure; nothing writes it): per entry an int8 value and one flat index r·k + c, u16 where
 * m·k ≤ 65536 (u32 past that), one F32 scale for the tensor, no row array. No entries, no side matrix.
 */
const compactSalientBits = (rows: number, cols: number, nnz: number) => (nnz === 0 ? 0 : nnz * (8 + (rows * cols <= 65536 ? 16 : 32)) + 32);
/** Bits of F16 α and γ for a row of `cols` weights in groups of `group` (the last group of a row may be shorter). */
const scaleBitsPerRow = (cols: number, group: number) => 2 * 16 * Math.ceil(cols / group);
const calibration = calibrate(teacher.config, teacher.tensors, { tokens: tokens.subarray(0, 512) });
const prepared = new Map<Float64Array, PreparedHessian>();
const hessianOf = (name: string, k: number) => {
  const h = calibration.hessians.get(name)!;
  if (!prepared.has(h)) prepared.set(h, prepareHessian(h, k, undefined, name));
  return prepared.get(h)!;
};
// `group`: one absmean scale per 64 values of a row instead of per tensor, as `ternion quantize` stores rows that
// TQ2_0 cannot hold (stories260K's): α and γ are F16 per group, 32 more bits per group and ceil(k/64) groups a
// row (3 at k = 172, the last of 44).
interface SalientRowOptions {
  fraction: number;
  metric: SalientMetric;
  gptq: boolean;
  group?: number;
  /** Calibrate block l on the model whose blocks < l are already quantized (GPTQ's sequential order). */
  sequential?: boolean;
}
const calibrationTokens = tokens.subarray(0, 512);
const salientRow = async (method: string, o: SalientRowOptions) => {
  let bits = 0;
  let compact = 0;
  let weights = 0;
  const current = new Map(teacher.tensors); // block matrices replaced by Ŵ + S as they are quantized
  const needs = o.gptq || (o.fraction > 0 && o.metric === "hessian");
  for (let l = 0; l < teacher.config.layers; l++) {
    const hessians = o.sequential && needs ? calibrate(teacher.config, current, { tokens: calibrationTokens }).hessians : calibration.hessians;
    const local = new Map<Float64Array, PreparedHessian>();
    for (const info of teacher.header.tensors) {
      if (!isLinearWeight(info) || !info.name.startsWith(`blk.${l}.`)) continue;
      const [k, m] = info.dims as [number, number];
      const h = hessians.get(info.name)!;
      if (needs && !local.has(h)) local.set(h, o.sequential ? prepareHessian(h, k, undefined, info.name) : hessianOf(info.name, k));
      const t = salientTernarize(teacher.tensors.get(info.name)!, m, k, {
        group: o.group ?? "tensor",
        salientFraction: o.fraction,
        salientMetric: o.metric,
        gptq: o.gptq,
        hessian: needs ? local.get(h) : undefined,
        name: info.name,
      });
      const ternary = TERNARY_BITS * m * k + (o.group ? scaleBitsPerRow(k, o.group) * m : 0);
      const nnz = t.salient ? t.salient.idx.length : 0;
      bits += ternary + (nnz ? salientBits(m, nnz) : 0);
      compact += ternary + compactSalientBits(m, k, nnz);
      weights += m * k;
      current.set(info.name, denseOf(t));
    }
  }
  const tensors = teacher.header.tensors.map((info) => {
    const values = current.get(info.name)!;
    return { name: info.name, dims: info.dims, type: GgmlType.F32, data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
  });
  await score(method, await writeGgufToBytes({ version: teacher.header.version, metadata: teacher.header.metadata, tensors }), undefined, {
    agreed: bits / weights,
    compact: compact / weights,
  });
};
// The file `ternion quantize` writes (planQuantize with the sequential calibration, as the CLI's defaults), read
// back from its bytes: DLT codes, F16 α and γ, the int8 side matrix; the decoded Ŵ + S scored as F32. It checks
// the writer end to end against the in-memory row of the same recipe.
/**
 * A DLT file (codes, F16 α and γ per `group`, and where present the int8 side matrix) decoded to its dense Ŵ + S,
 * every tensor as F32: scored as a float model, the side matrices count without a runtime reader for them.
 */
const denseOfDltFile = async (file: Uint8Array, group: number) => {
  const header = await readGgufHeader(bytesSource(file));
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  const read = (name: string) => readTensorData(bytesSource(file), header, byName.get(name)!);
  const f16 = async (name: string) => {
    const info = byName.get(name)!;
    const out = new Float32Array(info.dims.reduce((a, b) => a * b, 1));
    tensorTypeTraits(GgmlType.F16).dequantize(await read(name), out);
    return out;
  };
  const tensors = [];
  for (const info of teacher.header.tensors) {
    let values = teacher.tensors.get(info.name)!;
    if (isLinearWeight(info)) {
      const [k, m] = info.dims as [number, number];
      const stored = byName.get(info.name)!.dims[0]!;
      const codes = tensorTypeTraits(GgmlType.TQ2_0).ternaryCodes!(await read(info.name));
      const { alpha, gamma } = dltScaleNames(info.name);
      const [a, g] = [await f16(alpha), await f16(gamma)];
      const G = Math.ceil(k / group);
      values = new Float32Array(m * k);
      for (let r = 0; r < m; r++) {
        for (let c = 0; c < k; c++) {
          const at = r * G + Math.floor(c / group);
          values[r * k + c] = a[at]! * codes[r * stored + c]! + g[at]!;
        }
      }
      const side = salientNames(info.name);
      if (!byName.has(side.rows)) {
        tensors.push({ name: info.name, dims: info.dims, type: GgmlType.F32, data: new Uint8Array(values.buffer) });
        continue;
      }
      const view = async (name: string) => {
        const b = await read(name);
        return new DataView(b.buffer, b.byteOffset, b.byteLength);
      };
      const [rows, idx, val, scale] = [await view(side.rows), await view(side.idx), await view(side.val), await view(side.scale)];
      for (let r = 0; r < m; r++) {
        for (let e = rows.getInt32(4 * r, true); e < rows.getInt32(4 * (r + 1), true); e++) {
          values[r * k + idx.getUint16(2 * e, true)]! += scale.getFloat32(4 * r, true) * val.getInt8(e);
        }
      }
    }
    tensors.push({ name: info.name, dims: info.dims, type: GgmlType.F32, data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) });
  }
  return { tensors, byName };
};
const quantizedFileRow = async (method: string, fraction: number) => {
  const source = bytesSource(teacherBytes);
  const hessians = sequentialCalibration(teacher.config, teacher.tensors, { tokens: calibrationTokens });
  const plan = planQuantize(source, teacher.header, { type: "tq2_0", salient: { fraction, metric: "hessian" }, gptq: true, hessians });
  const file = await writeGgufToBytes(plan.input);
  const { tensors, byName } = await denseOfDltFile(file, GROUPED_TERNARY_GROUP);
  // bits as inspect counts them for this file: every tensor of a matrix (codes padded to 256, α, γ, side) over m·k;
  // compact: the same with the side matrix in the compact variant
  let bits = 0;
  let compact = 0;
  let weights = 0;
  for (const info of teacher.header.tensors.filter((t) => isLinearWeight(t))) {
    const [k, m] = info.dims as [number, number];
    weights += m * k;
    let ternary = 0;
    for (const n of [info.name, ...Object.values(dltScaleNames(info.name))]) ternary += 8 * byName.get(n)!.byteLength;
    const side = salientNames(info.name);
    bits += ternary;
    for (const n of Object.values(side)) bits += 8 * byName.get(n)!.byteLength;
    compact += ternary + compactSalientBits(m, k, byName.get(side.idx)!.dims[0]!);
  }
  await score(method, await writeGgufToBytes({ version: teacher.header.version, metadata: teacher.header.metadata, tensors }), undefined, {
    agreed: bits / weights,
    compact: compact / weights,
  });
};

const sequentialRows = async () => {
  // GPTQ's sequential order (block l calibrated on the model with blocks < l quantized), `quantize`'s default
  await salientRow("ternary GPTQ, sequential calibration", { fraction: 0, metric: "magnitude", gptq: true, sequential: true });
  await salientRow("per group of 64 + GPTQ, sequential", { fraction: 0, metric: "magnitude", gptq: true, group: 64, sequential: true });
  await salientRow("per group of 64 + salient 5 % (hessian) + GPTQ, sequential", {
    fraction: 0.05,
    metric: "hessian",
    gptq: true,
    group: 64,
    sequential: true,
  });
  await quantizedFileRow("the same, as `quantize --type tq2_0 --salient 0.05 --salient-metric hessian --gptq` writes it, read back", 0.05);
};
const salientRows = async () => {
  if (rowSet === "sequential") return sequentialRows();
  await salientRow("absmean per tensor, dense Ŵ", { fraction: 0, metric: "magnitude", gptq: false });
  await salientRow("ternary GPTQ (absmean grid)", { fraction: 0, metric: "magnitude", gptq: true });
  for (const gptq of [false, true]) {
    for (const metric of ["magnitude", "hessian"] as const) {
      for (const fraction of [0.005, 0.01, 0.02, 0.05]) {
        await salientRow(`+ salient ${fraction * 100} % (${metric})${gptq ? " + GPTQ" : ""}`, { fraction, metric, gptq });
      }
    }
  }
  await salientRow("absmean per group of 64 (quantize's layout here)", { fraction: 0, metric: "magnitude", gptq: false, group: 64 });
  await salientRow("  + GPTQ", { fraction: 0, metric: "magnitude", gptq: true, group: 64 });
  for (const fraction of [0.01, 0.05]) {
    await salientRow(`  + salient ${fraction * 100} % (hessian) + GPTQ`, { fraction, metric: "hessian", gptq: true, group: 64 });
  }
  await sequentialRows();
};
const ptq = async (method: string, baseline: Baseline | null) => {
  const student = buildTrainModel(teacher.config, teacher.tensors, { precision: "f32", dlt: { group, refine: true } });
  if (baseline) applyBaselineToModel(student, baseline);
  await score(method, await writeGgufToBytes(exportStudent(student, teacher.header, teacher.tensors, "dlt").input));
};

function report(speed: { mode: string; threads: number; tokensPerSecond: number }[]): void {
  const float = rows[0]!.ppl;
  const absmean = rows[1]!.ppl;
  // The gap is measured in log-perplexity (mean NLL per token): in perplexity itself the absmean row's
  // thousands would make any ternary row look like it closes most of the gap.
  const gapClosed = (ppl: number) => (Math.log(absmean) - Math.log(ppl)) / (Math.log(absmean) - Math.log(float));
  if (json) {
    console.log(
      JSON.stringify(
        {
          steps,
          batch,
          seqLen,
          group,
          evalChars,
          ...trainOptions,
          data: opt("data", "text"),
          rows: rows.map((r) => ({ ...r, gapClosed: gapClosed(r.ppl) })),
          speed,
        },
        null,
        2,
      ),
    );
  } else {
    console.log(
      `stories260K, ${steps} steps × ${batch}×${seqLen} tokens, g = ${group}, seed 1${trainLabel}; eval: first ${evalChars} chars of tinystories-valid-a\n`,
    );
    console.log("| method | ppl | gap absmean→float closed (log ppl) |");
    console.log("|---|---:|---:|");
    for (const r of rows)
      if (r.bitsPerWeight === undefined)
        console.log(`| ${r.method} | ${r.ppl.toFixed(2)} | ${r === rows[0] ? "—" : `${(100 * gapClosed(r.ppl)).toFixed(0)} %`} |`);
    console.log(
      "\n| with bits per weight (stories260K; post-training rows calibrated on 512 training tokens) | bits/weight | compact side matrix (computed) | ppl | × float | training s |",
    );
    console.log("|---|---:|---:|---:|---:|---:|");
    for (const r of rows)
      if (r.bitsPerWeight !== undefined)
        console.log(
          `| ${r.method} | ${r.bitsPerWeight.toFixed(3)} | ${r.compactBitsPerWeight!.toFixed(3)} | ${r.ppl.toFixed(2)} | ${(r.ppl / float).toFixed(2)} | ${r.trainSeconds?.toFixed(0) ?? "—"} |`,
        );
    console.log("\n| schedule | threads | training tokens/s |");
    console.log("|---|---:|---:|");
    for (const s of speed) console.log(`| ${s.mode} | ${s.threads} | ${Math.round(s.tokensPerSecond)} |`);
  }
}

// Issue 18's fine-tuned rows: DLT + OFF students with and without salient weights (finetune --salient), same data,
// seed and steps as the trained rows above. Each exported file is decoded to its dense Ŵ + S (denseOfDltFile) and
// scored as F32, as the post-training salient rows are, so its row without salient weights is scored the same way
// too; the DLT row as the engine runs it (int8 activations) is the table's "DLT + OFF (full)". Bits per weight: the
// codes as TQ2_0 (2.0625, not the file's padding of rows to 256 codes), the file's F16 α and γ (one pair per group
// of g of a row, the last group shorter: 32·ceil(k/g) per row, so 32/64 a weight at k = 64 whether g is 128 or 256)
// and the side matrix (nnz·24 + 32·(m + 1) + 32·m; compact: `compactSalientBits`), over m·k.
const salientFinetuneRows = async () => {
  const fractions = opt("salient-fractions", "0.01").split(",").map(Number);
  const row = async (method: string, o: Partial<FinetuneOptions>) => {
    const out = join(dir, `${rows.length}.gguf`);
    t = performance.now();
    await finetune({ ...common, ...o, out });
    const trainSeconds = (performance.now() - t) / 1000;
    const file = new Uint8Array(readFileSync(out));
    const { tensors, byName } = await denseOfDltFile(file, group);
    let bits = 0;
    let compact = 0;
    let weights = 0;
    for (const info of teacher.header.tensors.filter((x) => isLinearWeight(x))) {
      const [k, m] = info.dims as [number, number];
      const { alpha, gamma } = dltScaleNames(info.name);
      const ternary = TERNARY_BITS * m * k + 8 * (byName.get(alpha)!.byteLength + byName.get(gamma)!.byteLength);
      const nnz = byName.get(salientNames(info.name).idx)?.dims[0] ?? 0;
      bits += ternary + (nnz ? salientBits(m, nnz) : 0);
      compact += ternary + compactSalientBits(m, k, nnz);
      weights += m * k;
    }
    await score(
      method + trainLabel,
      await writeGgufToBytes({ version: teacher.header.version, metadata: teacher.header.metadata, tensors }),
      trainSeconds,
      {
        agreed: bits / weights,
        compact: compact / weights,
      },
    );
  };
  const runs: [string, string, Partial<FinetuneOptions>][] = [
    ["full", "DLT + OFF (full), dense Ŵ", { mode: "full" }],
    ...fractions.map((p): [string, string, Partial<FinetuneOptions>] => [
      `full-${p * 100}`,
      `DLT + OFF (full) + salient ${p * 100} % (magnitude, trained)`,
      { mode: "full", salient: p },
    ]),
    ["full-1-frozen", "DLT + OFF (full) + salient 1 % (magnitude, frozen)", { mode: "full", salient: 0.01, salientTrain: false }],
    ["full-1-hessian", "DLT + OFF (full) + salient 1 % (hessian, trained)", { mode: "full", salient: 0.01, salientMetric: "hessian" }],
    ["blockwise", "DLT + OFF (blockwise), dense Ŵ", { mode: "blockwise" }],
    ["blockwise-1", "DLT + OFF (blockwise) + salient 1 % (magnitude, trained)", { mode: "blockwise", salient: 0.01 }],
    ["blockwise-1-frozen", "DLT + OFF (blockwise) + salient 1 % (magnitude, frozen)", { mode: "blockwise", salient: 0.01, salientTrain: false }],
  ];
  // `--salient-runs full,full-1,…` picks runs by key (to share them out over processes); default all
  const picked = opt("salient-runs", "all");
  for (const [key, method, o] of runs) if (picked === "all" || picked.split(",").includes(key)) await row(method, { loss: "off", ...o });
};

try {
  await score("float (teacher)", teacherBytes);
  if (rowSet === "salient-finetune") {
    await salientFinetuneRows();
    report([]);
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  }
  await ptq("absmean per tensor (BitNet PTQ)", "absmean-tensor");
  await ptq(`absmax per group of ${group}, no shift`, "absmax-group");
  await ptq("DLT init (no training)", null);
  await salientRows();

  if (rowSet === "salient" || rowSet === "sequential") {
    report([]);
    rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  }
  const trained = async (method: string, o: Partial<FinetuneOptions>) => {
    const out = join(dir, `${rows.length}.gguf`);
    t = performance.now();
    const r = await finetune({ ...common, ...o, out });
    await score(method + trainLabel, new Uint8Array(readFileSync(out)), (performance.now() - t) / 1000);
    return r;
  };
  await trained("DLT + MSE (blockwise)", { mode: "blockwise", loss: "mse" });
  await trained("DLT + OFF (blockwise)", { mode: "blockwise", loss: "off" });
  await trained("DLT + OFF (full)", { mode: "full", loss: "off" });
  await trained("DLT + OFF (blockwise, data-free)", { mode: "blockwise", loss: "off", dataTokens: undefined, dataFree: true });

  // Training speed: the same runs on 1 and 2 threads (a short run each; results are identical bytes).
  const speed: { mode: string; threads: number; tokensPerSecond: number }[] = [];
  for (const mode of ["blockwise", "full"] as const) {
    for (const threads of threadList) {
      const r = await finetune({
        ...common,
        steps: mode === "full" ? Math.min(steps, 40) : Math.min(steps, 100),
        mode,
        threads,
        out: join(dir, `speed-${mode}-${threads}.gguf`),
      });
      speed.push({ mode, threads, tokensPerSecond: r.tokensPerSecond });
      log(`${mode}, ${threads} thread(s): ${Math.round(r.tokensPerSecond)} training tokens/s`);
    }
  }

  report(speed);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
