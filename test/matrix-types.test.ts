// The per-backend matrix-type tables (runtime/cpu/matrix-types.ts, gpu/matrix-types.ts): every type has a
// complete row in each, the rows agree with the format traits table (block sizes and bytes) and with each other,
// and what a row says is what happens: a tensor uploaded by its row reads back (embedding reader, GPU host
// layout decoded here by hand) as the traits table dequantizes it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GPU_MATRIX_TYPES, gpuMatrixType, type GpuMatrixTypeName } from "../src/gpu/matrix-types.ts";
import { hostDlt, hostMatrix, type HostMatrix } from "../src/gpu/weights.ts";
import { embeddingRow } from "../src/runtime/cpu/embedding.ts";
import { CpuKernels } from "../src/runtime/cpu/kernels.ts";
import { matrixLayout } from "../src/runtime/cpu/layout.ts";
import { CPU_MATRIX_TYPES, cpuMatrixType, matrixType, scaleArrays, uploadStagingBytes, type MatrixType } from "../src/runtime/cpu/matrix-types.ts";
import { TensorTypeError } from "../src/runtime/errors.ts";
import { DLT_GROUP_SIZES } from "../src/runtime/model/dlt-file.ts";
import { f16BitsToF32, f32ToF16Bits } from "../src/runtime/tensor-types/half.ts";
import { GgmlType, isKnownTensorType, tensorTypeTraits } from "../src/runtime/tensor-types/table.ts";
import { packDltCodes } from "../src/runtime/tensor-types/ternary-codes.ts";
import { rng } from "./helpers/random.ts";

const cpuRows = Object.entries(CPU_MATRIX_TYPES) as [MatrixType, (typeof CPU_MATRIX_TYPES)[MatrixType]][];
const gpuRows = Object.entries(GPU_MATRIX_TYPES) as [GpuMatrixTypeName, (typeof GPU_MATRIX_TYPES)[GpuMatrixTypeName]][];
const formats = (Object.values(GgmlType).filter((v) => typeof v === "number") as GgmlType[]).filter(
  (id) => isKnownTensorType(id) && !tensorTypeTraits(id).integer,
);

/** Row lengths that fit every block size (and one ragged for the types without blocks). */
const SHAPES: Array<[rows: number, cols: number]> = [
  [1, 256],
  [5, 512],
  [8, 768],
];

/** A random tensor of a source format, made by that format's quantize (ternary formats give ternary codes). */
function randomTensor(ggml: GgmlType, rows: number, cols: number, seed: number): Uint8Array {
  const r = rng(seed);
  return tensorTypeTraits(ggml).quantize(Float32Array.from({ length: rows * cols }, () => r() * 2 - 1));
}

function dequantized(ggml: GgmlType, data: Uint8Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  tensorTypeTraits(ggml).dequantize(data, out);
  return out;
}

describe("every type has a row in each backend's table", () => {
  it("every format of the traits table has a CPU and a GPU row, and the two tables list the same types", () => {
    expect(formats.length).toBeGreaterThanOrEqual(7);
    for (const id of formats) {
      expect(
        cpuRows.some(([, row]) => row.ggml === id),
        `CPU row for ${tensorTypeTraits(id).name}`,
      ).toBe(true);
      expect(() => gpuMatrixType(id), `GPU row for ${tensorTypeTraits(id).name}`).not.toThrow();
    }
    expect(gpuRows.map(([name]) => name).sort()).toEqual(cpuRows.map(([name]) => name).sort());
  });

  it.each(cpuRows)("CPU %s: a complete row that agrees with the traits table", (name, row) => {
    expect(row.ggml === undefined).toBe(row.source === undefined);
    if (row.source) {
      expect(row.source.id).toBe(row.ggml);
      expect(row.source.name).toBe(name);
      expect(matrixType(row.ggml!)).toBe(name);
    }
    expect(cpuMatrixType(name)).toBe(row);
    expect(typeof row.embeddingRow).toBe("function");
    // float rows hold a format's values and take f32 activations; ternary rows hold codes and quantized ones
    const float = row.kernel.matmul === "float";
    expect(row.rows.kind).toBe(float ? "values" : "codes");
    expect(row.activation === undefined).toBe(float);
    expect(row.upload.kind === "copy").toBe(float);
    expect(row.upload.kind === "repack-blocks").toBe(row.scales.kind === "blocks");
    if (row.upload.kind === "copy") expect(typeof row.upload.write).toBe("function");
    if (row.scales.kind === "groups") expect(row.scales.sizes).toEqual(DLT_GROUP_SIZES);

    const groupSizes = row.scales.kind === "groups" ? row.scales.sizes : [128];
    for (const [m, k] of SHAPES) {
      for (const g of groupSizes) {
        const l = matrixLayout(name, m, k, g);
        expect(l.activation).toBe(row.activation);
        if (row.source) {
          // source bytes = blocks × block bytes (I2_S: plus its tensor scale and padding, which follow the blocks)
          const blocks = (m * k) / row.source.blockSize;
          expect(l.sourceBytes).toBe(row.source.byteLength(m * k));
          if (row.scales.kind === "tensor") expect(l.sourceBytes).toBeGreaterThanOrEqual(blocks * row.source.bytesPerBlock + 4);
          else expect(l.sourceBytes).toBe(blocks * row.source.bytesPerBlock);
        } else {
          expect(l.sourceBytes).toBe(m * l.rowBytes);
        }
        if (row.rows.kind === "values") {
          expect(l.rowBytes).toBe((k / row.rows.format.blockSize) * row.rows.format.bytesPerBlock);
          expect(l.codeBytes).toBe(m * l.rowBytes);
        } else {
          expect(l.rowBytes).toBe(Math.ceil(k / 128) * 32); // 2 bits per weight in 32-byte chunks
          expect(l.codeBytes).toBe(Math.ceil(m / 4) * 4 * l.rowBytes);
        }
        const group = row.scales.kind === "blocks" ? row.source!.blockSize : row.scales.kind === "groups" ? g : k;
        expect([l.group, l.groups]).toEqual([group, Math.ceil(k / group)]);
        if (row.activation === "q8k") expect(l.group).toBe(256); // Q8_K's group
        // quad-major scales: every quad (the last one too, ragged or not) has its 4 lanes of every group
        expect(l.scaleBytes).toBe(scaleArrays(row) > 0 ? Math.ceil(m / 4) * 4 * l.groups * 4 : 0);
        expect(uploadStagingBytes(row, l, m)).toBe(
          row.upload.kind === "copy" ? 0 : row.upload.kind === "repack-blocks" ? l.sourceBytes : m * l.rowBytes,
        );
      }
    }
    const block = row.source?.blockSize ?? 1;
    if (block > 1) expect(() => matrixLayout(name, 4, block + block / 2)).toThrow(TensorTypeError);
  });

  it.each(gpuRows)("GPU %s: a complete row that agrees with the traits table", (name, row) => {
    expect(row.ggml === undefined).toBe(row.toHost === undefined);
    expect(row.ggml === undefined).toBe(name === "DLT");
    if (row.ggml !== undefined) {
      expect(tensorTypeTraits(row.ggml).name).toBe(name);
      expect(gpuMatrixType(row.ggml)).toBe(row);
    }
    const cpu = CPU_MATRIX_TYPES[name];
    expect(row.shader.kind).toBe(cpu.kernel.matmul);
    if (row.shader.kind === "ternary" && cpu.rows.kind === "codes") {
      expect(row.shader.fieldOrder).toBe(cpu.rows.fieldOrder);
      // the same activation quantization as the CPU row
      const act = row.shader.activation(512, 128);
      const expected = {
        q8k: { mode: "q8k", group: 256, sums: false },
        token: { mode: "absmax", group: 512, sums: false },
        group: { mode: "absmax", group: 128, sums: true },
      }[cpu.activation!];
      expect(act).toEqual(expected);
    }
    if (name === "DLT") expect(row.groupSizes).toEqual(DLT_GROUP_SIZES);
  });
});

describe("a tensor uploaded by its row reads back as the traits table dequantizes it", () => {
  let K: CpuKernels;
  beforeAll(async () => {
    K = await CpuKernels.create({ threads: 1 });
  });
  afterAll(() => K.dispose());

  const rowsOf = (m: number, k: number, read: (r: number, out: number) => void): Float32Array => {
    const out = K.heap.alloc(k * 4);
    const all = new Float32Array(m * k);
    for (let r = 0; r < m; r++) {
      read(r, out);
      all.set(K.heap.f32View(out, k), r * k);
    }
    K.heap.free(out);
    return all;
  };

  it.each(cpuRows.filter(([, row]) => row.ggml !== undefined))("CPU %s: upload and embedding row", (name, row) => {
    for (const [m, k] of SHAPES) {
      const data = randomTensor(row.ggml!, m, k, m * k);
      const w = K.uploadMatrix(row.ggml!, m, k, data);
      expect(w.type).toBe(name);
      expect(rowsOf(m, k, (r, out) => embeddingRow(K, w, r, out))).toEqual(dequantized(row.ggml!, data, m, k));
      K.freeMatrix(w);
    }
  });

  it("CPU DLT: upload and embedding row give α·(code − 1) + γ per group", () => {
    const r = rng(5);
    for (const g of DLT_GROUP_SIZES) {
      const [m, k] = [6, 300];
      const G = Math.ceil(k / g);
      const codes = Uint8Array.from({ length: m * k }, () => Math.floor(r() * 3));
      const alpha = Uint16Array.from({ length: m * G }, () => f32ToF16Bits(r()));
      const gamma = Uint16Array.from({ length: m * G }, () => f32ToF16Bits(r() - 0.5));
      const w = K.uploadMatrix("DLT", m, k, packDltCodes(codes, m, k), { alpha, gamma, groupSize: g });
      const want = Float32Array.from({ length: m * k }, (_, i) => {
        const at = Math.floor(i / k) * G + Math.floor((i % k) / g);
        return Math.fround(Math.fround(f16BitsToF32(alpha[at]!) * (codes[i]! - 1)) + f16BitsToF32(gamma[at]!));
      });
      expect(rowsOf(m, k, (row, out) => embeddingRow(K, w, row, out))).toEqual(want);
      K.freeMatrix(w);
    }
  });

  /** The values of a GPU host matrix, decoded here from its words, codes and scales. */
  function decodeHost(h: HostMatrix): Float32Array {
    const out = new Float32Array(h.rows * h.cols);
    if (h.kind === "float") {
      const bytes = new Uint8Array(h.words.buffer, h.words.byteOffset, h.words.byteLength);
      const format = { f32: GgmlType.F32, f16: GgmlType.F16, bf16: GgmlType.BF16, q8_0: undefined }[h.format];
      for (let r = 0; r < h.rows; r++) {
        const row = bytes.subarray(r * h.rowWords * 4, (r + 1) * h.rowWords * 4);
        const dst = out.subarray(r * h.cols, (r + 1) * h.cols);
        if (format !== undefined) tensorTypeTraits(format).dequantize(row, dst);
        else for (let i = 0; i < h.cols; i++) dst[i] = ((row[i]! << 24) >> 24) * h.wscale![r * (h.cols / 32) + (i >> 5)]!;
      }
      return out;
    }
    const bytes = new Uint8Array(h.codes.buffer, h.codes.byteOffset, h.codes.byteLength);
    const groups = Math.ceil(h.cols / h.act.group);
    const scalesPerRow = h.scales.length / h.rows;
    for (let r = 0; r < h.rows; r++) {
      for (let e = 0; e < h.cols; e++) {
        const l = (e & 127) >> 5;
        const byte = bytes[r * h.rowWords * 4 + 32 * (e >> 7) + (e & 31)]!;
        const code = (byte >> (h.i2s ? 6 - 2 * l : 2 * l)) & 3;
        const s = h.scales[r * scalesPerRow + (scalesPerRow === 1 ? 0 : Math.floor(e / h.act.group))]!;
        const v = (code - 1) * s;
        out[r * h.cols + e] = h.shifts ? Math.fround(Math.fround(v) + h.shifts[r * groups + Math.floor(e / h.act.group)]!) : v;
      }
    }
    return out;
  }

  it.each(gpuRows.filter(([, row]) => row.ggml !== undefined))("GPU %s: host layout", (_name, row) => {
    for (const [m, k] of SHAPES) {
      const data = randomTensor(row.ggml!, m, k, m + k);
      const h = hostMatrix(row.ggml!, data, m, k);
      expect(h.kind).toBe(row.shader.kind);
      if (h.kind === "float" && row.shader.kind === "float") expect(h.format).toBe(row.shader.format);
      if (h.kind === "ternary" && row.shader.kind === "ternary") {
        expect(h.i2s).toBe(row.shader.fieldOrder === "i2s");
        expect(h.act).toEqual(row.shader.activation(k, 0));
      }
      expect(Array.from(decodeHost(h))).toEqual(Array.from(dequantized(row.ggml!, data, m, k)));
    }
  });

  it("GPU DLT: host layout gives α·(code − 1) + γ per group", () => {
    const r = rng(9);
    for (const g of DLT_GROUP_SIZES) {
      const [m, k] = [3, 300];
      const G = Math.ceil(k / g);
      const codes = Uint8Array.from({ length: m * k }, () => Math.floor(r() * 3));
      const alpha = Float32Array.from({ length: m * G }, () => Math.fround(r()));
      const gamma = Float32Array.from({ length: m * G }, () => Math.fround(r() - 0.5));
      const h = hostDlt(packDltCodes(codes, m, k), alpha, gamma, g, m, k);
      expect(h.act).toEqual((GPU_MATRIX_TYPES.DLT.shader as { activation: (c: number, g: number) => unknown }).activation(k, g));
      const want = Float32Array.from({ length: m * k }, (_, i) => {
        const at = Math.floor(i / k) * G + Math.floor((i % k) / g);
        return Math.fround(Math.fround(alpha[at]! * (codes[i]! - 1)) + gamma[at]!);
      });
      expect(decodeHost(h)).toEqual(want);
    }
  });
});
