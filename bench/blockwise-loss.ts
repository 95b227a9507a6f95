// OFF vs MSE in the blockwise schedule (issue 18): trains stories260K's DLT student blockwise with each given
// feature loss, learning rate and step count (same data, seed and pool as `npm run bench:finetune`), scores
// the exported student by the CPU engine on the first --eval-chars of tinystories-valid-a (windows of 512, and
// of 64, the training length), and prints per block, on held-out windows, what the losses see: the mean cosine
// of the student's and the teacher's block output, the ratio of their norms, and the same for the block's own
// contribution (output − input).
//
//   BENCH_ENTRY=bench/blockwise-loss.ts node scripts/bench-kernels.mjs -- [--runs off:5e-3:200,mse:5e-3:200] [--eval-chars 100000]
//
// A run is loss:lr:steps (loss off or mse).
import { readFileSync } from "node:fs";
import { writeGgufToBytes } from "../src/runtime/gguf/writer.ts";
import { bytesSource } from "../src/runtime/gguf/sources.ts";
import { tokenizerFromGguf } from "../src/runtime/tokenizer/index.ts";
import { blockForward, blockLinears } from "../src/train/block.ts";
import { BlockwiseRun } from "../src/train/blockwise-run.ts";
import { blockLosses, blockwisePlan } from "../src/train/blockwise-plan.ts";
import { perplexityOfGguf } from "../src/train/eval.ts";
import { exportStudent } from "../src/train/export.ts";
import { resolveFinetuneOptions } from "../src/train/finetune-run.ts";
import { TrainKernels } from "../src/train/kernels.ts";
import { prepareLinear } from "../src/train/linear.ts";
import type { FeatureLoss } from "../src/train/loss.ts";
import { useTrainKernels } from "../src/train/matmul.ts";
import { buildTrainModel, modelForward, modelLinears, type TrainModel } from "../src/train/model.ts";
import { crossEntropy } from "../src/train/loss-ce.ts";
import { embeddingForward } from "../src/train/ops/embedding.ts";
import { ropeTable } from "../src/train/ops/rope.ts";
import { loadFloatModel } from "../src/train/teacher.ts";

const argv = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] ? argv[i + 1]! : def;
};
const runs = opt("runs", "off:5e-3:200,mse:5e-3:200,off:1e-3:200,mse:1e-3:200").split(",");
const shared = new URL("../../shared/", import.meta.url);
const teacherBytes = new Uint8Array(readFileSync(new URL("models/stories260K.gguf", shared)));
const valid = readFileSync(new URL("corpus/tinystories-valid-a.txt", shared), "utf8");
const evalText = valid.slice(0, Number(opt("eval-chars", "100000")));
const float = await loadFloatModel(bytesSource(teacherBytes));
const tokenizer = tokenizerFromGguf(float.header.metadata);
const tokens = Int32Array.from(tokenizer.encode(readFileSync(new URL("corpus/tinystories-train-2MiB.txt", shared), "utf8"), { addBos: true }));
// Held-out windows for the per-block figures: 16 windows of 64 tokens from text past the scored part.
const SEQ = 64;
const held = Int32Array.from(tokenizer.encode(valid.slice(200_000, 220_000), { addBos: true })).slice(0, 16 * SEQ);
useTrainKernels(await TrainKernels.create({ threads: 1 }));
const teacher = buildTrainModel(float.config, float.tensors, { precision: "f32" });
const rope = ropeTable(float.config.rope, SEQ);
const d = float.config.dim;

/**
 * Perplexity by the training forward (f32 activations, every token of windows of SEQ scored), where the
 * engine quantizes a DLT matrix's input to int8 per group: what training sees of the same student.
 */
const scoredTokens = Int32Array.from(tokenizer.encode(evalText, { addBos: true }));
function trainingForwardPpl(m: TrainModel): number {
  for (const lin of modelLinears(m)) prepareLinear(lin);
  const windows = Math.floor((scoredTokens.length - 1) / SEQ);
  let nll = 0;
  for (let w0 = 0; w0 < windows; w0 += 16) {
    const count = Math.min(16, windows - w0);
    const inputs = scoredTokens.slice(w0 * SEQ, (w0 + count) * SEQ);
    const targets = scoredTokens.slice(w0 * SEQ + 1, (w0 + count) * SEQ + 1);
    nll += crossEntropy(modelForward(m, inputs, rope).logits!, targets, m.config.vocabSize).loss * count;
  }
  return Math.exp(nll / windows);
}
console.log(`teacher: ppl by the training forward (windows of ${SEQ}, every token) ${trainingForwardPpl(teacher).toFixed(2)}`);

/** Per block, on the held-out windows: mean cos(h_s, h_t), mean |h_s|/|h_t|, and both for the block's contribution. */
function perBlock(student: TrainModel): string[] {
  for (const b of student.blocks) for (const lin of blockLinears(b)) prepareLinear(lin);
  const n = held.length;
  let xs = embeddingForward(student.embedding.value, held, d);
  let xt = embeddingForward(teacher.embedding.value, held, d);
  const lines: string[] = [];
  for (let l = 0; l < student.blocks.length; l++) {
    const hs = blockForward(student.config, student.blocks[l]!, xs, n, rope).out;
    const ht = blockForward(teacher.config, teacher.blocks[l]!, xt, n, rope).out;
    let cos = 0;
    let ratio = 0;
    let dcos = 0;
    let dratio = 0;
    for (let t = 0; t < n; t++) {
      let ss = 0;
      let tt = 0;
      let st = 0;
      let ds = 0;
      let dt = 0;
      let dst = 0;
      for (let i = 0; i < d; i++) {
        const a = hs[t * d + i]!;
        const b = ht[t * d + i]!;
        const da = a - xs[t * d + i]!;
        const db = b - xt[t * d + i]!;
        ss += a * a;
        tt += b * b;
        st += a * b;
        ds += da * da;
        dt += db * db;
        dst += da * db;
      }
      cos += st / Math.sqrt(ss * tt);
      ratio += Math.sqrt(ss / tt);
      dcos += dst / Math.sqrt(ds * dt);
      dratio += Math.sqrt(ds / dt);
    }
    lines.push(`| ${l} | ${(cos / n).toFixed(3)} | ${(ratio / n).toFixed(3)} | ${(dcos / n).toFixed(3)} | ${(dratio / n).toFixed(3)} |`);
    xs = hs;
    xt = ht;
  }
  // At the head: the 5th percentile of the last block's per-token cosine, and KL(teacher ‖ student) of the logits.
  const ft = modelForward(teacher, held, rope);
  const fs = modelForward(student, held, rope);
  const last = student.blocks.length - 1;
  const cosines: number[] = [];
  let kl = 0;
  const V = student.config.vocabSize;
  for (let t = 0; t < n; t++) {
    let ss = 0;
    let tt = 0;
    let st = 0;
    for (let i = 0; i < d; i++) {
      const a = fs.caches[last]!.out[t * d + i]!;
      const b = ft.caches[last]!.out[t * d + i]!;
      ss += a * a;
      tt += b * b;
      st += a * b;
    }
    cosines.push(st / Math.sqrt(ss * tt));
    const logSoftmax = (z: ArrayLike<number>, o: number) => {
      let max = -Infinity;
      for (let i = 0; i < V; i++) max = Math.max(max, z[o + i]!);
      let sum = 0;
      for (let i = 0; i < V; i++) sum += Math.exp(z[o + i]! - max);
      return (i: number) => z[o + i]! - max - Math.log(sum);
    };
    const lt = logSoftmax(ft.logits!, t * V);
    const ls = logSoftmax(fs.logits!, t * V);
    for (let i = 0; i < V; i++) kl += Math.exp(lt(i)) * (lt(i) - ls(i));
  }
  cosines.sort((a, b) => a - b);
  lines.push(
    `last block: 5th percentile of the per-token cosine ${cosines[Math.floor(0.05 * n)]!.toFixed(3)}; KL(teacher ‖ student) of the logits ${(kl / n).toFixed(3)} nats/token`,
  );
  return lines;
}

for (const spec of runs) {
  const [loss = "off", lr = "5e-3", steps = "200"] = spec.split(":");
  const o = resolveFinetuneOptions(
    { dataTokens: tokens, steps: Number(steps), loss: loss as FeatureLoss, lr: Number(lr), seed: 1 },
    float.config.contextLength,
  );
  const student = buildTrainModel(float.config, float.tensors, {
    precision: "f32",
    dlt: { group: 128, refine: true },
    train: { alpha: true, gamma: true, norms: true },
  });
  const run = new BlockwiseRun(student, teacher, tokens, o);
  const losses: number[] = [];
  while (run.step < run.steps) losses.push(run.next().loss);
  const bytes = await writeGgufToBytes(exportStudent(student, float.header, float.tensors, "dlt").input);
  const ppl = (await perplexityOfGguf(bytes, evalText)).ppl;
  const ppl64 = (await perplexityOfGguf(bytes, evalText, { ctx: SEQ })).ppl;
  const pplFloat = trainingForwardPpl(student);
  const blocks = blockLosses(blockwisePlan([o.steps], student.blocks.length), losses)
    .map((b) => `${b.startLoss.toPrecision(3)}→${b.endLoss.toPrecision(3)}`)
    .join(" ");
  console.log(
    `\n${loss.toUpperCase()} lr ${lr}, ${steps} steps: ppl ${ppl.toFixed(2)} (windows of ${SEQ}: ${ppl64.toFixed(2)}; training forward, f32 activations: ${pplFloat.toFixed(2)}); training loss per block ${blocks}`,
  );
  console.log("| block | cos(h_s, h_t) | ‖h_s‖/‖h_t‖ | cos of the contributions | ratio of their norms |\n|---:|---:|---:|---:|---:|");
  console.log(perBlock(student).join("\n"));
}
