// The salient side-matrix reader (src/runtime/model/salient-file.ts): every way a file can get the format wrong is
// refused at load with a typed ModelError naming the tensor and the problem; column indices are read unsigned; the
// integer tensor types the format uses (I8, I16, I32) round-trip through the GGUF writer and reader.
import { describe, expect, it } from "vitest";
import { CpuModel } from "../src/runtime/cpu/model.ts";
import { ModelError } from "../src/runtime/errors.ts";
import { readGgufHeader } from "../src/runtime/gguf/reader.ts";
import { bytesSource } from "../src/runtime/gguf/sources.ts";
import { type GgufWriteInput, type GgufWriteTensor, writeGgufToBytes } from "../src/runtime/gguf/writer.ts";
import { readSalientMatrix, salientBitsPerWeight, salientMatrixInfo } from "../src/runtime/model/salient-file.ts";
import { salientNames } from "../src/runtime/model/tensors.ts";
import { GgmlType, tensorTypeTraits } from "../src/runtime/tensor-types/table.ts";
import { randomSalient, salientTensors } from "./helpers/salient.ts";
import { syntheticModel } from "./helpers/synthetic-model.ts";

const SHAPE = {
  name: "salient-file",
  architecture: "llama",
  dim: 256,
  layers: 1,
  heads: 4,
  kvHeads: 4,
  ffn: 256,
  vocab: 300,
  contextLength: 32,
  ternary: GgmlType.TQ2_0,
  embedding: GgmlType.F32,
  tiedOutput: false,
  seed: 3,
} as const;
const W = "blk.0.attn_q.weight";
const N = salientNames(W);

/** The synthetic model with a side matrix on attn_q, after `edit` changed its four tensors. */
async function modelWith(edit: (ts: GgufWriteTensor[]) => GgufWriteTensor[], weight = W): Promise<Uint8Array> {
  const base = syntheticModel(SHAPE);
  const s = randomSalient(256, 256, { share: 0.05, seed: 9, emptyRows: [2] });
  const names = salientNames(weight);
  const side = salientTensors(weight, s).map((t) => ({
    ...t,
    name: t.name.replace(salientNames(W).rows.split(".salient")[0]!, names.rows.split(".salient")[0]!),
  }));
  const input: GgufWriteInput = { ...base, tensors: [...base.tensors, ...edit(side)] };
  return writeGgufToBytes(input);
}

/** `t` with its data bytes changed by `change` (a copy). */
function patched(t: GgufWriteTensor, change: (b: Uint8Array) => void): GgufWriteTensor {
  return {
    ...t,
    data: async () => {
      const b = (await (t.data as () => Promise<Uint8Array>)()).slice();
      change(b);
      return b;
    },
  };
}

async function loadError(bytes: Uint8Array): Promise<ModelError> {
  try {
    (await CpuModel.load(bytesSource(bytes), { threads: 1, contextLength: 8 })).dispose();
  } catch (e) {
    expect(e).toBeInstanceOf(ModelError);
    return e as ModelError;
  }
  throw new Error("the model loaded");
}

/** `t` with `dims` and its data cut to fit them. */
function resized(t: GgufWriteTensor, dims: number[]): GgufWriteTensor {
  const bytes = tensorTypeTraits(t.type).byteLength(dims.reduce((a, b) => a * b, 1));
  return { ...t, dims, data: async () => (await (t.data as () => Promise<Uint8Array>)()).slice(0, bytes) };
}

const replace = (name: string, f: (t: GgufWriteTensor) => GgufWriteTensor) => (ts: GgufWriteTensor[]) => ts.map((t) => (t.name === name ? f(t) : t));
const i32 = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

describe("a side matrix the format allows", () => {
  it("loads, and its bits per weight are counted honestly", async () => {
    const model = await CpuModel.load(bytesSource(await modelWith((ts) => ts)), { threads: 1, contextLength: 8 });
    model.dispose();
    // 1 % of a 4096 × 4096 TQ2_0 matrix: 2.0625 + 0.24 + 0.0000153
    const m = 4096;
    const bits = salientBitsPerWeight(2.0625 * m * m, m, m, 0.01 * m * m);
    expect(bits).toBeCloseTo(2.0625 + 0.24 + (64 * m + 32) / (m * m), 6);
  });

  it("reads column indices as unsigned 16-bit (a row of 40960)", async () => {
    const cols = 40960;
    const s = randomSalient(2, cols, { share: 0.001, seed: 4 });
    expect(Math.max(...s.idx)).toBeGreaterThan(32767);
    const weight: GgufWriteTensor = {
      name: "m.weight",
      dims: [cols, 2],
      type: GgmlType.TQ2_0,
      data: async () => tensorTypeTraits(GgmlType.TQ2_0).quantize(new Float32Array(2 * cols)),
    };
    const bytes = await writeGgufToBytes({ metadata: new Map(), tensors: [weight, ...salientTensors("m.weight", s)] });
    const header = await readGgufHeader(bytesSource(bytes));
    const map = new Map(header.tensors.map((t) => [t.name, t]));
    const info = salientMatrixInfo(map, map.get("m.weight")!, 2, cols)!;
    const got = await readSalientMatrix(bytesSource(bytes), header, info);
    expect(got.idx).toEqual(s.idx);
    expect(got.val).toEqual(s.val);
    expect(got.rowStart).toEqual(s.rowStart);
  });

  it("I8, I16 and I32 round-trip their values and clamp on quantize", () => {
    for (const [type, lo, hi] of [
      [GgmlType.I8, -128, 127],
      [GgmlType.I16, -32768, 32767],
      [GgmlType.I32, -(2 ** 31), 2 ** 31 - 1],
    ] as const) {
      const t = tensorTypeTraits(type);
      const src = Float32Array.from([0, 1, -1, lo, hi, lo - 1e3, hi + 1e3, 2.6]);
      const back = new Float32Array(src.length);
      t.dequantize(t.quantize(src), back);
      expect(back).toEqual(Float32Array.from([0, 1, -1, lo, hi, lo, hi, 3]));
    }
  });
});

describe("a side matrix the format refuses", () => {
  it.each([
    ["one tensor missing", (ts: GgufWriteTensor[]) => ts.filter((t) => t.name !== N.val), "MISSING_TENSOR", /salient_val missing/],
    ["idx stored as I32", replace(N.idx, (t) => ({ ...t, type: GgmlType.I32, dims: [t.dims[0]! / 2] })), "BAD_TENSOR_TYPE", /salient_idx is I32/],
    ["rows one short", replace(N.rows, (t) => resized(t, [t.dims[0]! - 1])), "BAD_TENSOR_SHAPE", /salient_rows has shape \[256\]/],
    ["val and idx of different lengths", replace(N.val, (t) => resized(t, [t.dims[0]! - 1])), "BAD_TENSOR_SHAPE", /salient_val/],
    ["scale two-dimensional", replace(N.scale, (t) => ({ ...t, dims: [128, 2] })), "BAD_TENSOR_SHAPE", /salient_scale/],
    ["rows[0] not 0", replace(N.rows, (t) => patched(t, (b) => i32(b).setInt32(0, 1, true))), "BAD_SALIENT_MATRIX", /rows\[0\] is 1/],
    [
      "rows decreasing",
      replace(N.rows, (t) => patched(t, (b) => i32(b).setInt32(4 * 5, i32(b).getInt32(4 * 4, true) - 1, true))),
      "BAD_SALIENT_MATRIX",
      /rows\[5\] = \d+ is below rows\[4\]/,
    ],
    ["rows[m] not nnz", replace(N.rows, (t) => patched(t, (b) => i32(b).setInt32(4 * 256, 3, true))), "BAD_SALIENT_MATRIX", /rows\[256\] is 3/],
    [
      "a column past the row",
      replace(N.idx, (t) => patched(t, (b) => i32(b).setUint16(0, 256, true))),
      "BAD_SALIENT_MATRIX",
      /column 256, the row has 256/,
    ],
    [
      "columns not increasing",
      replace(N.idx, (t) => patched(t, (b) => i32(b).setUint16(2, i32(b).getUint16(0, true), true))),
      "BAD_SALIENT_MATRIX",
      /does not follow/,
    ],
    ["a value of −128", replace(N.val, (t) => patched(t, (b) => (b[3] = 0x80))), "BAD_SALIENT_MATRIX", /entry 3 is -128/],
    [
      "a NaN scale",
      replace(N.scale, (t) => patched(t, (b) => i32(b).setFloat32(8, Number.NaN, true))),
      "NON_FINITE_WEIGHTS",
      /salient_scale .* row 2/,
    ],
  ] as const)("%s", async (_, edit, code, message) => {
    const e = await loadError(await modelWith(edit));
    expect(e.code).toBe(code);
    expect(e.message).toMatch(message);
  });

  it("beside a float matrix or the output head", async () => {
    const e = await loadError(await modelWith((ts) => ts, "output.weight"));
    expect(e.code).toBe("UNSUPPORTED_SALIENT_MATRIX");
    expect(e.message).toMatch(/output\.weight/);
  });
});
