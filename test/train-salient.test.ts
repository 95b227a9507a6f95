// finetune --salient (issue 18): PB-LLM's salient weights in a DLT student. They are kept out of the ternary
// groups' statistics, frozen ones do not move and trained ones do, the export carries the four side tensors with
// the trained values (to int8), a resumed run equals an uninterrupted one, and bad options are typed errors. A
// teacher that has side matrices itself is decoded with them, and they do not leak into the student.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { BlockwiseRun } from "../src/train/blockwise-run.ts";
import { decodeCheckpoint, encodeCheckpoint, sealCheckpoint } from "../src/train/checkpoint.ts";
import { dltInit } from "../src/train/dlt.ts";
import { exportStudent, studentSalientMatrix } from "../src/train/export.ts";
import { type CheckpointStore, type FinetuneRunInput, resolveFinetuneOptions, runFinetune } from "../src/train/finetune-run.ts";
import { writeGgufToBytes } from "../src/runtime/gguf/writer.ts";
import { sharedPath } from "./helpers/shared.ts";
import { FullRun } from "../src/train/full-run.ts";
import { type DltLinear, dltLinear, finishLinear, prepareLinear } from "../src/train/linear.ts";
import { type BuildOptions, buildTrainModel, modelLinears, type TrainModel } from "../src/train/model.ts";
import type { TrainingRun } from "../src/train/run.ts";
import { type SalientOptions, salientMask } from "../src/train/salient.ts";
import { CheckpointError, OptionError } from "../src/runtime/errors.ts";
import { salientNames } from "../src/runtime/model/tensors.ts";
import { readSalientMatrix, salientMatrixInfo } from "../src/runtime/model/salient-file.ts";
import { addSalientToDense } from "../src/runtime/convert/salient-matrix.ts";
import { planQuantize } from "../src/runtime/convert/quantize.ts";
import { readGgufHeader, readTensorData } from "../src/runtime/gguf/reader.ts";
import { bytesSource } from "../src/runtime/gguf/sources.ts";
import { loadFloatModel } from "../src/train/teacher.ts";
import { roundF16 } from "../src/runtime/tensor-types/half.ts";
import type { GgufHeader } from "../src/runtime/gguf/types.ts";
import { snapshot, tinyRunOptions } from "./helpers/train-runs.ts";
import { keepingStep, offering, stories260KRun } from "./helpers/finetune-runs.ts";
import { randomTokens, tinyConfig, tinyTensors } from "./helpers/train-fixtures.ts";

const options = tinyRunOptions({ steps: 9 });
const config = tinyConfig("llama", { layers: 3 });
const tensors = tinyTensors(config, 41);
const stream = randomTokens(600, config.vocabSize, 42);
const teacher = buildTrainModel(config, tensors, { precision: "f32" });

function build(mode: "blockwise" | "full", salient: SalientOptions): TrainModel {
  const dlt: BuildOptions["dlt"] = {
    group: 64,
    refine: true,
    salient: { mask: (name, w, rows, cols) => salientMask(name, w, rows, cols, salient), train: salient.train },
  };
  const train = mode === "full" ? { matrices: true, alpha: true, gamma: true, norms: true } : { alpha: true, gamma: true, norms: true };
  return buildTrainModel(config, tensors, { precision: "f32", dlt, train });
}

function make(mode: "blockwise" | "full", salient: SalientOptions): { run: TrainingRun; student: TrainModel } {
  const student = build(mode, salient);
  const run = mode === "blockwise" ? new BlockwiseRun(student, teacher, stream, options, 3) : new FullRun(student, teacher, stream, options);
  return { run, student };
}

const dltLayers = (m: TrainModel) => modelLinears(m).filter((l): l is DltLinear => l.kind === "dlt");
const TRAINED: SalientOptions = { fraction: 0.02, metric: "magnitude", train: true };
const FROZEN: SalientOptions = { ...TRAINED, train: false };

describe("salient weights in the DLT init", () => {
  it("leaves them out of γ, Δ and α: their values do not change the groups, and their code is 0", () => {
    const rows = 3;
    const cols = 100; // groups of 64 + 36
    const w = Float64Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 1.7) * 0.3 + 0.01 * (i % 7));
    const exclude = new Uint8Array(rows * cols);
    for (const i of [5, 70, 99, 130, 250]) exclude[i] = 1;
    const other = Float64Array.from(w);
    for (let i = 0; i < w.length; i++) if (exclude[i]) (w[i] = 40), (other[i] = -3);
    for (const refine of [false, true]) {
      const a = dltInit(w, { rows, cols, group: 64 }, "f64", refine, exclude);
      const b = dltInit(other, { rows, cols, group: 64 }, "f64", refine, exclude);
      expect(Array.from(a.alpha)).toEqual(Array.from(b.alpha));
      expect(Array.from(a.gamma)).toEqual(Array.from(b.gamma));
      expect(Array.from(a.codes)).toEqual(Array.from(b.codes));
      for (let i = 0; i < w.length; i++) if (exclude[i]) expect(a.codes[i]).toBe(0);
    }
    // γ without refinement is the mean of the kept weights of the group (row 0, group 0 holds position 5)
    const a = dltInit(w, { rows, cols, group: 64 }, "f64", false, exclude);
    let sum = 0;
    for (let c = 0; c < 64; c++) if (c !== 5) sum += w[c]!;
    expect(a.gamma[0]).toBeCloseTo(sum / 63, 12);
  });

  it("keeps the chosen share of each matrix, the teacher's largest weights, as its parameters", () => {
    const student = build("blockwise", TRAINED);
    for (const l of dltLayers(student)) {
      const s = l.salient!;
      expect(s.positions.length).toBe(Math.round(0.02 * l.rows * l.cols));
      const w = tensors.get(l.name)!;
      const smallestKept = Math.min(...Array.from(s.positions, (i) => Math.abs(w[i]!)));
      const largestLeft = Math.max(...Array.from(w, (x, i) => (s.mask[i] ? 0 : Math.abs(x))));
      expect(smallestKept).toBeGreaterThanOrEqual(largestLeft);
      expect(Array.from(s.values.value)).toEqual(Array.from(s.positions, (i) => w[i]!));
    }
  });
});

describe("training with salient weights", () => {
  it("∂L/∂Ŵ at a salient position goes to its kept weight only, not to γ, α or the latent weight", () => {
    const rows = 2;
    const cols = 70;
    const w = Float64Array.from({ length: rows * cols }, (_, i) => Math.cos(i * 0.9));
    const mask = new Uint8Array(rows * cols);
    for (const i of [3, 66, 100]) mask[i] = 1;
    const l = dltLinear("m", w, rows, cols, "f64", { group: 64, train: { alpha: true, gamma: true, latent: true }, salient: { mask, train: true } });
    prepareLinear(l);
    const g = Float64Array.from({ length: rows * cols }, (_, i) => ((i * 37) % 11) - 5);
    l.gradWeight!.set(g);
    finishLinear(l);
    expect(Array.from(l.salient!.values.grad)).toEqual([g[3], g[66], g[100]]);
    // γ of row 0's first group: Σ over its non-salient positions
    let sum = 0;
    for (let c = 0; c < 64; c++) if (c !== 3) sum += g[c]!;
    expect(l.gamma.grad[0]).toBe(sum);
    for (const i of [3, 66, 100]) expect(l.latent.grad[i]).toBe(0);
  });

  for (const mode of ["blockwise", "full"] as const) {
    it(`${mode}: frozen ones stay the teacher's, trained ones move, and Ŵ holds them`, () => {
      const frozen = make(mode, FROZEN);
      const trained = make(mode, TRAINED);
      for (const r of [frozen, trained]) while (r.run.step < r.run.steps) r.run.next();
      let moved = 0;
      for (const [l, k] of dltLayers(frozen.student).map((l, j) => [l, dltLayers(trained.student)[j]!] as const)) {
        const w = tensors.get(l.name)!;
        expect(Array.from(l.salient!.values.value)).toEqual(Array.from(l.salient!.positions, (i) => w[i]!));
        for (let e = 0; e < k.salient!.positions.length; e++) if (k.salient!.values.value[e] !== w[k.salient!.positions[e]!]) moved++;
        for (const m of [l, k]) {
          prepareLinear(m); // Ŵ of the values after the last update
          m.salient!.positions.forEach((i, e) => {
            expect(m.ternary.codes[i]).toBe(0);
            expect(m.weight[i]).toBe(m.salient!.values.value[e]);
          });
        }
      }
      const total = dltLayers(trained.student).reduce((a, l) => a + l.salient!.positions.length, 0);
      expect(moved).toBeGreaterThan(total / 2);
    });

    it(`${mode}: resumed from a checkpoint at any step, ends with the bytes of an uninterrupted run`, () => {
      const straight = make(mode, TRAINED);
      while (straight.run.step < straight.run.steps) straight.run.next();
      for (const at of [2, 3, 7]) {
        const first = make(mode, TRAINED);
        while (first.run.step < at) first.run.next();
        const c = first.run.checkpoint();
        expect([...c.tensors.keys()].filter((k) => k.startsWith("salient:")).length).toBe(dltLayers(first.student).length);
        const second = make(mode, TRAINED);
        second.run.restore(decodeCheckpoint(encodeCheckpoint(c)));
        while (second.run.step < second.run.steps) second.run.next();
        expect(snapshot(second.student)).toBe(snapshot(straight.student));
      }
    });
  }

  it("a checkpoint whose salient mask does not fit is refused before anything changes", () => {
    const first = make("full", TRAINED);
    first.run.next();
    const bytes = encodeCheckpoint(first.run.checkpoint());
    const c = decodeCheckpoint(bytes);
    const name = [...c.tensors.keys()].find((k) => k.startsWith("salient:"))!;
    const mask = c.tensors.get(name) as Int8Array;
    // one more salient weight than the model keeps
    mask[mask.indexOf(0)] = 1;
    const second = make("full", TRAINED);
    const before = snapshot(second.student);
    expect(() => second.run.restore(decodeCheckpoint(sealCheckpoint(encodeCheckpoint(c))))).toThrow(CheckpointError);
    expect(() => second.run.restore(c)).toThrow(/marks \d+ salient weights, the model keeps/);
    expect(snapshot(second.student)).toBe(before);
    // a salient position moved elsewhere: the restored mask is the checkpoint's, positions follow it
    const moved = decodeCheckpoint(bytes);
    const m = moved.tensors.get(name) as Int8Array;
    const from = m.indexOf(1);
    const codes = moved.tensors.get(`codes:${name.slice("salient:".length)}`) as Int8Array;
    const to = codes.findIndex((v, i) => v === 0 && m[i] === 0);
    m[from] = 0;
    m[to] = 1;
    const third = make("full", TRAINED);
    third.run.restore(moved);
    const l = dltLayers(third.student).find((x) => `salient:${x.name}` === name)!;
    expect(Array.from(l.salient!.positions)).toContain(to);
    expect(Array.from(l.salient!.positions)).not.toContain(from);
  });
});

describe("export of a student with salient weights", () => {
  const header: GgufHeader = {
    version: 3,
    metadata: new Map(),
    tensors: [...tensors.keys()].map((name) => ({ name, dims: [], type: 0, offset: 0n })) as unknown as GgufHeader["tensors"],
  } as unknown as GgufHeader;

  it("dlt: the four side tensors hold decode + S = the trained kept weight (int8 per row)", () => {
    const { run, student } = make("full", TRAINED);
    while (run.step < 4) run.next();
    const byName = new Map(exportStudent(student, header, tensors, "dlt").input.tensors.map((t) => [t.name, t] as const));
    for (const l of dltLayers(student)) {
      const names = salientNames(l.name);
      const [rowsT, idxT, valT, scaleT] = [names.rows, names.idx, names.val, names.scale].map((n) => byName.get(n)!.data as Uint8Array);
      expect(byName.get(names.rows)!.dims).toEqual([l.rows + 1]);
      const nnz = l.salient!.positions.length;
      expect(byName.get(names.idx)!.dims).toEqual([nnz]);
      expect(byName.get(names.val)!.dims).toEqual([nnz]);
      expect(byName.get(names.scale)!.dims).toEqual([l.rows]);
      const dv = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);
      const rowStart = Array.from({ length: l.rows + 1 }, (_, r) => dv(rowsT!).getInt32(4 * r, true));
      const G = Math.ceil(l.cols / l.group);
      for (let r = 0; r < l.rows; r++) {
        const scale = dv(scaleT!).getFloat32(4 * r, true);
        for (let e = rowStart[r]!; e < rowStart[r + 1]!; e++) {
          const c = dv(idxT!).getUint16(2 * e, true);
          const q = dv(valT!).getInt8(e);
          const at = l.salient!.positions.indexOf(r * l.cols + c);
          expect(at).toBe(e);
          const kept = l.salient!.values.value[e]!;
          const decoded = roundF16(l.ternary.gamma[r * G + Math.floor(c / l.group)]!) + scale * q;
          expect(Math.abs(decoded - kept)).toBeLessThanOrEqual(scale / 2 + 1e-6);
        }
      }
      expect(rowStart[l.rows]).toBe(nnz);
    }
  });
});

describe("the side matrix against each export format", () => {
  it("S is the kept weight less what the ternary part decodes to there: F16 γ (dlt), 0 (tq2_0)", () => {
    const rows = 2;
    const cols = 256;
    const w = Float64Array.from({ length: rows * cols }, (_, i) => Math.sin(i * 0.37) + 0.2);
    const mask = new Uint8Array(rows * cols);
    for (const i of [7, 300]) mask[i] = 1;
    w[7] = 3;
    w[300] = -2.5;
    const l = dltLinear("m", w, rows, cols, "f32", {
      group: 128,
      train: { alpha: true, gamma: true, latent: false },
      salient: { mask, train: false },
    });
    const tq2 = studentSalientMatrix(l, "tq2_0")!;
    const dlt = studentSalientMatrix(l, "dlt")!;
    const value = (s: typeof tq2, r: number) => s.scale[r]! * s.val[s.rowStart[r]!]!;
    expect(value(tq2, 0)).toBeCloseTo(3, 1);
    expect(value(tq2, 1)).toBeCloseTo(-2.5, 1);
    expect(value(dlt, 0) + roundF16(l.ternary.gamma[0]!)).toBeCloseTo(3, 1);
    expect(value(dlt, 1) + roundF16(l.ternary.gamma[2 + 0]!)).toBeCloseTo(-2.5, 1);
    expect(Math.abs(l.ternary.gamma[0]!)).toBeGreaterThan(0.05); // so the two formats' S differ
  });
});

describe("salient options", () => {
  const base = { steps: 4, dataText: "x" };
  it("bad fractions and metrics are typed errors naming the option", () => {
    for (const bad of [0, -0.01, 0.3, Number.NaN]) {
      expect(() => resolveFinetuneOptions({ ...base, salient: bad }, 64)).toThrow(OptionError);
    }
    expect(() => resolveFinetuneOptions({ ...base, salient: 0.01, salientMetric: "random" as never }, 64)).toThrow(/salient metric/);
    expect(() => resolveFinetuneOptions({ ...base, salientTrain: false }, 64)).toThrow(/need salient/);
  });

  it("the resolved options record P, the metric and training, so a checkpoint of other values is refused", () => {
    const a = resolveFinetuneOptions({ ...base, salient: 0.01 }, 64);
    expect(a.salient).toEqual({ fraction: 0.01, metric: "magnitude", train: true });
    const b = resolveFinetuneOptions({ ...base, salient: 0.01, salientMetric: "hessian", salientTrain: false }, 64);
    expect(JSON.stringify(b)).not.toBe(JSON.stringify(a));
    expect(resolveFinetuneOptions(base, 64).salient).toBeUndefined();
  });
});

const dataText = readFileSync(sharedPath("corpus/tinystories_sample.txt"), "utf8");

describe("runFinetune --salient (stories260K, in memory)", () => {
  const input = (o: Partial<FinetuneRunInput>, store: CheckpointStore) => stories260KRun({ salient: 0.01, ...o }, store);
  it("a resume continues to the bytes of a straight run, and a resume with another P, metric or training is refused by name", async () => {
    const recording = keepingStep(3);
    const straight = await runFinetune(input({}, recording));
    const names = straight.student.tensors.map((t) => t.name);
    for (const n of Object.values(salientNames("blk.0.attn_q.weight"))) expect(names).toContain(n);
    const offered = offering(recording.kept());
    const resumed = await runFinetune(input({ resume: true }, offered));
    expect(Buffer.from(await writeGgufToBytes(resumed.student)).equals(Buffer.from(await writeGgufToBytes(straight.student)))).toBe(true);
    for (const [change, named] of [
      [{ salient: 0.02 }, /salient \{"fraction":0.01,"metric":"magnitude","train":true\} there, \{"fraction":0.02,/],
      [{ salientTrain: false }, /"train":false/],
      [{ salientMetric: "hessian" as const }, /"metric":"hessian"/],
      [{ salient: undefined }, /salient \{.*\} there, absent here/],
    ] as const) {
      await expect(runFinetune(input({ ...change, resume: true }, offered))).rejects.toMatchObject({
        code: "BAD_CHECKPOINT",
        message: expect.stringMatching(named),
      });
    }
  });
});

describe("a teacher with side matrices (a quantize --salient file)", () => {
  it("is decoded as Ŵ + S, and its four side tensors stay out of the teacher's header and the student", async () => {
    const floatBytes = new Uint8Array(readFileSync(sharedPath("models/stories260K.gguf")));
    const floatSource = bytesSource(floatBytes);
    const plan = planQuantize(floatSource, await readGgufHeader(floatSource), { type: "tq2_0", salient: { fraction: 0.02 } });
    const salientBytes = await writeGgufToBytes(plan.input);
    const source = bytesSource(salientBytes);
    const header = await readGgufHeader(source);
    const isSide = (name: string) => /\.salient_(rows|idx|val|scale)$/.test(name);
    expect(header.tensors.filter((t) => isSide(t.name))).toHaveLength(35 * 4);
    // the same file without its side tensors, decoded by the same loader: Ŵ alone
    const bare = await writeGgufToBytes({
      version: header.version,
      metadata: header.metadata,
      tensors: header.tensors
        .filter((t) => !isSide(t.name))
        .map((t) => ({ name: t.name, dims: t.dims, type: t.type, data: async () => readTensorData(source, header, t) })),
    });
    const ternaryOnly = await loadFloatModel(bytesSource(bare));
    const teacher = await loadFloatModel(source);
    expect(teacher.header.tensors.filter((t) => isSide(t.name))).toEqual([]);
    expect([...teacher.tensors.keys()].filter(isSide)).toEqual([]);
    let moved = 0;
    for (const name of ["blk.0.attn_q.weight", "blk.4.ffn_down.weight"]) {
      const info = header.tensors.find((t) => t.name === name)!;
      const rows = info.dims[1]!;
      const cols = ternaryOnly.tensors.get(name)!.length / rows; // the true row length (a DLT matrix's codes are padded)
      const side = await readSalientMatrix(source, header, salientMatrixInfo(new Map(header.tensors.map((t) => [t.name, t])), info, rows, cols)!);
      const want = Float64Array.from(ternaryOnly.tensors.get(name)!);
      addSalientToDense(side, want);
      const got = teacher.tensors.get(name)!;
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1e-6 * Math.abs(want[i]!) + 1e-12);
      moved += got.filter((v, i) => v !== ternaryOnly.tensors.get(name)![i]).length;
    }
    expect(moved).toBeGreaterThan(0);
    const run = await runFinetune({ teacher: salientBytes, dataText, steps: 2, mode: "full", group: 64, batch: 1, seqLen: 16, seed: 3 });
    expect(run.student.tensors.filter((t) => isSide(t.name))).toEqual([]);
    expect(run.teacherTernary).toBe(true);
    // side tensors beside the output head (only a block's matrices take one) are refused, as the runtime refuses them
    const besideHead = await writeGgufToBytes({
      version: header.version,
      metadata: header.metadata,
      tensors: header.tensors.map((t) => ({
        name: t.name.replace(/^blk\.0\.attn_q\.salient_/, "output.salient_"),
        dims: t.dims,
        type: t.type,
        data: async () => readTensorData(source, header, t),
      })),
    });
    await expect(loadFloatModel(bytesSource(besideHead))).rejects.toMatchObject({ code: "UNSUPPORTED_SALIENT_MATRIX" });
  });
});
