// inspect and file opening on inputs whose claims are huge or wrong: memory bounded whatever a header claims,
// typed errors for what is not a model file.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ModelError, TernionError } from "../src/runtime/errors.ts";
import { readGgufHeader } from "../src/runtime/gguf/reader.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { bytesSource } from "../src/runtime/gguf/sources.ts";
import type { ByteSource } from "../src/runtime/gguf/source.ts";
import { GgufValueType as T } from "../src/runtime/gguf/types.ts";
import { inspectModel } from "../src/runtime/inspect.ts";
import { GgmlType } from "../src/runtime/tensor-types/table.ts";
import { ggufHeaderOnly } from "./helpers/synthetic-model.ts";

const TiB = 1024 ** 4;

/** A "sparse file": the header's bytes, then zeros up to `size`; reads of the data stop after `dataReads`. */
function sparseSource(header: Uint8Array, size: number, dataReads: number): ByteSource & { longestRead: number } {
  let reads = 0;
  const source = {
    size,
    longestRead: 0,
    async read(offset: number, length: number): Promise<Uint8Array> {
      source.longestRead = Math.max(source.longestRead, length);
      if (offset >= header.length && ++reads > dataReads) throw new TernionError("TEST_STOP", "enough data reads");
      const out = new Uint8Array(Math.min(length, size - offset)); // throws RangeError past ~2^32 elements
      out.set(header.subarray(Math.min(offset, header.length), Math.min(offset + length, header.length)));
      return out;
    },
  };
  return source;
}

describe("inspect on a header that claims a 1 TiB ternary tensor", () => {
  it("counts zero weights slice by slice: no read of the whole tensor (no 'Invalid typed array length')", async () => {
    // TQ2_0: 256 weights in 66 bytes; 2^32 rows of 4096 weights = 1.03 TiB.
    const { header, fileSize } = await ggufHeaderOnly({
      metadata: new Map([["general.architecture", { type: T.STRING, value: "llama" }]]),
      tensors: [{ name: "blk.0.attn_q.weight", dims: [4096, 2 ** 32], type: GgmlType.TQ2_0, data: new Uint8Array() }],
    });
    expect(fileSize).toBeGreaterThan(TiB);
    const source = sparseSource(header, fileSize, 3);
    await expect(inspectModel(source)).rejects.toMatchObject({ code: "TEST_STOP" });
    expect(source.longestRead).toBeLessThanOrEqual(1 << 20);
    // without the sparsity count, the header alone answers
    const report = await inspectModel(sparseSource(header, fileSize, 0), { sparsity: false });
    expect(report.tensors[0]?.bytes).toBeGreaterThan(TiB);
  });
});

describe("opening a model path", () => {
  it("a directory is a typed error, not a bare EISDIR", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ternion-dir-model-"));
    try {
      await expect(openFileSource(dir)).rejects.toThrow(ModelError);
      await expect(openFileSource(dir)).rejects.toMatchObject({ code: "MODEL_UNREADABLE", message: expect.stringContaining("is a directory") });
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
});

describe("names read from a file inside error messages", () => {
  it("are quoted with control characters escaped and cut short: one line, no escape sequence", async () => {
    const key = `\u001b[2J\u001b]0;owned\u0007\n${"k".repeat(500)}`;
    const keyBytes = new TextEncoder().encode(key);
    const file = new Uint8Array(4 + 4 + 8 + 8 + 8 + keyBytes.length + 4 + 16);
    const view = new DataView(file.buffer);
    file.set([0x47, 0x47, 0x55, 0x46]);
    view.setUint32(4, 3, true);
    view.setBigUint64(8, 0n, true); // tensors
    view.setBigUint64(16, 1n, true); // metadata entries
    view.setBigUint64(24, BigInt(keyBytes.length), true);
    file.set(keyBytes, 32);
    view.setUint32(32 + keyBytes.length, 99, true); // no such value type
    const error = await readGgufHeader(bytesSource(file)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "BAD_VALUE_TYPE" });
    const message = (error as Error).message;
    expect(message).toContain('"\\u001b[2J\\u001b]0;owned\\u0007\\u000a');
    expect(message).toContain(`(${key.length} characters)`);
    expect(message.length).toBeLessThan(300);
    expect([...message].some((c) => c.charCodeAt(0) < 0x20 || (c.charCodeAt(0) >= 0x7f && c.charCodeAt(0) <= 0x9f))).toBe(false);
  });
});
