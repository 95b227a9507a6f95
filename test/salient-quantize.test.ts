// Salient quantization (PB-LLM on ternary) and ternary GPTQ: the side-matrix writer (read back here with a small
// reader of the format written out from docs/ARCHITECTURE.md section 3), its CSR invariants, that salient weights
// are kept to int8 precision, that GPTQ lowers a layer's output error against absmean on calibration data, the
// Hessian criterion, and the calibration of stories260K through the float model.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { accumulateInputProducts, hessianFromProducts, prepareHessian } from "../src/runtime/convert/hessian.ts";
import { planQuantize } from "../src/runtime/convert/quantize.ts";
import { packSalient, salientLayout, salientMatrixFromDense } from "../src/runtime/convert/salient-matrix.ts";
import { salientBits } from "../src/runtime/model/salient-file.ts";
import { chooseSalient, denseOf, salientTernarize } from "../src/runtime/convert/salient-ternarize.ts";
import { ModelError, OptionError } from "../src/runtime/errors.ts";
import { readGgufHeader, readTensorData } from "../src/runtime/gguf/reader.ts";
import { bytesSource } from "../src/runtime/gguf/sources.ts";
import type { GgufHeader } from "../src/runtime/gguf/types.ts";
import { writeGgufToBytes } from "../src/runtime/gguf/writer.ts";
import { salientNames } from "../src/runtime/model/tensors.ts";
import { GgmlType, tensorTypeTraits } from "../src/runtime/tensor-types/table.ts";
import { calibrate, calibrateOnText, sequentialCalibration } from "../src/train/calibration.ts";
import { loadFloatModel } from "../src/train/teacher.ts";
import { rng } from "./helpers/random.ts";
import { sharedPath } from "./helpers/shared.ts";

const gauss = (r: () => number) => Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());

/** A weight matrix with a few large outliers, as LLM weights have. */
function weights(rows: number, cols: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: rows * cols }, () => gauss(r) * 0.02 * (r() < 0.02 ? 8 : 1));
}

/** n calibration inputs of k correlated features (a fixed random mix of fewer sources, plus noise); `seed` draws the samples. */
function inputs(n: number, k: number, seed: number): Float64Array {
  const sources = Math.max(2, k >> 2);
  const m = rng(100 + k);
  const mix = Float64Array.from({ length: sources * k }, () => gauss(m));
  const r = rng(seed);
  const x = new Float64Array(n * k);
  for (let t = 0; t < n; t++) {
    const z = Array.from({ length: sources }, () => gauss(r));
    for (let a = 0; a < k; a++) {
      let s = 0.1 * gauss(r);
      for (let j = 0; j < sources; j++) s += z[j]! * mix[j * k + a]!;
      x[t * k + a] = s;
    }
  }
  return x;
}

function hessianOf(x: Float64Array, n: number, k: number): Float64Array {
  const sum = new Float64Array(k * k);
  accumulateInputProducts(sum, x, n, k);
  return hessianFromProducts(sum, n, k);
}

/** ‖W Xᵀ − Ŵ Xᵀ‖² over the calibration inputs. */
function outputError(w: ArrayLike<number>, wq: ArrayLike<number>, x: Float64Array, rows: number, cols: number, n: number): number {
  let e = 0;
  for (let t = 0; t < n; t++) {
    for (let r = 0; r < rows; r++) {
      let d = 0;
      for (let c = 0; c < cols; c++) d += (w[r * cols + c]! - wq[r * cols + c]!) * x[t * cols + c]!;
      e += d * d;
    }
  }
  return e;
}

// ── A reader of the side-matrix format, written from the format's definition (not the writer's code) ──────────
interface ReadSide {
  rowStart: Int32Array;
  idx: Uint16Array;
  val: Int8Array;
  scale: Float32Array;
}

async function readSide(bytes: Uint8Array, header: GgufHeader, weight: string): Promise<ReadSide | undefined> {
  const names = salientNames(weight);
  const infos = Object.values(names).map((n) => header.tensors.find((t) => t.name === n));
  if (infos.every((i) => !i)) return undefined;
  if (!infos.every((i) => i)) throw new Error(`${weight}: only some side tensors`);
  const [rows, idx, val, scale] = infos.map((i) => i!);
  expect([rows!.type, idx!.type, val!.type, scale!.type]).toEqual([GgmlType.I32, GgmlType.I16, GgmlType.I8, GgmlType.F32]);
  const src = bytesSource(bytes);
  const data = async (i: typeof rows) => {
    const b = await readTensorData(src, header, i!);
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  };
  const [dr, di, dv, ds] = await Promise.all([data(rows), data(idx), data(val), data(scale)]);
  return {
    rowStart: Int32Array.from({ length: dr.byteLength / 4 }, (_, i) => dr.getInt32(4 * i, true)),
    idx: Uint16Array.from({ length: di.byteLength / 2 }, (_, i) => di.getUint16(2 * i, true)),
    val: Int8Array.from({ length: dv.byteLength }, (_, i) => dv.getInt8(i)),
    scale: Float32Array.from({ length: ds.byteLength / 4 }, (_, i) => ds.getFloat32(4 * i, true)),
  };
}

/** The format's invariants: rows[0] = 0, non-decreasing, rows[m] = nnz; columns strictly increasing and < k; |q| ≤ 127; finite scales. */
function expectCsr(s: ReadSide, m: number, k: number): void {
  expect(s.rowStart.length).toBe(m + 1);
  expect(s.rowStart[0]).toBe(0);
  expect(s.rowStart[m]).toBe(s.idx.length);
  expect(s.val.length).toBe(s.idx.length);
  expect(s.scale.length).toBe(m);
  for (let r = 0; r < m; r++) {
    expect(s.rowStart[r + 1]!).toBeGreaterThanOrEqual(s.rowStart[r]!);
    expect(Number.isFinite(s.scale[r]!)).toBe(true);
    for (let e = s.rowStart[r]!; e < s.rowStart[r + 1]!; e++) {
      expect(s.idx[e]!).toBeLessThan(k);
      if (e > s.rowStart[r]!) expect(s.idx[e]!).toBeGreaterThan(s.idx[e - 1]!);
      expect(Math.abs(s.val[e]!)).toBeLessThanOrEqual(127);
    }
  }
}

describe("side matrix writer", () => {
  it("keeps the masked values to int8 precision per row, in CSR order, and counts its bits", () => {
    const [m, k] = [5, 300];
    const w = weights(m, k, 1);
    const mask = new Uint8Array(m * k);
    const r = rng(2);
    for (let i = 0; i < mask.length; i++) mask[i] = r() < 0.1 ? 1 : 0;
    mask.fill(0, 2 * k, 3 * k); // an empty row
    const s = salientMatrixFromDense(w, mask, m, k);
    expectCsr(s, m, k);
    expect(s.idx.length).toBe(mask.reduce((a, b) => a + b, 0));
    expect(s.rowStart[3]! - s.rowStart[2]!).toBe(0);
    for (let row = 0; row < m; row++) {
      for (let e = s.rowStart[row]!; e < s.rowStart[row + 1]!; e++) {
        expect(mask[row * k + s.idx[e]!]).toBe(1);
        expect(Math.abs(s.scale[row]! * s.val[e]! - w[row * k + s.idx[e]!]!)).toBeLessThanOrEqual(s.scale[row]! / 2 + 1e-9);
      }
    }
    const bytes = packSalient(s);
    expect(bytes.map((b) => b.length)).toEqual(
      salientLayout("x.weight", m, s.idx.length).map((t) => tensorTypeTraits(t.type).byteLength(t.dims[0]!)),
    );
    expect(salientBits(m, s.idx.length)).toBe(s.idx.length * 24 + 32 * (m + 1) + 32 * m);
  });

  it("refuses rows longer than 16-bit indices reach, and a fraction out of range", () => {
    expect(() => salientMatrixFromDense(new Float32Array(65537), new Uint8Array(65537), 1, 65537)).toThrow(ModelError);
    expect(() => salientTernarize(new Float32Array(8), 2, 4, { group: "tensor", salientFraction: 0.3 })).toThrow(OptionError);
    expect(() => salientTernarize(new Float32Array(8), 2, 4, { group: "tensor", salientFraction: -0.1 })).toThrow(OptionError);
    expect(() => salientTernarize(new Float32Array(8), 2, 4, { group: "tensor", gptq: true })).toThrow(/needs calibration/);
  });
});

describe("salient ternarization", () => {
  it("keeps the top fraction by |w| out of the absmean statistics, with the middle code, and Ŵ + S holds them", () => {
    const [m, k] = [16, 128];
    const w = weights(m, k, 3);
    const t = salientTernarize(w, m, k, { group: "tensor", salientFraction: 0.02 });
    const count = Math.round(0.02 * m * k);
    expect(t.salient!.idx.length).toBe(count);
    // the kept ones are the largest |w|
    const kept = new Set<number>();
    for (let r = 0; r < m; r++) for (let e = t.salient!.rowStart[r]!; e < t.salient!.rowStart[r + 1]!; e++) kept.add(r * k + t.salient!.idx[e]!);
    const smallestKept = Math.min(...[...kept].map((i) => Math.abs(w[i]!)));
    for (let i = 0; i < w.length; i++) if (!kept.has(i)) expect(Math.abs(w[i]!)).toBeLessThanOrEqual(smallestKept);
    // absmean over the rest
    let sum = 0;
    for (let i = 0; i < w.length; i++) if (!kept.has(i)) sum += Math.abs(w[i]!);
    expect(t.alpha[0]).toBe(Math.fround(sum / (w.length - count)));
    const dense = denseOf(t);
    for (const i of kept) {
      expect(t.codes[i]).toBe(0);
      const row = Math.floor(i / k);
      expect(Math.abs(dense[i]! - w[i]!)).toBeLessThanOrEqual(t.salient!.scale[row]! / 2 + 1e-9);
    }
  });

  it("chooses by the Hessian criterion w²/[H⁻¹]_jj²: a weight on a strong input beats a larger one on a weak input", () => {
    const k = 4;
    const h = new Float64Array(k * k);
    [100, 1, 1, 1].forEach((d, j) => (h[j * k + j] = d));
    const prepared = prepareHessian(h, k);
    const w = Float32Array.from([0.5, 1, 0.2, 0.1]);
    expect([...chooseSalient(w, 1, k, 1, "magnitude")]).toEqual([0, 1, 0, 0]);
    expect([...chooseSalient(w, 1, k, 1, "hessian", prepared)]).toEqual([1, 0, 0, 0]);
  });

  it("GPTQ lowers the layer's output error ‖WX − ŴX‖ against absmean on the calibration data, with and without salient weights", () => {
    const [m, k, n] = [24, 160, 400]; // k over one GPTQ block of 128: the lazy block update is exercised
    const w = weights(m, k, 5);
    const x = inputs(n, k, 6);
    const hessian = prepareHessian(hessianOf(x, n, k), k);
    for (const salientFraction of [0, 0.02]) {
      const plain = denseOf(salientTernarize(w, m, k, { group: "tensor", salientFraction }));
      const gptq = denseOf(salientTernarize(w, m, k, { group: "tensor", salientFraction, gptq: true, hessian }));
      const ePlain = outputError(w, plain, x, m, k, n);
      const eGptq = outputError(w, gptq, x, m, k, n);
      expect(eGptq).toBeLessThan(0.8 * ePlain);
    }
    // and on held-out inputs from the same distribution
    const held = inputs(n, k, 7);
    const plain = denseOf(salientTernarize(w, m, k, { group: 64 }));
    const gptq = denseOf(salientTernarize(w, m, k, { group: 64, gptq: true, hessian }));
    expect(outputError(w, gptq, held, m, k, n)).toBeLessThan(outputError(w, plain, held, m, k, n));
  });

  it("the Cholesky form U of H⁻¹ satisfies UᵀU = H⁻¹ (damped)", () => {
    const k = 12;
    const x = inputs(50, k, 8);
    const h = hessianOf(x, 50, k);
    const p = prepareHessian(h, k, 0.01);
    let mean = 0;
    for (let j = 0; j < k; j++) mean += h[j * k + j]! / k;
    for (let j = 0; j < k; j++) h[j * k + j]! += 0.01 * mean;
    // (UᵀU)·H = I
    for (let a = 0; a < k; a++) {
      for (let b = 0; b < k; b++) {
        let s = 0;
        for (let c = 0; c < k; c++) {
          let inv = 0;
          for (let d = 0; d < k; d++) inv += p.inverseCholesky[d * k + a]! * p.inverseCholesky[d * k + c]!;
          s += inv * h[c * k + b]!;
        }
        expect(s).toBeCloseTo(a === b ? 1 : 0, 8);
      }
    }
  });
});

describe("quantize with salient weights into each ternary block type", () => {
  it.each([
    ["tq2_0", GgmlType.TQ2_0],
    ["tq1_0", GgmlType.TQ1_0],
    ["i2_s", GgmlType.I2_S],
  ] as const)("%s: decode(X.weight) + S is the absmean of the rest plus the kept weights", async (type, id) => {
    const [k, m] = [256, 6];
    const w = weights(m, k, 9);
    const input = {
      metadata: new Map(),
      tensors: [{ name: "blk.0.attn_q.weight", dims: [k, m], type: GgmlType.F32, data: new Uint8Array(w.buffer) }],
    };
    const src = bytesSource(await writeGgufToBytes(input));
    const plan = planQuantize(src, await readGgufHeader(src), { type, salient: { fraction: 0.02 } });
    const bytes = await writeGgufToBytes(plan.input);
    const header = await readGgufHeader(bytesSource(bytes));
    const info = header.tensors.find((t) => t.name === "blk.0.attn_q.weight")!;
    expect(info.type).toBe(id);
    const decoded = new Float32Array(m * k);
    tensorTypeTraits(id).dequantize(await readTensorData(bytesSource(bytes), header, info), decoded);
    const side = (await readSide(bytes, header, info.name))!;
    expectCsr(side, m, k);
    expect(side.idx.length).toBe(Math.round(0.02 * m * k));
    const reference = salientTernarize(w, m, k, { group: "tensor", salientFraction: 0.02 });
    const expected = denseOf(reference);
    const alpha = reference.alpha[0]!;
    for (let r = 0; r < m; r++) {
      for (let e = side.rowStart[r]!; e < side.rowStart[r + 1]!; e++) {
        const i = r * k + side.idx[e]!;
        expect(decoded[i]).toBe(0);
        decoded[i] = side.scale[r]! * side.val[e]!;
        expect(Math.abs(decoded[i]! - w[i]!)).toBeLessThanOrEqual(side.scale[r]! / 2 + 1e-9);
      }
    }
    // the rest: ±α or 0 as the rule says (α rounded to f16, 11 significant bits, in the TQ types' block scales)
    for (let i = 0; i < m * k; i++) expect(Math.abs(decoded[i]! - expected[i]!)).toBeLessThanOrEqual(alpha / 1024);
  });
});

describe("quantize with salient weights and GPTQ (stories260K)", () => {
  const stories = new Uint8Array(readFileSync(sharedPath("models/stories260K.gguf")));
  const text = readFileSync(sharedPath("corpus/tinystories-valid-a.txt"), "utf8").slice(0, 20_000);

  it("writes every ternarized matrix's side matrix, which reads back as Ŵ + S with the kept weights", async () => {
    const source = bytesSource(stories);
    const header = await readGgufHeader(source);
    const calibration = await calibrateOnText(source, header, text, { maxTokens: 256 });
    expect(calibration.tokens).toBe(256);
    const plan = planQuantize(source, header, {
      type: "tq2_0",
      salient: { fraction: 0.01, metric: "hessian" },
      gptq: true,
      hessians: calibration.hessians,
    });
    const bytes = await writeGgufToBytes(plan.input);
    const out = await readGgufHeader(bytesSource(bytes));
    const float = await loadFloatModel(source, header);
    const ternarized = plan.tensors.filter((t) => t.ternarized);
    expect(ternarized.length).toBe(35);
    for (const t of ternarized) {
      const [k, m] = t.dims as [number, number];
      const side = await readSide(bytes, out, t.name);
      expect(side, t.name).toBeDefined();
      expectCsr(side!, m, k);
      expect(side!.idx.length).toBe(Math.round(0.01 * m * k));
      expect(t.salient).toBe(side!.idx.length);
      // the codes at salient positions are the middle one (code 1, value 0), whatever the layout
      const codes = tensorTypeTraits(GgmlType.TQ2_0).ternaryCodes!(
        await readTensorData(bytesSource(bytes), out, out.tensors.find((x) => x.name === t.name)!),
      );
      const stored = out.tensors.find((x) => x.name === t.name)!.dims[0]!;
      const w = float.tensors.get(t.name)!;
      let near = 0;
      for (let r = 0; r < m; r++) {
        for (let e = side!.rowStart[r]!; e < side!.rowStart[r + 1]!; e++) {
          expect(codes[r * stored + side!.idx[e]!]).toBe(0);
          // GPTQ moves the kept weights by the errors before them, so they are near, not equal to, the float ones
          if (Math.abs(side!.scale[r]! * side!.val[e]! - w[r * k + side!.idx[e]!]!) < 0.5 * Math.abs(w[r * k + side!.idx[e]!]!)) near++;
        }
      }
      expect(near / side!.idx.length, t.name).toBeGreaterThan(0.5);
    }
  });

  it("without salient weights writes no side matrix; without calibration refuses GPTQ and the hessian metric", async () => {
    const source = bytesSource(stories);
    const header = await readGgufHeader(source);
    const calibration = await calibrateOnText(source, header, text, { maxTokens: 128 });
    const head = planQuantize(source, header, {
      type: "tq2_0",
      includeOutput: true,
      salient: { fraction: 0.01, metric: "hessian" },
      gptq: true,
      hessians: calibration.hessians,
    });
    expect(head.tensors.filter((t) => t.ternarized).length).toBe(36);
    // the head is ternarized with GPTQ but takes no side matrix: only block matrices do
    expect(head.tensors.find((t) => t.name === "output.weight")!.salient).toBeUndefined();
    expect(head.input.tensors.filter((t) => t.name.startsWith("output.salient")).length).toBe(0);
    expect(head.input.tensors.filter((t) => t.name.endsWith(".salient_idx")).length).toBe(35);
    await writeGgufToBytes(head.input);
    const plain = planQuantize(source, header, { type: "tq2_0" });
    expect(plain.input.tensors.some((t) => t.name.includes("salient"))).toBe(false);
    expect(() => planQuantize(source, header, { type: "tq2_0", gptq: true })).toThrow(/needs its calibration Hessian/);
    expect(() => planQuantize(source, header, { type: "tq2_0", salient: { fraction: 0.01, metric: "hessian" } })).toThrow(OptionError);
    expect(() => planQuantize(source, header, { type: "tq2_0", salient: { fraction: 0.5 } })).toThrow(/must be a number in \[0, 0.25\]/);
  });

  it("sequential calibration: block l's Hessians come from the model with the matrices quantized so far", async () => {
    const source = bytesSource(stories);
    const header = await readGgufHeader(source);
    const float = await loadFloatModel(source, header);
    const tokens = Int32Array.from({ length: 128 }, (_, i) => (i * 37) % float.config.vocabSize);
    const plain = calibrate(float.config, float.tensors, { tokens, seqLen: 64 });
    const sequential = sequentialCalibration(float.config, float.tensors, { tokens, seqLen: 64 });
    const same = (a: Float64Array, b: Float64Array) => a.every((v, i) => v === b[i]);
    expect(same(sequential.get("blk.0.attn_q.weight")!, plain.hessians.get("blk.0.attn_q.weight")!)).toBe(true);
    // nothing reported quantized yet: block 1 still sees the float block 0
    expect(same(sequential.get("blk.1.attn_q.weight")!, plain.hessians.get("blk.1.attn_q.weight")!)).toBe(true);
    const plan = planQuantize(source, header, { type: "tq2_0", gptq: true, hessians: sequential });
    await writeGgufToBytes(plan.input); // quantizes every block in file order, reporting each Ŵ + S
    expect(same(sequential.get("blk.2.attn_q.weight")!, plain.hessians.get("blk.2.attn_q.weight")!)).toBe(false);
    expect(sequential.has("output.weight")).toBe(true);
    expect(sequential.has("token_embd.weight")).toBe(false);
  });

  it("calibration's Hessians are 2/n Σ x xᵀ of the inputs each matrix reads; q, k, v share one", async () => {
    const float = await loadFloatModel(bytesSource(stories));
    const tokens = Int32Array.from({ length: 64 }, (_, i) => (i * 37) % float.config.vocabSize);
    const c = calibrate(float.config, float.tensors, { tokens, seqLen: 32 });
    expect(c.tokens).toBe(64);
    expect(c.hessians.get("blk.0.attn_q.weight")).toBe(c.hessians.get("blk.0.attn_v.weight"));
    expect(c.hessians.get("blk.0.ffn_gate.weight")).toBe(c.hessians.get("blk.0.ffn_up.weight"));
    expect(c.hessians.get("output.weight")!.length).toBe(float.config.dim ** 2); // for --include-output
    const down = c.hessians.get("blk.4.ffn_down.weight")!;
    expect(down.length).toBe(float.config.ffnDim ** 2);
    for (let j = 0; j < float.config.ffnDim; j++) expect(down[j * float.config.ffnDim + j]!).toBeGreaterThanOrEqual(0);
    expect(() => calibrate(float.config, float.tensors, { tokens: tokens.subarray(0, 10), seqLen: 32 })).toThrow(/at least 32/);
  });
});
