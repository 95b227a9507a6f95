// Export of a fine-tuned student: the DLT GGUF loads in ternion's CPU engine and computes what the training
// model computes; --export tq2_0 is exact when shifts are zero and states its error otherwise; the
// baselines of the experiment follow their definitions.
import { beforeAll, describe, expect, it } from "vitest";
import { CpuModel } from "../src/runtime/cpu/model.ts";
import { unpackTq2_0 } from "../src/runtime/tensor-types/ternary-codes.ts";
import { readGgufHeader, readTensorData } from "../src/runtime/gguf/reader.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { bytesSource } from "../src/runtime/gguf/sources.ts";
import type { GgufHeader } from "../src/runtime/gguf/types.ts";
import { writeGgufToBytes } from "../src/runtime/gguf/writer.ts";
import { GgmlType } from "../src/runtime/tensor-types/table.ts";
import { expectedTensors } from "../src/runtime/model/tensors.ts";
import { roundF16 } from "../src/runtime/tensor-types/half.ts";
import { applyBaseline } from "../src/train/baselines.ts";
import { BlockwiseRun } from "../src/train/blockwise-run.ts";
import { exportStudent } from "../src/train/export.ts";
import { beginStep, buildTrainModel, modelForward, modelLinears, type TrainModel } from "../src/train/model.ts";
import { ropeTable } from "../src/train/ops/rope.ts";
import { type FloatModel, loadFloatModel } from "../src/train/teacher.ts";
import { rng } from "./helpers/random.ts";
import { sharedPath } from "./helpers/shared.ts";
import { tinyConfig, tinyTensors } from "./helpers/train-fixtures.ts";

let stories: FloatModel;
beforeAll(async () => {
  const source = await openFileSource(sharedPath("models/stories260K.gguf"));
  try {
    stories = await loadFloatModel(source);
  } finally {
    await source.close();
  }
});

/** The student as the file stores it: α and γ rounded to f16. */
function roundScales(m: TrainModel): void {
  for (const l of modelLinears(m)) {
    if (l.kind !== "dlt") continue;
    for (const v of [l.alpha.value, l.gamma.value]) for (let i = 0; i < v.length; i++) v[i] = roundF16(v[i]!);
  }
}

describe("DLT GGUF export", () => {
  it("loads in the CPU engine, whose logits match the training forward of the trained student", async () => {
    const { config, tensors, header } = stories;
    const teacher = buildTrainModel(config, tensors, { precision: "f32" });
    const student = buildTrainModel(config, tensors, {
      precision: "f32",
      dlt: { group: 64, refine: true },
      train: { alpha: true, gamma: true, norms: true },
    });
    // A few real blockwise steps, so that α, γ and gains differ from their init.
    const r = rng(5);
    const stream = Int32Array.from({ length: 2000 }, () => 3 + Math.floor(r() * 500));
    const run = new BlockwiseRun(student, teacher, stream, {
      steps: 10,
      batch: 2,
      seqLen: 32,
      lr: 5e-3,
      warmup: 1,
      clip: 1,
      weightDecay: 0,
      sampling: "random",
      seed: 3,
      loss: { off: 1, ce: 0, kl: 0 },
      feature: "off",
    });
    while (run.step < run.steps) run.next();
    roundScales(student);

    const bytes = await writeGgufToBytes(exportStudent(student, header, tensors, "dlt").input);
    const file = await readGgufHeader(bytesSource(bytes));
    const q = file.tensors.find((t) => t.name === "blk.0.attn_q.weight")!;
    expect([q.type, q.dims]).toEqual([GgmlType.TQ2_0, [256, 64]]); // rows of 64 padded to one TQ2_0 block
    expect(file.tensors.find((t) => t.name === "blk.0.ffn_down.dlt_alpha")!.dims).toEqual([3, 64]); // 172 = 64 + 64 + 44

    const tokens = Int32Array.from([1, ...Array.from({ length: 47 }, () => 3 + Math.floor(r() * 500))]);
    const model = await CpuModel.load(bytesSource(bytes), { threads: 1, kvType: "f32", contextLength: 64 });
    const engine: Float32Array[] = [];
    try {
      model.eval(tokens, "all", (_j, logits) => engine.push(Float32Array.from(logits)));
    } finally {
      model.dispose();
    }
    for (const l of modelLinears(student)) if (l.kind === "dlt") l.weight.fill(0); // forces a fresh Ŵ below
    beginStep(student);
    const train = modelForward(student, tokens, ropeTable(config.rope, tokens.length)).logits!;
    const teacherLogits = modelForward(teacher, tokens, ropeTable(config.rope, tokens.length)).logits!;
    const init = buildTrainModel(config, tensors, { precision: "f32", dlt: { group: 64, refine: true } });
    beginStep(init);
    const initLogits = modelForward(init, tokens, ropeTable(config.rope, tokens.length)).logits!;

    // The engine quantizes each DLT matmul input to int8 per group of 64 (absmax/127: a relative rounding
    // error of at most 1/254 per value); training does not. Through 5 blocks that leaves logit differences of
    // a few hundredths, far below the student–teacher difference (which is what training changes).
    let maxDiff = 0;
    let sumDiff = 0;
    let sumStudentTeacher = 0;
    let argmaxAgree = 0;
    let sumInit = 0;
    const V = config.vocabSize;
    for (let t = 0; t < tokens.length; t++) {
      let bestE = 0;
      let bestT = 0;
      for (let v = 0; v < V; v++) {
        const d = Math.abs(engine[t]![v]! - train[t * V + v]!);
        maxDiff = Math.max(maxDiff, d);
        sumDiff += d;
        sumStudentTeacher += Math.abs(train[t * V + v]! - teacherLogits[t * V + v]!);
        sumInit += Math.abs(engine[t]![v]! - initLogits[t * V + v]!);
        if (engine[t]![v]! > engine[t]![bestE]!) bestE = v;
        if (train[t * V + v]! > train[t * V + bestT]!) bestT = v;
      }
      if (bestE === bestT) argmaxAgree++;
    }
    const meanDiff = sumDiff / (tokens.length * V);
    const meanStudentTeacher = sumStudentTeacher / (tokens.length * V);
    const meanInit = sumInit / (tokens.length * V);
    console.log(
      `engine vs training logits: max ${maxDiff.toFixed(4)}, mean ${meanDiff.toFixed(5)}; vs the untrained student ${meanInit.toFixed(4)}; ` +
        `student vs teacher ${meanStudentTeacher.toFixed(4)}; argmax agree ${argmaxAgree}/${tokens.length}`,
    );
    expect(meanDiff).toBeLessThan(0.05 * meanStudentTeacher);
    expect(meanDiff).toBeLessThan(0.5 * meanInit); // the trained α, γ and gains are what the engine runs
    expect(maxDiff).toBeLessThan(0.5);
    expect(argmaxAgree).toBeGreaterThanOrEqual(tokens.length - 2);
  });

  it("refuses --export tq2_0 for rows that are not a multiple of 256, naming the tensor", () => {
    const { config, tensors, header } = stories;
    const student = buildTrainModel(config, tensors, { precision: "f32", dlt: { group: 128 } });
    expect(() => exportStudent(student, header, tensors, "tq2_0")).toThrow(/multiple of 256.*blk\.0\.attn_q\.weight has 64/);
  });
});

describe("TQ2_0 export", () => {
  const config = tinyConfig("llama", {
    dim: 256,
    heads: 4,
    kvHeads: 2,
    headDim: 64,
    ffnDim: 256,
    rope: { base: 10000, freqScale: 1, dims: 64, layout: "adjacent" },
  });
  const tensors = tinyTensors(config, 9);
  const header = fakeHeader(config);

  async function tq2Values(bytes: Uint8Array, name: string, rows: number, cols: number): Promise<Float32Array> {
    const src = bytesSource(bytes);
    const h = await readGgufHeader(src);
    const t = h.tensors.find((x) => x.name === name)!;
    expect(t.type).toBe(GgmlType.TQ2_0);
    const { codes, d } = unpackTq2_0(await readTensorData(src, h, t), rows, cols);
    return Float32Array.from(codes, (c, i) => (c - 1) * d[Math.floor(i / 256)]!);
  }

  it("is exact when the shifts are zero and the scale is constant per block (g = 256)", async () => {
    const student = buildTrainModel(config, tensors, { precision: "f32", dlt: { group: 256 } });
    for (const l of modelLinears(student)) if (l.kind === "dlt") l.gamma.value.fill(0);
    roundScales(student);
    const e = exportStudent(student, header, tensors, "tq2_0");
    expect(e.foldError).toBe(0);
    const bytes = await writeGgufToBytes(e.input);
    const l = student.blocks[0]!.up;
    if (l.kind !== "dlt") throw new Error("not DLT");
    const got = await tq2Values(bytes, l.name, l.rows, l.cols);
    for (let i = 0; i < got.length; i++) expect(got[i]).toBe(l.alpha.value[Math.floor(i / 256)]! * l.ternary.codes[i]!);
  });

  it("folds non-zero shifts with least-squares block scales and states the error", async () => {
    const student = buildTrainModel(config, tensors, { precision: "f32", dlt: { group: 128 } });
    const e = exportStudent(student, header, tensors, "tq2_0");
    expect(e.foldError).toBeGreaterThan(0.01);
    expect(e.foldError).toBeLessThan(0.6);
  });
});

describe("baselines", () => {
  it("absmean per tensor and absmax per group follow their definitions", () => {
    const config = tinyConfig("llama");
    const tensors = tinyTensors(config, 4);
    const student = buildTrainModel(config, tensors, { precision: "f32", dlt: { group: 64 } });
    const l = student.blocks[0]!.gate;
    if (l.kind !== "dlt") throw new Error("not DLT");
    const w = tensors.get(l.name)!;
    applyBaseline(l, "absmean-tensor");
    const s = w.reduce((a, b) => a + Math.abs(b), 0) / w.length;
    expect(l.alpha.value.every((a) => Math.abs(a - s) < 1e-6 * s)).toBe(true);
    expect(l.gamma.value.every((g) => g === 0)).toBe(true);
    w.forEach((x, i) => expect(l.ternary.codes[i]).toBe(Math.max(-1, Math.min(1, Math.round(x / l.alpha.value[0]!))) + 0));
    applyBaseline(l, "absmax-group");
    const G = Math.ceil(l.cols / 64);
    for (let r = 0; r < l.rows; r++) {
      const last = w.subarray(r * l.cols + 64, (r + 1) * l.cols); // the short group (36 values)
      expect(l.alpha.value[r * G + 1]).toBe(Math.max(...Array.from(last, Math.abs)));
      expect(Array.from(last).filter((x) => Math.abs(x) === l.alpha.value[r * G + 1]!).length).toBeGreaterThan(0);
    }
    expect(l.ternary.codes.some((c) => c === 0)).toBe(true);
  });
});

/** A header with the metadata the export copies and the tensors in expected order (tiny configs have no file). */
function fakeHeader(config: ReturnType<typeof tinyConfig>): GgufHeader {
  return {
    version: 3,
    metadata: new Map(),
    tensors: expectedTensors(config).map((e) => ({ name: e.name, dims: e.dims, type: GgmlType.F32, offset: 0, byteLength: 0 })),
    alignment: 32,
    dataOffset: 0,
    fileSize: 0,
  } as unknown as GgufHeader;
}
