import { describe, expect, it } from "vitest";
import { readFileSync, readdirSync, existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sharedPath } from "./helpers/shared.ts";
import { GgufError } from "../src/runtime/errors.ts";
import { GgmlType } from "../src/runtime/tensor-types/table.ts";
import { bytesSource } from "../src/runtime/gguf/sources.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { readGgufHeader, readTensorData } from "../src/runtime/gguf/reader.ts";
import { ggufInputFromSource, planGguf, writeGguf, writeGgufToBytes, type GgufWriteInput } from "../src/runtime/gguf/writer.ts";
import { writeGgufFile } from "../src/runtime/gguf/writer-node.ts";
import { type GgufValue, GgufValueType as T } from "../src/runtime/gguf/types.ts";

const STORIES = sharedPath("models/stories260K.gguf");
const VOCAB = sharedPath("vocab/ggml-vocab-llama-spm.gguf");

async function roundTrip(path: string, chunkSize?: number): Promise<{ original: Uint8Array; written: Uint8Array }> {
  const source = await openFileSource(path);
  try {
    const header = await readGgufHeader(source);
    const written = await writeGgufToBytes(ggufInputFromSource(source, header), { chunkSize });
    return { original: new Uint8Array(readFileSync(path)), written };
  } finally {
    await source.close();
  }
}

function expectWriteInvalid(input: GgufWriteInput, pattern: RegExp): void {
  let error: unknown;
  try {
    planGguf(input);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(GgufError);
  expect((error as GgufError).code).toBe("WRITE_INVALID");
  expect((error as GgufError).message).toMatch(pattern);
}

const f32Tensor = (name: string, dims: number[], fill = 0) => ({
  name,
  dims,
  type: GgmlType.F32,
  data: new Uint8Array(new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(fill).buffer),
});

describe("GGUF writer", () => {
  it("write(read(stories260K)) is byte-identical", async () => {
    const { original, written } = await roundTrip(STORIES);
    expect(written.length).toBe(original.length);
    expect(Buffer.compare(written, original)).toBe(0);
  });

  it("write(read(vocab)) is byte-identical (a file without tensors has no trailing padding)", async () => {
    const { original, written } = await roundTrip(VOCAB);
    expect(Buffer.compare(written, original)).toBe(0);
  });

  it("is independent of the chunk size (tiny chunks, tensors passed through)", async () => {
    const { original, written } = await roundTrip(STORIES, 100);
    expect(Buffer.compare(written, original)).toBe(0);
  });

  it("streams bounded chunks to the sink", async () => {
    const source = bytesSource(new Uint8Array(readFileSync(STORIES)));
    const header = await readGgufHeader(source);
    const sizes: number[] = [];
    await writeGguf(ggufInputFromSource(source, header), (c) => void sizes.push(c.length), { chunkSize: 4096 });
    expect(Math.max(...sizes)).toBeLessThanOrEqual(131072); // the largest tensor, passed through as is
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(source.size);
    expect(sizes.length).toBeGreaterThan(10);
  });

  it("round-trips every value type, nested arrays, v2, alignment and reordered tensors", async () => {
    const metadata = new Map<string, GgufValue>([
      ["general.alignment", { type: T.UINT32, value: 64 }],
      ["u8", { type: T.UINT8, value: 255 }],
      ["i8", { type: T.INT8, value: -128 }],
      ["u16", { type: T.UINT16, value: 65535 }],
      ["i16", { type: T.INT16, value: -32768 }],
      ["u32", { type: T.UINT32, value: 4294967295 }],
      ["i32", { type: T.INT32, value: -2147483648 }],
      ["f32", { type: T.FLOAT32, value: 1.5 }],
      ["bool", { type: T.BOOL, value: true }],
      ["str", { type: T.STRING, value: "héllo ▁ 🦙" }],
      ["u64", { type: T.UINT64, value: 2n ** 64n - 1n }],
      ["i64", { type: T.INT64, value: -(2n ** 63n) }],
      ["f64", { type: T.FLOAT64, value: Math.PI }],
      ["a.u8", { type: T.ARRAY, value: { elementType: T.UINT8, values: new Uint8Array([1, 2, 3]) } }],
      ["a.i16", { type: T.ARRAY, value: { elementType: T.INT16, values: new Int16Array([-1, 2]) } }],
      ["a.f64", { type: T.ARRAY, value: { elementType: T.FLOAT64, values: new Float64Array([0.1, -2]) } }],
      ["a.u64", { type: T.ARRAY, value: { elementType: T.UINT64, values: new BigUint64Array([1n, 2n ** 60n]) } }],
      ["a.bool", { type: T.ARRAY, value: { elementType: T.BOOL, values: [true, false, true] } }],
      ["a.str", { type: T.ARRAY, value: { elementType: T.STRING, values: ["", "a", "日本"] } }],
      ["a.empty", { type: T.ARRAY, value: { elementType: T.INT32, values: new Int32Array(0) } }],
      [
        "a.nested",
        {
          type: T.ARRAY,
          value: {
            elementType: T.ARRAY,
            values: [
              { elementType: T.STRING, values: ["x"] },
              { elementType: T.ARRAY, values: [{ elementType: T.FLOAT32, values: new Float32Array([7]) }] },
            ],
          },
        },
      ],
    ]);
    const input: GgufWriteInput = {
      version: 2,
      metadata,
      tensors: [f32Tensor("b", [3], 2), f32Tensor("a", [5, 2], 1)],
    };
    const bytes = await writeGgufToBytes(input);
    const header = await readGgufHeader(bytesSource(bytes));
    expect(header.version).toBe(2);
    expect(header.alignment).toBe(64);
    expect(header.dataOffset % 64).toBe(0);
    expect([...header.metadata.keys()]).toEqual([...metadata.keys()]);
    for (const [k, v] of metadata) expect(header.metadata.get(k), k).toEqual(v);
    expect(header.tensors.map((t) => [t.name, t.offset, t.byteLength])).toEqual([
      ["b", 0, 12],
      ["a", 64, 40],
    ]);
    expect(bytes.length).toBe(header.dataOffset + 128); // the last tensor is padded too
    const a = await readTensorData(bytesSource(bytes), header, header.tensors[1]!);
    expect(new Float32Array(a.slice().buffer)).toEqual(new Float32Array(10).fill(1));
    // And writing what was read gives the same bytes again.
    const again = await writeGgufToBytes(ggufInputFromSource(bytesSource(bytes), header));
    expect(Buffer.compare(again, bytes)).toBe(0);
  });

  it("rejects invalid input before writing (WRITE_INVALID)", () => {
    const md = (entries: [string, GgufValue][]) => new Map(entries);
    const base = { metadata: new Map<string, GgufValue>(), tensors: [] };
    expectWriteInvalid({ ...base, version: 1 }, /version 1/);
    expectWriteInvalid({ ...base, metadata: md([["x", { type: T.UINT8, value: 256 }]]) }, /"x".*u8/);
    expectWriteInvalid({ ...base, metadata: md([["x", { type: T.INT32, value: 1.5 }]]) }, /i32/);
    expectWriteInvalid({ ...base, metadata: md([["x", { type: T.UINT64, value: 5 as never }]]) }, /u64/);
    expectWriteInvalid({ ...base, metadata: md([["x", { type: 13, value: 0 } as unknown as GgufValue]]) }, /valid value type/);
    expectWriteInvalid(
      { ...base, metadata: md([["x", { type: T.ARRAY, value: { elementType: T.FLOAT32, values: new Float64Array(1) } }]]) },
      /Float32Array/,
    );
    expectWriteInvalid(
      { ...base, metadata: md([["x", { type: T.ARRAY, value: { elementType: T.STRING, values: ["a", 1 as never] } }]]) },
      /x"\[1\] must be a string/,
    );
    let deep: { elementType: T; values: unknown[] } = { elementType: T.STRING, values: [] };
    for (let i = 0; i < 9; i++) deep = { elementType: T.ARRAY, values: [deep] };
    expectWriteInvalid({ ...base, metadata: md([["x", { type: T.ARRAY, value: deep as never }]]) }, /nested deeper/);
    expectWriteInvalid({ ...base, metadata: md([["general.alignment", { type: T.UINT32, value: 48 }]]) }, /power of two/);
    expectWriteInvalid({ ...base, metadata: md([["general.alignment", { type: T.UINT64, value: 64n }]]) }, /u32/);
    expectWriteInvalid({ ...base, tensors: [f32Tensor("a", [2]), f32Tensor("a", [3])] }, /duplicate tensor name "a"/);
    expectWriteInvalid({ ...base, tensors: [f32Tensor("x".repeat(64), [2])] }, /shorter than 64 bytes/);
    expectWriteInvalid({ ...base, tensors: [f32Tensor("a", [])] }, /1\.\.4 dims/);
    expectWriteInvalid({ ...base, tensors: [{ ...f32Tensor("a", [2]), dims: [1, 1, 1, 1, 2] }] }, /1\.\.4 dims/);
    expectWriteInvalid({ ...base, tensors: [{ ...f32Tensor("a", [2]), dims: [0] }] }, /positive integer/);
    expectWriteInvalid({ ...base, tensors: [{ ...f32Tensor("a", [2]), dims: [2 ** 30, 2 ** 30] }] }, /2\^53/);
    expectWriteInvalid({ ...base, tensors: [{ ...f32Tensor("a", [2]), type: 39 }] }, /unknown tensor type id 39/);
    expectWriteInvalid({ ...base, tensors: [{ ...f32Tensor("a", [2]), dims: [100], type: GgmlType.TQ2_0 }] }, /multiple of 256/);
  });

  it("rejects tensor data whose length does not match its type and shape", async () => {
    const input = { metadata: new Map(), tensors: [{ ...f32Tensor("a", [4]), data: new Uint8Array(15) }] };
    await expect(writeGgufToBytes(input)).rejects.toMatchObject({ code: "WRITE_INVALID", message: /"a".*15 bytes.*16/ });
    const lazy = { metadata: new Map(), tensors: [{ ...f32Tensor("a", [4]), data: async () => new Uint8Array(17) }] };
    await expect(writeGgufToBytes(lazy)).rejects.toMatchObject({ code: "WRITE_INVALID" });
  });

  it("writes files atomically: a failure leaves no file and no temporary behind", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ternion-gguf-"));
    const path = join(dir, "out.gguf");
    const good = { metadata: new Map(), tensors: [f32Tensor("a", [8], 3)] };
    const bad = {
      metadata: new Map(),
      tensors: [f32Tensor("a", [8]), { ...f32Tensor("b", [4]), data: async () => new Uint8Array(3) }],
    };
    await expect(writeGgufFile(path, bad)).rejects.toMatchObject({ code: "WRITE_INVALID" });
    expect(readdirSync(dir)).toEqual([]);

    await writeGgufFile(path, good);
    const first = readFileSync(path);
    await expect(writeGgufFile(path, bad)).rejects.toBeInstanceOf(GgufError);
    expect(readdirSync(dir)).toEqual(["out.gguf"]);
    expect(Buffer.compare(readFileSync(path), first)).toBe(0); // the previous file is untouched

    const header = await readGgufHeader(bytesSource(new Uint8Array(first)));
    expect(header.tensors[0]).toMatchObject({ name: "a", dims: [8], offset: 0, byteLength: 32 });
  });

  it("overwrites an existing file through rename", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ternion-gguf-"));
    const path = join(dir, "m.gguf");
    writeFileSync(path, "old");
    await writeGgufFile(path, { metadata: new Map(), tensors: [] });
    expect(existsSync(path)).toBe(true);
    expect(readFileSync(path).subarray(0, 4).toString()).toBe("GGUF");
  });
});
