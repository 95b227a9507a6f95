// Every check a checkpoint passes before a resume (src/train/checkpoint.ts, the runs' restore), one test each on a
// tiny model: a damaged or inconsistent file is CheckpointError BAD_CHECKPOINT naming what is wrong, and a
// failed restore leaves the run as it was. A fuzzer of random mutations: every one resumes to the clean run's
// bytes or is refused. (The origin checks — teacher, data, options — are in train-finetune-memory.test.ts; the
// corpus through the built library and CLI in hostile-checkpoints.test.ts.)
import fc from "fast-check";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CheckpointError } from "../src/runtime/errors.ts";
import { decodeCheckpoint, encodeCheckpoint } from "../src/train/checkpoint.ts";
import { fileCheckpointStore, previousCheckpointPath } from "../src/train/checkpoint-file.ts";
import { crossEntropy } from "../src/train/loss-ce.ts";
import { embeddingForward } from "../src/train/ops/embedding.ts";
import type { RunOptions } from "../src/train/run.ts";
import { asVersion1, assembleCheckpoint, editHeader, editTensor, type Header, splitCheckpoint } from "./hostile/checkpoint-bytes.ts";
import { checkpointMutation } from "./hostile/checkpoint-cases.ts";
import { type MakeRun, snapshot, tinyRunOptions, tinyRuns } from "./helpers/train-runs.ts";

const options = tinyRunOptions({ steps: 7 });
const { stream, blockwise, full } = tinyRuns({ tensors: 41, stream: 42, streamLength: 300 }, options, 2);
type Make = MakeRun;

/** A checkpoint of `make`'s run after `at` steps (blockwise at 3: inside block 1, blocks of 3, 2, 2 steps). */
function checkpointAt(make: Make, at: number): Uint8Array {
  const { run } = make();
  while (run.step < at) run.next();
  return encodeCheckpoint(run.checkpoint());
}

const goodBlockwise = checkpointAt(blockwise, 4);
const goodFull = checkpointAt(full, 3);
const finished = (make: Make) => {
  const { run, student } = make();
  while (run.step < run.steps) run.next();
  return snapshot(student);
};
const cleanBlockwise = finished(blockwise);

const refused = (why: RegExp) => expect.objectContaining({ name: "CheckpointError", code: "BAD_CHECKPOINT", message: expect.stringMatching(why) });
const decode = (bytes: Uint8Array) => () => decodeCheckpoint(bytes);
/** Restores into a fresh run of `make`, which must refuse it and be left fresh (step 0, the initial parameters). */
function expectRestoreRefused(make: Make, bytes: Uint8Array, why: RegExp, o: Partial<RunOptions> = {}): void {
  const fresh = make(o);
  const before = snapshot(fresh.student);
  expect(() => fresh.run.restore(decodeCheckpoint(bytes))).toThrow(refused(why));
  expect(fresh.run.step).toBe(0);
  expect(snapshot(fresh.student) === before).toBe(true);
}

describe("decodeCheckpoint refuses", () => {
  const { header, data } = splitCheckpoint(goodBlockwise);
  it("a file too short for its prefix, of another magic, or of another format version (1: the format before checksums)", () => {
    expect(decode(goodBlockwise.slice(0, 11))).toThrow(refused(/11 bytes, too short for the prefix/));
    expect(decode(goodBlockwise.slice(0, 40))).toThrow(refused(/40 bytes, too short for the 52-byte prefix/));
    const magic = Uint8Array.from(goodBlockwise);
    magic[0] = 0x47;
    expect(decode(magic)).toThrow(refused(/bad magic/));
    expect(decode(asVersion1(goodBlockwise))).toThrow(
      refused(/format version 1 \(written before checkpoints carried a checksum.*this build reads version 2/),
    );
    expect(decode(assembleCheckpoint(header, data, { version: 7 }))).toThrow(refused(/format version 7; this build reads version 2/));
  });

  it("a file whose length is not the prefix's, before allocating anything (huge lengths included)", () => {
    expect(decode(goodBlockwise.slice(0, -1))).toThrow(refused(/the file has \d+ bytes, its prefix says \d+ \+ \d+ \(truncated/));
    expect(decode(Uint8Array.from([...goodBlockwise, 0]))).toThrow(refused(/truncated or extended/));
    expect(decode(assembleCheckpoint(header, data, { headerLength: 0xffff_ffff }))).toThrow(refused(/its prefix says 4294967352 \+/));
    expect(decode(assembleCheckpoint(header, data, { dataLength: 2n ** 64n - 1n }))).toThrow(refused(/\+ 18446744073709551615/));
  });

  it("bytes changed after the checksum was written, anywhere", () => {
    for (const at of [20, 60, goodBlockwise.length - data.length + 5, goodBlockwise.length - 1]) {
      const bad = Uint8Array.from(goodBlockwise);
      bad[at]! ^= 4;
      expect(decode(bad)).toThrow(refused(/checksum mismatch.*damaged or edited/));
    }
    expect(decodeCheckpoint(goodBlockwise).step).toBe(1); // the untouched file passes
  });

  it("a header that is not JSON, not UTF-8, not an object, or has unknown fields", () => {
    expect(decode(assembleCheckpoint(header.slice(0, 100), data))).toThrow(refused(/the header is not JSON/));
    const notUtf8 = new TextEncoder().encode(header);
    notUtf8[2] = 0xff;
    expect(decode(assembleCheckpoint(notUtf8, data))).toThrow(refused(/the header is not JSON/));
    expect(decode(assembleCheckpoint("[1]", data))).toThrow(refused(/the header is \[1\], not an object/));
    expect(decode(editHeader(goodBlockwise, (h) => void (h.extra = 1)))).toThrow(refused(/unknown field "extra"/));
  });

  it("counters that are not non-negative integers, and PRNG states that are not four u32 words, not all zero", () => {
    for (const field of ["step", "cursor", "adamT"]) {
      for (const v of [-1, 0.5, "1", null, 2 ** 53]) {
        expect(decode(editHeader(goodBlockwise, (h) => void (h[field] = v)))).toThrow(
          refused(new RegExp(`^not a valid ternion checkpoint: ${field} `)),
        );
      }
    }
    for (const rng of [[0, 0, 0, 0], [1, 2, 3], [1, 2, 3, 2 ** 32], "x"]) {
      expect(decode(editHeader(goodBlockwise, (h) => void (h.rng = rng)))).toThrow(refused(/PRNG state/));
    }
  });

  it("meta that is not an object of strings, finite numbers and booleans", () => {
    expect(decode(editHeader(goodBlockwise, (h) => void (h.meta = null as never)))).toThrow(refused(/meta null is not an object/));
    expect(decode(editHeader(goodBlockwise, (h) => void (h.meta.block = [1])))).toThrow(refused(/meta.block is \[1\], not a string/));
    expect(decode(editHeader(goodBlockwise, (h) => void (h.meta.x = null)))).toThrow(refused(/meta.x is null/));
  });

  it("a tensor list that is not a list of {name, dtype, length, offset} laid out in order over exactly the data", () => {
    const t = (f: (h: Header) => unknown) => decode(editHeader(goodBlockwise, f));
    expect(t((h) => void (h.tensors = null as never))).toThrow(refused(/tensor list is null, not an array/));
    expect(t((h) => void (h.tensors = [7 as never]))).toThrow(refused(/tensor entry 0 is 7, not an object/));
    expect(t((h) => void Object.assign(h.tensors[0]!, { shape: [2] }))).toThrow(refused(/tensor entry 0 has fields/));
    expect(t((h) => void (h.tensors[0]!.name = ""))).toThrow(refused(/tensor entry 0 has the name ""/));
    expect(t((h) => void (h.tensors[1]!.name = h.tensors[0]!.name))).toThrow(refused(/appears twice/));
    expect(t((h) => void (h.tensors[0]!.dtype = "constructor"))).toThrow(refused(/the dtype "constructor", not f32, f64 or i8/));
    expect(t((h) => void (h.tensors[0]!.length = -1))).toThrow(refused(/has offset 0 and length -1/));
    expect(t((h) => void (h.tensors[1]!.offset += 8))).toThrow(refused(/starts at data offset \d+, expected \d+/));
    expect(t((h) => void (h.tensors.at(-1)!.length = 2 ** 40))).toThrow(refused(/lies outside the file's \d+ data bytes/));
    expect(t((h) => void h.tensors.pop())).toThrow(refused(/the tensors end at data offset \d+, the file's data has \d+ bytes/));
  });

  it("non-finite values in any float tensor", () => {
    for (const v of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(decode(editTensor(goodBlockwise, "adam.m:", (x) => void (x[3] = v)))).toThrow(refused(new RegExp(`adam.m:\\S+ holds ${v} at index 3`)));
    }
  });
});

describe("restoring refuses, and changes nothing, a checkpoint that does not fit", () => {
  it("the model: a missing, extra or reshaped tensor, a negative second moment, a code outside −1…1, counters out of step", () => {
    expectRestoreRefused(
      full,
      editHeader(goodFull, (h) => void (h.tensors[0]!.name += ".x")),
      /does not fit this model: it has no param:/,
    );
    expectRestoreRefused(blockwise, goodFull, /it is one of a "full" run/);
    expectRestoreRefused(
      full,
      editTensor(goodFull, "adam.v:", (x) => void (x[0] = -1)),
      /adam.v:\S+ holds -1 at index 0, where a second moment must be ≥ 0/,
    );
    expectRestoreRefused(
      full,
      editTensor(goodFull, "codes:", (x) => void (x[9] = 3)),
      /codes:\S+ holds 3 at index 9, where a ternary code must be −1, 0 or 1/,
    );
    expectRestoreRefused(
      full,
      editHeader(goodFull, (h) => void (h.adamT = 2)),
      /its optimizer has taken 2 steps, its run 3/,
    );
    // The blockwise checkpoint in a full run: another trainable set.
    const asFull = editHeader(goodBlockwise, (h) => void (h.meta.schedule = "full"));
    expectRestoreRefused(full, asFull, /does not fit this model/);
  });

  it("a tensor count other than the model's", () => {
    const { header, data } = splitCheckpoint(goodFull);
    const h = JSON.parse(header) as Header;
    const last = h.tensors.at(-1)!;
    const end = Math.ceil((last.offset + last.length * (last.dtype === "i8" ? 1 : 4)) / 8) * 8;
    h.tensors.push({ name: "param:unknown", dtype: "f32", length: 2, offset: end });
    const more = assembleCheckpoint(JSON.stringify(h), Uint8Array.from([...data, ...new Uint8Array(8)]));
    expectRestoreRefused(full, more, /it holds \d+ tensors, this model trains \d+/);
  });

  it("the full run: a step beyond its steps, a cursor outside the stream", () => {
    const at = (f: (h: Header) => void) => editHeader(goodFull, f);
    expectRestoreRefused(
      full,
      at((h) => Object.assign(h, { step: 9, adamT: 9 })),
      /its step 9 is beyond the run's 7 steps/,
    );
    expectRestoreRefused(
      full,
      at((h) => void (h.cursor = 1)),
      /its data cursor 1 is outside 0…0/,
    );
    expectRestoreRefused(
      full,
      at((h) => void (h.cursor = stream.length)),
      /its data cursor 300 is outside 0…299/,
      { sampling: "sequential" },
    );
  });

  it("the blockwise run: a block out of range, a step past its block's, a run step that is not the sum, a cursor", () => {
    const at = (f: (h: Header) => void) => editHeader(goodBlockwise, f);
    expectRestoreRefused(
      blockwise,
      at((h) => void (h.meta.block = 4)),
      /its block 4 is not one of 0…3/,
    );
    expectRestoreRefused(
      blockwise,
      at((h) => Object.assign(h, { step: 2, adamT: 2 })),
      /block 1 is at its step 2 of 2/,
    );
    expectRestoreRefused(
      blockwise,
      at((h) => void (h.meta.runStep = 5)),
      /its run step 5 is not 3 \+ 1 \(block 1, of 7 steps\)/,
    );
    expectRestoreRefused(
      blockwise,
      at((h) => void (h.cursor = 2)),
      /its data cursor is 2, a blockwise run's is 0/,
    );
    expectRestoreRefused(
      blockwise,
      at((h) => void (h.meta.schedule = "full")),
      /it is one of a "full" run/,
    );
  });

  it("and a good one resumes to the straight run's bytes (the checks refuse nothing they should not)", () => {
    for (const [make, bytes] of [
      [blockwise, goodBlockwise],
      [full, goodFull],
    ] as const) {
      const { run, student } = make();
      run.restore(decodeCheckpoint(bytes));
      while (run.step < run.steps) run.next();
      expect(snapshot(student) === finished(make)).toBe(true);
    }
  });
});

describe("random mutations of a checkpoint (fast-check)", () => {
  it("either resume to the clean run's bytes or are refused with BAD_CHECKPOINT", () => {
    fc.assert(
      fc.property(checkpointMutation(), (m) => {
        const bytes = m.apply(goodBlockwise);
        const { run, student } = blockwise();
        try {
          run.restore(decodeCheckpoint(bytes));
        } catch (e) {
          if (e instanceof CheckpointError && e.code === "BAD_CHECKPOINT") return;
          throw e;
        }
        while (run.step < run.steps) run.next();
        expect(snapshot(student) === cleanBlockwise, m.label).toBe(true);
      }),
      { numRuns: 200, seed: 15 },
    );
  });
});

describe("the file store", () => {
  const dir = mkdtempSync(join(tmpdir(), "ternion-ckpt-store-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps the previous checkpoint it wrote beside the latest, and lists both, newest first", async () => {
    const path = join(dir, "run.ckpt");
    const store = fileCheckpointStore(path);
    const { run } = blockwise();
    run.next();
    await store.save(run.checkpoint(), 1);
    expect(existsSync(previousCheckpointPath(path))).toBe(false);
    run.next();
    await store.save(run.checkpoint(), 2);
    expect(decodeCheckpoint(new Uint8Array(readFileSync(previousCheckpointPath(path)))).meta.runStep).toBe(1);
    expect(decodeCheckpoint(new Uint8Array(readFileSync(path))).meta.runStep).toBe(2);
    const kept = await fileCheckpointStore(path).load();
    expect(kept.map((k) => k.name)).toEqual([path, `${path}.prev`]);
    expect(decodeCheckpoint(await kept[1]!.bytes()).meta.runStep).toBe(1);
  });

  it("never moves a latest it did not write (it may be the damaged one) over the previous", async () => {
    const path = join(dir, "damaged.ckpt");
    writeFileSync(path, "damaged");
    writeFileSync(previousCheckpointPath(path), goodBlockwise);
    const { run } = blockwise();
    run.next();
    await fileCheckpointStore(path).save(run.checkpoint(), 1);
    expect(Buffer.from(readFileSync(previousCheckpointPath(path))).equals(Buffer.from(goodBlockwise))).toBe(true);
  });
});

describe("training input", () => {
  it("token ids outside the vocabulary are TrainError BAD_TOKEN", () => {
    const table = new Float32Array(4 * 3);
    expect(() => embeddingForward(table, [1, 4], 3)).toThrow(
      expect.objectContaining({ name: "TrainError", code: "BAD_TOKEN", message: "token 4 is outside the vocabulary of 4" }),
    );
    expect(() => crossEntropy(new Float32Array(8), [9], 8)).toThrow(
      expect.objectContaining({ name: "TrainError", code: "BAD_TOKEN", message: "target 9 is outside the vocabulary of 8" }),
    );
  });
});
