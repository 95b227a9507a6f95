// Property-based fuzzing of the GGUF reader with mutated and truncated real files: reading must either
// succeed with a self-consistent header or throw a GgufError — never another error, a hang or a huge
// allocation. Each source file is read once; mutations are applied to in-memory copies.
import { afterAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { sharedPath } from "./helpers/shared.ts";
import { GgufError } from "../src/runtime/errors.ts";
import { tensorByteLength } from "../src/runtime/tensor-types/table.ts";
import { bytesSource } from "../src/runtime/gguf/sources.ts";
import { readGgufHeader, readTensorData } from "../src/runtime/gguf/reader.ts";
import type { GgufHeader } from "../src/runtime/gguf/types.ts";
import type { ByteSource } from "../src/runtime/gguf/source.ts";

interface Corpus {
  name: string;
  bytes: Uint8Array;
  /** End of the header (start of the data section, or the file end). */
  headerEnd: number;
  /** Offsets of u64 fields that look like lengths or counts: targets for huge-value overwrites. */
  lengthFields: number[];
}

const stats = { cases: 0, ok: 0, errors: new Map<string, number>(), ms: 0 };

function load(name: string, path: string, headerEnd: number): Corpus {
  const bytes = new Uint8Array(readFileSync(sharedPath(path)));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthFields: number[] = [];
  // Heuristic scan (the test must not trust the parser it tests): a small nonzero u64 is a string length,
  // count or dim far more often than not.
  for (let p = 8; p + 8 <= headerEnd; p++) {
    const v = view.getBigUint64(p, true);
    if (v > 0n && v <= 100_000n) lengthFields.push(p);
  }
  return { name, bytes, headerEnd: Math.min(headerEnd, bytes.length), lengthFields };
}

/** Plain checks: vitest's expect costs microseconds per call, which adds up over 10^5 tensor checks. */
function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`inconsistent header: ${what}`);
}

/** Invariants every successfully parsed header must satisfy. */
function checkConsistent(h: GgufHeader, size: number): void {
  check(h.version === 2 || h.version === 3, `version ${h.version}`);
  check(h.fileSize === size, "fileSize");
  check(h.alignment > 0 && (h.alignment & (h.alignment - 1)) === 0, `alignment ${h.alignment}`);
  check(h.dataOffset % h.alignment === 0, "dataOffset alignment");
  check(new Set(h.tensors.map((t) => t.name)).size === h.tensors.length, "unique tensor names");
  for (const t of h.tensors) {
    check(t.dims.length >= 1 && t.dims.length <= 4, `${t.name} n_dims`);
    check(
      t.dims.every((d) => Number.isSafeInteger(d) && d >= 1),
      `${t.name} dims`,
    );
    check(t.byteLength === tensorByteLength(t.type, t.dims), `${t.name} byteLength`);
    check(t.offset % h.alignment === 0, `${t.name} offset alignment`);
    check(h.dataOffset + t.offset + t.byteLength <= size, `${t.name} inside the file`);
  }
  const sorted = [...h.tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    check(sorted[i]!.offset >= sorted[i - 1]!.offset + sorted[i - 1]!.byteLength, `${sorted[i]!.name} overlaps`);
  }
}

async function readAndCheck(source: ByteSource): Promise<void> {
  stats.cases++;
  let header: GgufHeader;
  try {
    header = await readGgufHeader(source, { chunkSize: 64 * 1024 });
  } catch (e) {
    if (!(e instanceof GgufError)) throw new Error(`non-GgufError thrown: ${String(e)}`, { cause: e });
    check(typeof e.code === "string" && e.message.length > 0, "error code and message");
    if (e.offset !== undefined) check(e.offset >= 0 && e.offset <= source.size, `error offset ${e.offset}`);
    stats.errors.set(e.code, (stats.errors.get(e.code) ?? 0) + 1);
    return;
  }
  stats.ok++;
  checkConsistent(header, source.size);
  if (header.tensors.length > 0) {
    const t = header.tensors[header.tensors.length - 1]!;
    check((await readTensorData(source, header, t)).length === t.byteLength, "tensor data length");
  }
}

type Mutation =
  | { kind: "flip"; pos: number; mask: number }
  | { kind: "set"; pos: number; bytes: number[] }
  | { kind: "insert"; pos: number; bytes: number[] }
  | { kind: "delete"; pos: number; count: number }
  | { kind: "u64"; pos: number; value: bigint }
  | { kind: "u32"; pos: number; value: number };

function mutationArb(c: Corpus): fc.Arbitrary<Mutation> {
  // Half the positions land in the header, where the parser looks; the rest anywhere in the file.
  const pos = fc.oneof(fc.nat({ max: c.headerEnd - 1 }), fc.nat({ max: c.bytes.length - 1 }));
  const hugeU64 = fc.oneof(
    fc.constantFrom(2n ** 64n - 1n, 2n ** 63n, 2n ** 53n, 2n ** 32n, 2n ** 31n, BigInt(c.bytes.length), BigInt(c.bytes.length + 1), 0n),
    fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  );
  return fc.oneof(
    fc.record({ kind: fc.constant("flip" as const), pos, mask: fc.integer({ min: 1, max: 255 }) }),
    fc.record({ kind: fc.constant("set" as const), pos, bytes: fc.array(fc.nat({ max: 255 }), { minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant("insert" as const), pos, bytes: fc.array(fc.nat({ max: 255 }), { minLength: 1, maxLength: 8 }) }),
    fc.record({ kind: fc.constant("delete" as const), pos, count: fc.integer({ min: 1, max: 16 }) }),
    fc.record({ kind: fc.constant("u64" as const), pos: fc.constantFrom(...c.lengthFields), value: hugeU64 }),
    fc.record({ kind: fc.constant("u64" as const), pos, value: hugeU64 }),
    fc.record({
      kind: fc.constant("u32" as const),
      pos,
      value: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.constantFrom(0xffffffff, 0x80000000, 4, 5)),
    }),
  );
}

/**
 * A mutated file as a list of segments: views of the original plus the few bytes a mutation changed.
 * Copying a 1.2 MB file per case would cost more than parsing it; this keeps a case at the cost of a parse.
 */
class Patched {
  constructor(private segs: Uint8Array[]) {}

  get size(): number {
    return this.segs.reduce((n, s) => n + s.length, 0);
  }

  /** Splits the segments so that one starts at `pos`; returns its index. */
  private split(pos: number): number {
    let at = 0;
    for (let i = 0; i < this.segs.length; i++) {
      const s = this.segs[i]!;
      if (pos === at) return i;
      if (pos < at + s.length) {
        this.segs.splice(i, 1, s.subarray(0, pos - at), s.subarray(pos - at));
        return i + 1;
      }
      at += s.length;
    }
    return this.segs.length;
  }

  /** Replaces `[pos, pos + removed)` with `bytes`. */
  splice(pos: number, removed: number, bytes: Uint8Array): void {
    pos = Math.min(pos, this.size);
    removed = Math.min(removed, this.size - pos);
    const i = this.split(pos);
    const j = this.split(pos + removed);
    this.segs.splice(i, j - i, bytes);
  }

  read(offset: number, length: number): Uint8Array {
    const end = Math.min(offset + length, this.size);
    const out = new Uint8Array(Math.max(0, end - offset));
    let at = 0;
    for (const s of this.segs) {
      const lo = Math.max(offset, at);
      const hi = Math.min(end, at + s.length);
      if (lo < hi) {
        if (lo === offset && hi === end) return s.subarray(lo - at, hi - at); // one segment: no copy
        out.set(s.subarray(lo - at, hi - at), lo - offset);
      }
      at += s.length;
    }
    return out;
  }

  apply(m: Mutation): void {
    const pos = Math.min(m.pos, this.size);
    switch (m.kind) {
      case "flip": {
        const b = this.read(pos, 1).slice();
        if (b.length === 1) this.splice(pos, 1, new Uint8Array([b[0]! ^ m.mask]));
        return;
      }
      case "set":
        return this.splice(pos, m.bytes.length, new Uint8Array(m.bytes));
      case "insert":
        return this.splice(pos, 0, new Uint8Array(m.bytes));
      case "delete":
        return this.splice(pos, m.count, new Uint8Array(0));
      case "u64":
      case "u32": {
        const width = m.kind === "u64" ? 8 : 4;
        const b = new Uint8Array(width);
        if (m.kind === "u64") new DataView(b.buffer).setBigUint64(0, m.value, true);
        else new DataView(b.buffer).setUint32(0, m.value, true);
        return this.splice(pos, width, b);
      }
    }
  }

  source(): ByteSource {
    const size = this.size;
    return { size, read: async (offset, length) => this.read(offset, length) };
  }
}

const corpora: Corpus[] = [
  // Header ends: stories260K data section at 14176, the vocabulary is all header.
  load("stories260K", "models/stories260K.gguf", 14176),
  load("vocab-llama-spm", "vocab/ggml-vocab-llama-spm.gguf", 723869),
];

// The case counts that keep the whole file well under a minute on a 2-core CI runner: a vocabulary parse
// (32000 strings) costs milliseconds, the stories260K header a fraction of one.
const RUNS: Record<string, number> = { stories260K: 10_000, "vocab-llama-spm": 2500 };

describe("GGUF reader fuzz", () => {
  const started = performance.now();
  afterAll(() => {
    stats.ms = performance.now() - started;
    const errors = [...stats.errors]
      .sort((a, b) => b[1] - a[1])
      .map(([c, n]) => `${c} ${n}`)
      .join(", ");
    console.log(
      `gguf fuzz: ${stats.cases} cases (${stats.ok} parsed, ${stats.cases - stats.ok} GgufError) in ${(stats.ms / 1000).toFixed(1)} s; errors: ${errors}`,
    );
  });

  for (const c of corpora) {
    it(`${c.name}: 1–3 random mutations read cleanly or throw GgufError`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(mutationArb(c), { minLength: 1, maxLength: 3 }), async (ms) => {
          const file = new Patched([c.bytes]);
          for (const m of ms) file.apply(m);
          await readAndCheck(file.source());
        }),
        { numRuns: RUNS[c.name], timeout: 5000 },
      );
    });

    it(`${c.name}: truncation at every header position and sampled data positions`, async () => {
      // Every byte of a small header; a stride through a large one and through the tensor data.
      const step = c.headerEnd > 20_000 ? Math.ceil(c.headerEnd / 800) : 1;
      for (let n = 0; n < c.headerEnd; n += step) await readAndCheck(bytesSource(c.bytes.subarray(0, n)));
      for (let n = c.headerEnd; n < c.bytes.length; n += 4099) await readAndCheck(bytesSource(c.bytes.subarray(0, n)));
      await readAndCheck(bytesSource(c.bytes)); // and the intact file reads
    });
  }

  it("ran at least 10,000 cases", () => {
    expect(stats.cases).toBeGreaterThanOrEqual(10_000);
  });
});
