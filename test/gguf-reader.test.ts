import { describe, expect, it } from "vitest";
import { readFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sharedPath } from "./helpers/shared.ts";
import { GgufError, type GgufErrorCode } from "../src/runtime/errors.ts";
import { GgmlType } from "../src/runtime/tensor-types/table.ts";
import { blobSource, bytesSource, urlSource } from "../src/runtime/gguf/sources.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { readGgufHeader, readTensorData } from "../src/runtime/gguf/reader.ts";
import { writeGgufToBytes } from "../src/runtime/gguf/writer.ts";
import type { ByteSource } from "../src/runtime/gguf/source.ts";
import { type GgufHeader, type GgufValue, GgufValueType as T } from "../src/runtime/gguf/types.ts";

const STORIES = sharedPath("models/stories260K.gguf");
const VOCAB = sharedPath("vocab/ggml-vocab-llama-spm.gguf");
const storiesBytes = new Uint8Array(readFileSync(STORIES));
const vocabBytes = new Uint8Array(readFileSync(VOCAB));

/** Little-endian byte builder for hand-made (mostly malformed) files. */
class Bytes {
  private parts: number[] = [];
  get length(): number {
    return this.parts.length;
  }
  u8(...v: number[]): this {
    this.parts.push(...v);
    return this;
  }
  u32(v: number): this {
    for (let i = 0; i < 4; i++) this.parts.push((v >>> (8 * i)) & 0xff);
    return this;
  }
  u64(v: number | bigint): this {
    let b = BigInt(v);
    for (let i = 0; i < 8; i++, b >>= 8n) this.parts.push(Number(b & 0xffn));
    return this;
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.u64(b.length).u8(...b);
  }
  zeros(n: number): this {
    for (let i = 0; i < n; i++) this.parts.push(0);
    return this;
  }
  /** Pads to a multiple of `a`. */
  align(a: number): this {
    return this.zeros((a - (this.parts.length % a)) % a);
  }
  build(): Uint8Array {
    return new Uint8Array(this.parts);
  }
}

const preamble = (tensors: number | bigint, kvs: number | bigint, version = 3) =>
  new Bytes().u8(0x47, 0x47, 0x55, 0x46).u32(version).u64(tensors).u64(kvs);

/** A file with the given kvs (already encoded) and one f32 tensor "t" of `n` floats at offset 0. */
function withTensorInfo(info: (b: Bytes) => Bytes, dataBytes = 64, kvs?: (b: Bytes) => Bytes, nKv = 0): Uint8Array {
  const b = preamble(1, nKv);
  kvs?.(b);
  info(b.str("t"));
  return b.align(32).zeros(dataBytes).build();
}

async function expectGgufError(bytes: Uint8Array, code: GgufErrorCode, offset?: number, message?: RegExp) {
  let error: unknown;
  try {
    await readGgufHeader(bytesSource(bytes));
  } catch (e) {
    error = e;
  }
  expect(error, `expected ${code}`).toBeInstanceOf(GgufError);
  const e = error as GgufError;
  expect(e.code, e.message).toBe(code);
  if (offset !== undefined) {
    expect(e.offset, e.message).toBe(offset);
    expect(e.message).toContain(`(at byte ${offset})`);
  }
  if (message) expect(e.message).toMatch(message);
}

/** A source that records every read request. */
function recording(inner: ByteSource): ByteSource & { requests: number[] } {
  const requests: number[] = [];
  return {
    size: inner.size,
    requests,
    read(offset, length) {
      requests.push(length);
      return inner.read(offset, length);
    },
  };
}

function metaValue(h: GgufHeader, key: string): GgufValue["value"] | undefined {
  return h.metadata.get(key)?.value;
}

describe("GGUF reader: real files", () => {
  it("reads stories260K: metadata in file order with exact types, tensor infos, layout", async () => {
    const h = await readGgufHeader(bytesSource(storiesBytes));
    expect(h.version).toBe(3);
    expect(h.alignment).toBe(32);
    expect(h.fileSize).toBe(storiesBytes.length);
    expect(h.dataOffset).toBe(14176);
    expect([...h.metadata.keys()].slice(0, 5)).toEqual([
      "tokenizer.ggml.tokens",
      "tokenizer.ggml.scores",
      "tokenizer.ggml.token_type",
      "tokenizer.ggml.model",
      "general.architecture",
    ]);
    expect(h.metadata.size).toBe(19);
    expect(h.metadata.get("llama.embedding_length")).toEqual({ type: T.UINT32, value: 64 });
    expect(h.metadata.get("tokenizer.ggml.seperator_token_id")).toEqual({ type: T.UINT32, value: 4294967295 });
    expect(h.metadata.get("general.architecture")).toEqual({ type: T.STRING, value: "llama" });
    const eps = h.metadata.get("llama.attention.layer_norm_rms_epsilon")!;
    expect(eps.type).toBe(T.FLOAT32);
    expect(eps.value).toBeCloseTo(1e-5, 10);

    const tokens = h.metadata.get("tokenizer.ggml.tokens")!;
    expect(tokens.type).toBe(T.ARRAY);
    const arr = tokens.value as { elementType: T; values: string[] };
    expect(arr.elementType).toBe(T.STRING);
    expect(arr.values.length).toBe(512);
    expect(arr.values.slice(0, 3)).toEqual(["<unk>", "<s>", "</s>"]);
    const scores = metaValue(h, "tokenizer.ggml.scores") as { elementType: T; values: Float32Array };
    expect(scores.elementType).toBe(T.FLOAT32);
    expect(scores.values).toBeInstanceOf(Float32Array);
    expect(scores.values.length).toBe(512);
    const types = metaValue(h, "tokenizer.ggml.token_type") as { elementType: T; values: Int32Array };
    expect(types.values).toBeInstanceOf(Int32Array);
    expect(Array.from(types.values.subarray(0, 3))).toEqual([2, 3, 3]);

    expect(h.tensors.length).toBe(48);
    expect(h.tensors[0]).toEqual({ name: "token_embd.weight", dims: [64, 512], type: GgmlType.F32, offset: 0, byteLength: 131072 });
    expect(h.tensors[8]).toMatchObject({ name: "blk.0.ffn_gate.weight", dims: [64, 172], offset: 311808 });
    const last = h.tensors[47]!;
    expect(h.dataOffset + last.offset + last.byteLength).toBe(storiesBytes.length);
  });

  it("reads tensor data by offset", async () => {
    const source = bytesSource(storiesBytes);
    const h = await readGgufHeader(source);
    const norm = h.tensors.find((t) => t.name === "output_norm.weight")!;
    const data = await readTensorData(source, h, norm);
    expect(data.length).toBe(256);
    const start = h.dataOffset + norm.offset;
    expect(Buffer.compare(data, storiesBytes.subarray(start, start + 256))).toBe(0);
    const values = new Float32Array(data.slice().buffer);
    expect(values.every((v) => Number.isFinite(v) && v > 0)).toBe(true); // RMSNorm gains

    // A source shorter than the header promised is caught at read time.
    const short = bytesSource(storiesBytes.subarray(0, start + 100));
    await expect(readTensorData(short, h, norm)).rejects.toMatchObject({ code: "TENSOR_OUT_OF_FILE" });
  });

  it("reads the SentencePiece vocabulary (32000 strings, bools, a U+FEFF token kept as is)", async () => {
    const h = await readGgufHeader(bytesSource(vocabBytes));
    expect(h.tensors).toEqual([]);
    expect(h.dataOffset).toBe(alignTo(vocabBytes.length, 32));
    const tokens = (metaValue(h, "tokenizer.ggml.tokens") as { values: string[] }).values;
    expect(tokens.length).toBe(32000);
    expect(tokens[29871]).toBe("▁");
    expect(tokens.includes("\uFEFF")).toBe(true);
    expect(h.metadata.get("tokenizer.ggml.add_bos_token")).toEqual({ type: T.BOOL, value: true });
    expect(h.metadata.get("tokenizer.ggml.add_eos_token")).toEqual({ type: T.BOOL, value: false });
  });

  it("reads GGUF v2 (same layout as v3)", async () => {
    const v2 = storiesBytes.slice();
    v2[4] = 2;
    const h = await readGgufHeader(bytesSource(v2));
    expect(h.version).toBe(2);
    expect(h.tensors.length).toBe(48);
  });
});

function alignTo(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

describe("GGUF reader: sources", () => {
  it("reads the same header through bytes, Blob, file handle and URL sources", async () => {
    const expected = await readGgufHeader(bytesSource(storiesBytes));
    const fromBlob = await readGgufHeader(blobSource(new Blob([storiesBytes])));
    expect(fromBlob).toEqual(expected);
    const file = await openFileSource(STORIES);
    try {
      expect(await readGgufHeader(file)).toEqual(expected);
      const t = expected.tensors[3]!;
      expect(Buffer.compare(await readTensorData(file, expected, t), await readTensorData(bytesSource(storiesBytes), expected, t))).toBe(0);
    } finally {
      await file.close();
    }
  });

  /** A fake HTTP server over `bytes`; `ranges` false makes it ignore Range like a naive static server. */
  function fakeFetch(bytes: Uint8Array, opts: { ranges: boolean; headLength: boolean }) {
    const log: string[] = [];
    const fn = (async (_url: string, init?: RequestInit) => {
      const headers = new Headers(init?.headers);
      if (init?.method === "HEAD") {
        log.push("HEAD");
        const h: Record<string, string> = opts.headLength ? { "content-length": String(bytes.length) } : {};
        return new Response(null, { status: 200, headers: h });
      }
      const range = headers.get("range");
      log.push(range ?? "GET");
      const m = range && opts.ranges ? /^bytes=(\d+)-(\d+)$/.exec(range) : null;
      if (m) return new Response(bytes.slice(Number(m[1]), Number(m[2]) + 1), { status: 206 });
      return new Response(bytes.slice(), { status: 200 });
    }) as unknown as typeof fetch;
    return { fn, log };
  }

  it("urlSource reads with Range requests through a cache of aligned blocks", async () => {
    const server = fakeFetch(storiesBytes, { ranges: true, headLength: true });
    const B = 65536;
    const source = await urlSource("https://example.test/m.gguf", { fetch: server.fn, blockBytes: B });
    const h = await readGgufHeader(source, { chunkSize: 4096 });
    expect(h.tensors.length).toBe(48);
    // The first block's reply has no Content-Range here (a server that hides it): HEAD gives the size.
    expect(server.log).toEqual([`bytes=0-${B - 1}`, "HEAD"]);
    const tensor = (name: string) => h.tensors.find((t) => t.name === name)!;
    const bytesOf = async (name: string) => {
      const t = tensor(name);
      const at = h.dataOffset + t.offset;
      expect(Buffer.compare(await readTensorData(source, h, t), storiesBytes.subarray(at, at + t.byteLength))).toBe(0);
      return at;
    };
    const normAt = await bytesOf("blk.0.attn_norm.weight");
    const block = Math.floor(normAt / B) * B;
    expect(server.log.at(-1)).toBe(`bytes=${block}-${block + B - 1}`);
    // Another tensor in the same block (read before it, as the loader does within a layer): no request.
    expect(Math.floor((await bytesOf("blk.0.attn_v.weight")) / B) * B).toBe(block);
    expect(server.log).toHaveLength(3);
    // A read of a block or more: the cached block serves its start, the rest is one request, exactly.
    const big = await source.read(normAt, 100_000);
    expect(Buffer.compare(big, storiesBytes.subarray(normAt, normAt + 100_000))).toBe(0);
    expect(server.log.at(-1)).toBe(`bytes=${block + B}-${normAt + 100_000 - 1}`);
  });

  it("urlSource falls back to one full fetch when the server ignores Range or gives no size", async () => {
    const expected = await readGgufHeader(bytesSource(storiesBytes));
    for (const [opts, gets] of [
      [{ ranges: false, headLength: true }, 1],
      [{ ranges: true, headLength: false }, 2], // the first range, then the whole body
    ] as const) {
      const server = fakeFetch(storiesBytes, opts);
      const source = await urlSource("https://example.test/m.gguf", { fetch: server.fn, blockBytes: 4096 });
      const h = await readGgufHeader(source, { chunkSize: 4096 });
      expect(h).toEqual(expected);
      await readTensorData(source, h, h.tensors[5]!);
      // One body download, never again.
      expect(server.log.filter((r) => r !== "HEAD").length).toBe(gets);
    }
  });
});

describe("GGUF reader: bounded memory", () => {
  it("parses the header through bounded chunk reads, never near the file size", async () => {
    // A 6 MB header: 1M f32 scores (4 MB, read piecewise into the typed array) and 100k strings.
    const metadata = new Map<string, GgufValue>([
      ["scores", { type: T.ARRAY, value: { elementType: T.FLOAT32, values: new Float32Array(1 << 20).fill(0.5) } }],
      ["tokens", { type: T.ARRAY, value: { elementType: T.STRING, values: Array.from({ length: 100_000 }, (_, i) => `token${i}`) } }],
    ]);
    const n = 1 << 20;
    const bytes = await writeGgufToBytes({
      metadata,
      tensors: [{ name: "w", dims: [n], type: GgmlType.F32, data: new Uint8Array(4 * n) }],
    });
    expect(bytes.length).toBeGreaterThan(9_000_000);
    const source = recording(bytesSource(bytes));
    const h = await readGgufHeader(source);
    expect((h.metadata.get("tokens")!.value as { values: string[] }).values[99_999]).toBe("token99999");
    expect(Math.max(...source.requests)).toBeLessThanOrEqual(1 << 20);
    expect(source.requests.length).toBeLessThan(20);

    const small = recording(bytesSource(bytes));
    await readGgufHeader(small, { chunkSize: 1000 });
    expect(Math.max(...small.requests)).toBeLessThanOrEqual(1000);
  });

  it("reads a real file through a file handle with bounded requests", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ternion-gguf-"));
    const path = join(dir, "v.gguf");
    writeFileSync(path, vocabBytes);
    const file = await openFileSource(path);
    try {
      const source = recording(file);
      const h = await readGgufHeader(source, { chunkSize: 64 * 1024 });
      expect(h.metadata.size).toBe(22);
      expect(Math.max(...source.requests)).toBeLessThanOrEqual(64 * 1024);
    } finally {
      await file.close();
    }
  });
});

describe("GGUF reader: malformed files give typed errors", () => {
  const f32Info =
    (dims: number[], offset = 0, type = 0) =>
    (b: Bytes) => {
      b.u32(dims.length);
      for (const d of dims) b.u64(d);
      return b.u32(type).u64(offset);
    };

  it("checks magic and version", async () => {
    await expectGgufError(new Uint8Array(0), "TRUNCATED", 0);
    await expectGgufError(new Uint8Array([0x47, 0x47]), "TRUNCATED", 0);
    await expectGgufError(new TextEncoder().encode("GGML\x03\0\0\0"), "BAD_MAGIC", 0, /"GGML"/);
    await expectGgufError(new Uint8Array([0x89, 0x50, 0x4e, 0x47]), "BAD_MAGIC", 0);
    await expectGgufError(preamble(0, 0, 1).build(), "UNSUPPORTED_VERSION", 4, /version 1/);
    await expectGgufError(preamble(0, 0, 4).build(), "UNSUPPORTED_VERSION", 4);
    await expectGgufError(preamble(0, 0, 0x03000000).build(), "UNSUPPORTED_VERSION", 4, /big-endian/);
    await expectGgufError(preamble(0, 0).build().subarray(0, 20), "TRUNCATED", 8);
  });

  it("rejects counts that cannot fit in the file before looping or allocating", async () => {
    await expectGgufError(preamble(0, 2n ** 63n).build(), "BAD_LENGTH", 16, /metadata entry count/);
    await expectGgufError(preamble(2n ** 64n - 1n, 0).build(), "BAD_LENGTH", 8, /tensor count/);
    await expectGgufError(
      preamble(0, 1)
        .u64(2n ** 62n)
        .zeros(16)
        .build(),
      "BAD_LENGTH",
      24,
      /metadata key #0/,
    );
    await expectGgufError(preamble(0, 1).str("k").u32(T.STRING).u64(1000).u8(1, 2).build(), "BAD_LENGTH", 37, /metadata "k"/);
    const arr = (count: bigint, type: T) => preamble(0, 1).str("k").u32(T.ARRAY).u32(type).u64(count).zeros(16).build();
    await expectGgufError(arr(2n ** 63n, T.UINT8), "BAD_LENGTH", 41, /array of/);
    await expectGgufError(arr(5n, T.FLOAT32), "BAD_LENGTH", 41); // 20 bytes > 16 left
    await expectGgufError(arr(3n, T.STRING), "BAD_LENGTH", 41); // 3 × 8-byte lengths > 16
    const longString = preamble(0, 1).str("k").u32(T.ARRAY).u32(T.STRING).u64(1).u64(1000).build();
    await expectGgufError(longString, "BAD_LENGTH", 49, /"k"\[0\]: string length 1000/);
  });

  it("rejects bad value types, bool bytes, deep nesting and duplicate keys", async () => {
    await expectGgufError(preamble(0, 1).str("k").u32(13).build(), "BAD_VALUE_TYPE", 33, /"k".*13/);
    await expectGgufError(preamble(0, 1).str("k").u32(T.ARRAY).u32(99).u64(0).build(), "BAD_VALUE_TYPE", 37);
    await expectGgufError(preamble(0, 1).str("k").u32(T.BOOL).u8(2).build(), "BAD_BOOL", 37);
    await expectGgufError(preamble(0, 1).str("k").u32(T.ARRAY).u32(T.BOOL).u64(3).u8(1, 0, 7).build(), "BAD_BOOL", 51, /"k"\[2\]/);
    const nested = (depth: number) => {
      const b = preamble(0, 1).str("k").u32(T.ARRAY);
      for (let i = 1; i < depth; i++) b.u32(T.ARRAY).u64(1);
      return b.u32(T.UINT8).u64(0).build();
    };
    await expect(readGgufHeader(bytesSource(nested(8)))).resolves.toBeDefined();
    await expectGgufError(nested(9), "NESTING_TOO_DEEP");
    await expectGgufError(preamble(0, 2).str("k").u32(T.UINT8).u8(1).str("k").u32(T.UINT8).u8(2).build(), "DUPLICATE_KEY", 38, /"k"/);
  });

  it("checks general.alignment", async () => {
    const alignFile = (type: T, v: number) => {
      const b = preamble(0, 1).str("general.alignment").u32(type);
      return (type === T.UINT64 ? b.u64(v) : b.u32(v)).build();
    };
    expect((await readGgufHeader(bytesSource(alignFile(T.UINT32, 64)))).alignment).toBe(64);
    await expectGgufError(alignFile(T.UINT32, 0), "BAD_ALIGNMENT", 53, /power of two/);
    await expectGgufError(alignFile(T.UINT32, 48), "BAD_ALIGNMENT", 53);
    await expectGgufError(alignFile(T.UINT64, 32), "BAD_ALIGNMENT", 53, /u32/);
  });

  it("checks tensor infos: n_dims, dims, overflow, type, shape, duplicates", async () => {
    // The tensor info starts at 24; its name "t" takes 9 bytes, so n_dims sits at 33 and dims[0] at 37.
    await expectGgufError(withTensorInfo(f32Info([])), "BAD_DIMS", 33, /n_dims 0/);
    await expectGgufError(withTensorInfo(f32Info([1, 1, 1, 1, 1])), "BAD_DIMS", 33, /tensor "t" has n_dims 5/);
    await expectGgufError(withTensorInfo(f32Info([4, 0])), "BAD_DIMS", 45, /dims\[1\] is 0/);
    await expectGgufError(withTensorInfo(f32Info([2 ** 32, 2 ** 32])), "DIM_OVERFLOW", 45);
    const huge = (b: Bytes) =>
      b
        .u32(1)
        .u64(2n ** 64n - 1n)
        .u32(0)
        .u64(0);
    await expectGgufError(withTensorInfo(huge), "DIM_OVERFLOW", 37);
    await expectGgufError(withTensorInfo(f32Info([16], 0, 2)), "UNKNOWN_TENSOR_TYPE", 45, /type id 2/);
    await expectGgufError(withTensorInfo(f32Info([16], 0, 1000)), "UNKNOWN_TENSOR_TYPE", 45);
    await expectGgufError(withTensorInfo(f32Info([100], 0, GgmlType.TQ2_0)), "BAD_TENSOR_SHAPE", 45, /TQ2_0/);
    const dup = preamble(2, 0).str("t").u32(1).u64(4).u32(0).u64(0).str("t").u32(1).u64(4).u32(0).u64(32);
    await expectGgufError(dup.align(32).zeros(64).build(), "DUPLICATE_TENSOR", 57, /"t"/);
  });

  it("checks the tensor data layout: alignment, file bounds, overlap", async () => {
    // Offset field of the single tensor "t" with one dim: 24 + 9 + 4 + 8 + 4 = 49.
    expect((await readGgufHeader(bytesSource(withTensorInfo(f32Info([16]))))).tensors[0]!.byteLength).toBe(64);
    await expectGgufError(withTensorInfo(f32Info([16], 4), 128), "MISALIGNED_TENSOR", 49, /offset 4/);
    await expectGgufError(withTensorInfo(f32Info([16], 32), 64), "TENSOR_OUT_OF_FILE", 49);
    await expectGgufError(withTensorInfo(f32Info([17], 0), 64), "TENSOR_OUT_OF_FILE", 49);
    const farOff = (b: Bytes) =>
      b
        .u32(1)
        .u64(16)
        .u32(0)
        .u64(2n ** 64n - 32n);
    await expectGgufError(withTensorInfo(farOff), "TENSOR_OUT_OF_FILE", 49);
    const two = (offB: number) =>
      preamble(2, 0).str("a").u32(1).u64(16).u32(0).u64(0).str("b").u32(1).u64(16).u32(0).u64(offB).align(32).zeros(128).build();
    expect((await readGgufHeader(bytesSource(two(64)))).tensors.length).toBe(2);
    await expectGgufError(two(32), "OVERLAPPING_TENSORS", 82, /"b".*overlaps "a"/);
  });

  it("gives TRUNCATED or TENSOR_OUT_OF_FILE for every truncation of a small file", async () => {
    const bytes = await writeGgufToBytes({
      metadata: new Map<string, GgufValue>([
        ["s", { type: T.STRING, value: "abc" }],
        ["a", { type: T.ARRAY, value: { elementType: T.STRING, values: ["x", "yz"] } }],
        ["n", { type: T.ARRAY, value: { elementType: T.ARRAY, values: [{ elementType: T.INT16, values: new Int16Array([1]) }] } }],
      ]),
      tensors: [{ name: "w", dims: [8], type: GgmlType.F32, data: new Uint8Array(32) }],
    });
    for (let n = 0; n < bytes.length; n++) {
      let error: unknown;
      try {
        await readGgufHeader(bytesSource(bytes.subarray(0, n)));
      } catch (e) {
        error = e;
      }
      expect(error, `truncated at ${n}`).toBeInstanceOf(GgufError);
      expect(["TRUNCATED", "BAD_LENGTH", "TENSOR_OUT_OF_FILE"]).toContain((error as GgufError).code);
    }
    await expect(readGgufHeader(bytesSource(bytes))).resolves.toBeDefined();
  });
});
