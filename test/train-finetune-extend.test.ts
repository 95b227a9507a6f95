// What a user sees of a fine-tuning run, and extending a finished one: per-block progress and loss summary in
// the blockwise schedule (each block has its own loss), --resume with more steps than a finished run (another
// pass over the blocks; the full schedule's cosine stretched to the new total), fewer steps refused, and a
// teacher that is ternary already (a warning, not an error).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CheckpointError } from "../src/runtime/errors.ts";
import { readGgufHeader } from "../src/runtime/gguf/reader.ts";
import { bytesSource } from "../src/runtime/gguf/sources.ts";
import type { GgufHeader } from "../src/runtime/gguf/types.ts";
import { writeGgufToBytes } from "../src/runtime/gguf/writer.ts";
import { GgmlType } from "../src/runtime/tensor-types/table.ts";
import { blockLosses, blockwisePlan } from "../src/train/blockwise-plan.ts";
import { type Checkpoint, encodeCheckpoint } from "../src/train/checkpoint.ts";
import { exportStudent } from "../src/train/export.ts";
import { type CheckpointStore, type FinetuneProgress, type FinetuneRunInput, runFinetune } from "../src/train/finetune-run.ts";
import { prepareLinear } from "../src/train/linear.ts";
import { buildTrainModel, modelLinears } from "../src/train/model.ts";
import { loadFloatModel, ternaryTeacher } from "../src/train/teacher.ts";
import { sharedPath } from "./helpers/shared.ts";
import { editHeader } from "./hostile/checkpoint-bytes.ts";

const teacher = new Uint8Array(readFileSync(sharedPath("models/stories260K.gguf")));
const dataText = readFileSync(sharedPath("corpus/tinystories_sample.txt"), "utf8");

/** Keeps every checkpoint saved, by run step; offers the one at `resumeAt` (default: the latest). */
function store(resumeAt?: number): CheckpointStore & { saved: Map<number, Uint8Array> } {
  const saved = new Map<number, Uint8Array>();
  return {
    name: "memory",
    saved,
    load: async () => {
      const step = resumeAt ?? Math.max(...saved.keys());
      return saved.has(step) ? [{ name: `step ${step}`, bytes: async () => saved.get(step)! }] : [];
    },
    save: async (c: Checkpoint, step: number) => void saved.set(step, encodeCheckpoint(c)),
  };
}

/** A store that offers these bytes and keeps what the run saves. */
function from(bytes: Uint8Array): CheckpointStore & { saved: Map<number, Uint8Array> } {
  const s = store();
  s.saved.set(-1, bytes);
  return { ...s, load: async () => [{ name: "given", bytes: async () => bytes }] };
}

const run = (o: Partial<FinetuneRunInput>): FinetuneRunInput => ({
  teacher,
  dataText,
  steps: 10,
  mode: "blockwise",
  group: 64,
  batch: 2,
  seqLen: 16,
  seed: 5,
  checkpointEvery: 10,
  ...o,
});

const bytesOf = async (r: Awaited<ReturnType<typeof runFinetune>>) => Buffer.from(await writeGgufToBytes(r.student));

describe("blockwise progress and summary", () => {
  it("reports each step against its own block's first loss, and each block's first and last loss", async () => {
    const progress: FinetuneProgress[] = [];
    const r = await runFinetune(run({ steps: 12, checkpointEvery: 0 }), { onProgress: (p) => progress.push(p) });
    // stories260K has 5 blocks: 12 steps are 3, 3, 2, 2, 2.
    expect(progress.map((p) => p.block)).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 4, 4]);
    expect(progress.map((p) => p.blockStep)).toEqual([1, 2, 3, 1, 2, 3, 1, 2, 1, 2, 1, 2]);
    expect(progress.map((p) => p.blockSteps)).toEqual([3, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2]);
    for (const p of progress) {
      expect(p).toMatchObject({ blocks: 5, round: 0 });
      const first = progress.find((q) => q.block === p.block)!;
      expect(p.blockStartLoss).toBe(first.loss);
      expect(p.relativeLoss).toBe(p.loss / first.loss);
    }
    // The raw loss climbs from block to block (each has its own target): what made a run read as diverging.
    expect(progress[10]!.loss).toBeGreaterThan(progress[0]!.loss);
    expect(r.blockLosses).toEqual(
      [0, 1, 2, 3, 4].map((b) => {
        const mine = progress.filter((p) => p.block === b);
        const [first, last] = [mine[0]!.loss, mine.at(-1)!.loss];
        return { round: 0, block: b, stepsDone: mine.length, steps: mine.length, startLoss: first, endLoss: last, change: last / first - 1 };
      }),
    );
    expect(r.teacherTernary).toBe(false);
    expect(r.warnings).toEqual([]);
    // The chart: one curve per block, with the legend saying what the curves are.
    expect(r.lossCurveSvg.match(/class="block-curve"/g)).toHaveLength(5);
    expect(r.lossCurveSvg).toContain("loss ÷ its block's loss at the block's first step");
  });

  it("the full schedule has one loss over the run: no block fields", async () => {
    const progress: FinetuneProgress[] = [];
    const r = await runFinetune(run({ steps: 2, mode: "full", checkpointEvery: 0 }), { onProgress: (p) => progress.push(p) });
    expect(progress[0]!.block).toBeUndefined();
    expect(progress[0]!.relativeLoss).toBeUndefined();
    expect(r.blockLosses).toBeUndefined();
    expect(r.lossCurveSvg).not.toContain("block-curve");
  });

  it("blockLosses of a plan with rounds, and of a run stopped inside a block", () => {
    const plan = blockwisePlan([4, 3], 3);
    expect(plan.map((p) => [p.round, p.block, p.from, p.steps])).toEqual([
      [0, 0, 0, 2],
      [0, 1, 2, 1],
      [0, 2, 3, 1],
      [1, 0, 4, 1],
      [1, 1, 5, 1],
      [1, 2, 6, 1],
    ]);
    expect(blockLosses(plan, [4, 2, 8, 9, 3]).map((b) => [b.round, b.block, b.stepsDone, b.change])).toEqual([
      [0, 0, 2, -0.5],
      [0, 1, 1, 0],
      [0, 2, 1, 0],
      [1, 0, 1, 0],
    ]);
  });
});

describe("extending a finished run (--resume with more steps)", () => {
  for (const mode of ["blockwise", "full"] as const) {
    it(`${mode}: continues it deterministically, keeping its history, and resumes inside the extension to the same bytes`, async () => {
      const first = store();
      const done = await runFinetune(run({ mode, steps: mode === "full" ? 3 : 10, checkpointEvery: mode === "full" ? 3 : 10, checkpoints: first }));
      const finished = first.saved.get(done.steps)!;
      expect(finished).toBeInstanceOf(Uint8Array);
      const total = done.steps + (mode === "full" ? 2 : 7);

      const extended = await runFinetune({ ...run({ mode, steps: total, checkpointEvery: 1 }), checkpoints: from(finished), resume: true });
      expect(extended.losses).toHaveLength(total);
      expect(extended.losses.slice(0, done.steps)).toEqual(done.losses);
      expect((await bytesOf(extended)).equals(await bytesOf(done))).toBe(false);
      if (mode === "blockwise") {
        // The 7 extra steps are a second pass: 2, 2, 1, 1, 1 over blocks 0…4.
        const second = extended.blockLosses!.filter((b) => b.round === 1);
        expect(second.map((b) => [b.block, b.steps])).toEqual([
          [0, 2],
          [1, 2],
          [2, 1],
          [3, 1],
          [4, 1],
        ]);
      }

      // Interrupted inside the extension and resumed: the same student, the same history.
      const midway = store(done.steps + 1);
      await runFinetune({ ...run({ mode, steps: total, checkpointEvery: 1 }), checkpoints: { ...from(finished), save: midway.save }, resume: true });
      const resumed = await runFinetune({ ...run({ mode, steps: total, checkpointEvery: 1 }), checkpoints: midway, resume: true });
      expect(resumed.losses).toEqual(extended.losses);
      expect((await bytesOf(resumed)).equals(await bytesOf(extended))).toBe(true);
      // And the extension's own checkpoint extends again.
      const again = await runFinetune({
        ...run({ mode, steps: total + 2, checkpointEvery: 0 }),
        checkpoints: from(midway.saved.get(total)!),
        resume: true,
      });
      expect(again.losses.slice(0, total)).toEqual(extended.losses);
      if (mode === "blockwise") {
        // Its rounds must add up to its steps, each a positive count.
        for (const rounds of ["[10,6]", "[17,0]", "[17]x", "3"]) {
          const bad = editHeader(midway.saved.get(total)!, (h) => void (h.meta.rounds = rounds));
          await expect(runFinetune({ ...run({ mode, steps: total, checkpointEvery: 0 }), checkpoints: from(bad), resume: true })).rejects.toSatisfy(
            (e) => e instanceof CheckpointError && /its rounds .* are not positive step counts adding up to its 17 steps/.test(e.message),
          );
        }
      }
    });
  }

  it("refuses fewer steps than the checkpoint's run, and more steps for a run that is not finished", async () => {
    const s = store();
    await runFinetune(run({ steps: 10, checkpointEvery: 4, checkpoints: s }));
    const resume = (steps: number, at: number) => runFinetune({ ...run({ steps }), checkpoints: from(s.saved.get(at)!), resume: true });
    await expect(resume(6, 10)).rejects.toSatisfy(
      (e) => e instanceof CheckpointError && /its run has 10 steps \(10 done\), more than the 6 asked for/.test(e.message),
    );
    await expect(resume(9, 4)).rejects.toSatisfy((e) => e instanceof CheckpointError && /its run has 10 steps \(4 done\)/.test(e.message));
    await expect(resume(14, 8)).rejects.toSatisfy(
      (e) => e instanceof CheckpointError && /its run of 10 steps is at step 8: resume with 10 steps to finish it first/.test(e.message),
    );
    // Other options than the steps are still refused by name.
    await expect(runFinetune({ ...run({ steps: 14, seed: 6 }), checkpoints: from(s.saved.get(10)!), resume: true })).rejects.toSatisfy(
      (e) => e instanceof CheckpointError && /other options: steps 10 there, 14 here; seed 5 there, 6 here/.test(e.message),
    );
  });
});

describe("a teacher that is ternary already", () => {
  it("trains with a warning (onNotice, warnings, teacherTernary): a DLT student as the teacher, decoded to α·(code − 1) + γ", async () => {
    const student = await runFinetune(run({ steps: 5, checkpointEvery: 0 }));
    const dltBytes = await writeGgufToBytes(student.student);
    const notices: string[] = [];
    const r = await runFinetune(run({ teacher: dltBytes, steps: 5, checkpointEvery: 0 }), { onNotice: (m) => notices.push(m) });
    expect(r.teacherTernary).toBe(true);
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/^warning: the teacher is ternary already \(it is a DLT student \(ternion\.dlt\.group_size is set\)\)/);
    expect(notices).toEqual(r.warnings);
    expect(r.losses.every(Number.isFinite)).toBe(true);
  });

  it("a DLT file decodes to the matrices its student had (f16 α and γ), and the float view has no α/γ tensors", async () => {
    const float = await loadFloatModel(bytesSource(teacher));
    const model = buildTrainModel(float.config, float.tensors, { precision: "f32", dlt: { group: 64, refine: true } });
    const bytes = await writeGgufToBytes(exportStudent(model, float.header, float.tensors, "dlt").input);
    const decoded = await loadFloatModel(bytesSource(bytes));
    expect(decoded.header.tensors.some((t) => t.name.endsWith(".dlt_alpha"))).toBe(false);
    expect(decoded.header.metadata.has("ternion.dlt.group_size")).toBe(false);
    for (const lin of modelLinears(model)) {
      prepareLinear(lin);
      const got = decoded.tensors.get(lin.name)!;
      expect(got, lin.name).toHaveLength(lin.rows * lin.cols);
      let worst = 0;
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i]! - lin.weight[i]!));
      expect(worst, lin.name).toBeLessThan(2e-3);
    }
  });

  it("ternaryTeacher names TQ1_0/TQ2_0/I2_S matrices and DLT students, and nothing for float models", async () => {
    const header = await readGgufHeader(bytesSource(teacher));
    expect(ternaryTeacher(header)).toBeUndefined();
    const ternary: GgufHeader = { ...header, tensors: header.tensors.map((t, i) => (i === 3 ? { ...t, type: GgmlType.TQ2_0 } : t)) };
    expect(ternaryTeacher(ternary)).toBe(`1 of its ${header.tensors.length} tensors are TQ2_0`);
    const i2s: GgufHeader = {
      ...header,
      tensors: header.tensors.map((t) => (t.name.startsWith("blk.") && t.dims.length === 2 ? { ...t, type: GgmlType.I2_S } : t)),
    };
    expect(ternaryTeacher(i2s)).toMatch(/^\d+ of its \d+ tensors are I2_S$/);
  });
});
