// The hostile checkpoints: a good checkpoint of a short real run (blockwise, resumable mid-run), damaged the ways
// a disk, a truncated copy or an attacker would. "raw" damage leaves the checksum as it was (the checksum must
// catch it); "sealed" damage re-computes it (./checkpoint-bytes.ts), so that the checks of the header, the
// tensors, the values and the run's origin behind it are what must catch it. Each resumed run must end as the
// clean run did or fail with BAD_CHECKPOINT; every case but the fuzzer's is damage that must fail.
//
// A checksum is not a signature: whoever re-seals a file can also write another consistent state (other PRNG
// words, two same-shaped tensors' names swapped), which resumes as that state. The sealed cases are the edits
// that leave the state inconsistent — out of range, of the wrong type or shape, not finite, of another run.
import fc from "fast-check";
import type { HostileCheckpointCase } from "./case.ts";
import { asVersion1, assembleCheckpoint, editHeader, editTensor, type Header, PREFIX_BYTES, splitCheckpoint } from "./checkpoint-bytes.ts";

/** Cases whose name starts so are random mutations that may leave the file as it was; every other must be refused. */
export const FUZZ_PREFIX = "checkpoint/fuzz/";

const copy = (b: Uint8Array) => Uint8Array.from(b);
const flip =
  (at: (b: Uint8Array) => number, bit = 0x10) =>
  (b: Uint8Array) => {
    const x = copy(b);
    x[at(x)]! ^= bit;
    return x;
  };
const dataStart = (b: Uint8Array) => b.length - splitCheckpoint(b).data.length;

/** Raw damage: the bytes change, the checksum stays. */
function rawCases(): HostileCheckpointCase[] {
  const middle = (b: Uint8Array) => Math.floor(b.length / 2);
  return [
    { name: "checkpoint/truncated/empty", corrupt: () => new Uint8Array(0) },
    { name: "checkpoint/truncated/11-bytes", corrupt: (b) => b.slice(0, 11) },
    { name: "checkpoint/truncated/in-prefix", corrupt: (b) => b.slice(0, 30) },
    { name: "checkpoint/truncated/in-header", corrupt: (b) => b.slice(0, PREFIX_BYTES + 40) },
    { name: "checkpoint/truncated/at-data-start", corrupt: (b) => b.slice(0, dataStart(b)) },
    { name: "checkpoint/truncated/half", corrupt: (b) => b.slice(0, middle(b)) },
    { name: "checkpoint/truncated/last-byte", corrupt: (b) => b.slice(0, b.length - 1) },
    { name: "checkpoint/extended/one-byte", corrupt: (b) => Uint8Array.from([...b, 0]) },
    { name: "checkpoint/extended/a-copy-of-itself", corrupt: (b) => Uint8Array.from([...b, ...b]) },
    { name: "checkpoint/bit-flip/magic", corrupt: flip(() => 1) },
    { name: "checkpoint/bit-flip/version", corrupt: flip(() => 4, 0x02) },
    { name: "checkpoint/bit-flip/header-length", corrupt: flip(() => 9, 0x01) },
    { name: "checkpoint/bit-flip/data-length", corrupt: flip(() => 13, 0x01) },
    { name: "checkpoint/bit-flip/data-length-high", corrupt: flip(() => 19, 0x80) },
    { name: "checkpoint/bit-flip/checksum", corrupt: flip(() => 30) },
    { name: "checkpoint/bit-flip/header-first", corrupt: flip(() => PREFIX_BYTES) },
    {
      name: "checkpoint/bit-flip/header-step-digit",
      corrupt: flip((b) => PREFIX_BYTES + new TextDecoder().decode(b.subarray(PREFIX_BYTES)).indexOf('"step":') + 7, 0x01),
    },
    { name: "checkpoint/bit-flip/data-first", corrupt: flip(dataStart) },
    { name: "checkpoint/bit-flip/data-middle", corrupt: flip(middle) },
    { name: "checkpoint/bit-flip/data-last", corrupt: flip((b) => b.length - 1) },
    { name: "checkpoint/bit-flip/float-sign", corrupt: flip((b) => dataStart(b) + 3, 0x80) },
    { name: "checkpoint/zeroed/first-half", corrupt: (b) => copy(b).fill(0, 0, middle(b)) },
    { name: "checkpoint/zeroed/second-half", corrupt: (b) => copy(b).fill(0, middle(b)) },
    { name: "checkpoint/zeroed/data-second-half", corrupt: (b) => copy(b).fill(0, dataStart(b) + Math.floor((b.length - dataStart(b)) / 2)) },
    { name: "checkpoint/zeroed/checksum", corrupt: (b) => copy(b).fill(0, 20, PREFIX_BYTES) },
    {
      name: "checkpoint/zeroed/one-tensor",
      corrupt: (b) => {
        const t = (JSON.parse(splitCheckpoint(b).header) as Header).tensors.find((x) => x.name.startsWith("param:"))!;
        return copy(b).fill(0, dataStart(b) + t.offset, dataStart(b) + t.offset + 4 * t.length);
      },
    },
    {
      name: "checkpoint/raw/nan-in-data",
      corrupt: (b) => {
        const x = copy(b);
        new DataView(x.buffer).setFloat32(dataStart(x), Number.NaN, true);
        return x;
      },
    },
    { name: "checkpoint/raw/prefix-of-another-file", corrupt: (b) => Uint8Array.from([...new TextEncoder().encode("GGUF"), ...b.subarray(4)]) },
    {
      name: "checkpoint/garbage/random-bytes",
      corrupt: (b) => {
        let s = 12345;
        return Uint8Array.from({ length: b.length }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0), s >>> 24));
      },
    },
    { name: "checkpoint/version/1-the-old-format", corrupt: asVersion1 },
    {
      name: "checkpoint/version/3",
      corrupt: (b) => {
        const { header, data } = splitCheckpoint(b);
        return assembleCheckpoint(header, data, { version: 3 });
      },
    },
  ];
}

/** Sealed damage to the values: each section's first tensor. */
function valueCases(): HostileCheckpointCase[] {
  const sections = ["param:", "adam.m:", "adam.v:", "model:"];
  const cases: HostileCheckpointCase[] = [];
  for (const section of sections) {
    for (const [what, v] of [
      ["nan", Number.NaN],
      ["inf", Number.POSITIVE_INFINITY],
      ["minus-inf", Number.NEGATIVE_INFINITY],
    ] as const) {
      cases.push({ name: `checkpoint/values/${section.slice(0, -1)}-${what}`, corrupt: (b) => editTensor(b, section, (x) => void (x[0] = v)) });
    }
    cases.push({
      name: `checkpoint/values/${section.slice(0, -1)}-last-nan`,
      corrupt: (b) => editTensor(b, section, (x) => void (x[x.length - 1] = Number.NaN)),
    });
  }
  cases.push(
    { name: "checkpoint/values/adam.v-negative", corrupt: (b) => editTensor(b, "adam.v:", (x) => void (x[0] = -1e-3)) },
    { name: "checkpoint/values/codes-2", corrupt: (b) => editTensor(b, "codes:", (x) => void (x[0] = 2)) },
    { name: "checkpoint/values/codes-minus-128", corrupt: (b) => editTensor(b, "codes:", (x) => void (x[5] = -128)) },
  );
  return cases;
}

/** Sealed edits of the header: every field, out of range or of the wrong type. */
function headerCases(): HostileCheckpointCase[] {
  const edit = (name: string, f: (h: Header) => unknown): HostileCheckpointCase => ({
    name: `checkpoint/header/${name}`,
    corrupt: (b) => editHeader(b, f),
  });
  const set = (field: string, value: unknown) => edit(`${field}=${JSON.stringify(value) ?? "undefined"}`, (h) => void (h[field] = value));
  const setMeta = (field: string, value: unknown) =>
    edit(`meta.${field}=${JSON.stringify(value) ?? "undefined"}`, (h) => void (h.meta[field] = value));
  const setTensor = (field: string, label: string, value: (t: { length: number; offset: number }) => unknown) =>
    edit(`tensors[1].${field}=${label}`, (h) => void ((h.tensors[1] as unknown as Record<string, unknown>)[field] = value(h.tensors[1]!)));
  const cases: HostileCheckpointCase[] = [];
  for (const v of [99, 7, 8, 1_000_000, -1, 0.5, 1e300, 2 ** 53, "1", null, true, [1]]) cases.push(set("step", v));
  cases.push(edit("step-missing", (h) => void delete h.step));
  for (const v of [5, -1, 1.5, 2 ** 60]) cases.push(set("cursor", v));
  for (const v of [99, -1, 0.5]) cases.push(set("adamT", v));
  for (const v of [[0, 0, 0, 0], [1, 2, 3], [1, 2, 3, 2 ** 32], [1, 2, 3, -4], [1, 2, 3, 0.5], null, "seed"]) cases.push(set("rng", v));
  cases.push(set("meta", null), set("meta", []), set("meta", "x"));
  for (const v of [99, 5, -1, 0.5, "1", null]) cases.push(setMeta("block", v));
  for (const v of [99, 7, 2, -3, 1e300, "3"]) cases.push(setMeta("runStep", v));
  for (const v of ["full", "", 1]) cases.push(setMeta("schedule", v));
  cases.push(
    setMeta("losses", "[1,2]"),
    setMeta("losses", "[1,2,NaN]"),
    setMeta("losses", "[1,2,1e999]"),
    setMeta("losses", "not json"),
    setMeta("losses", '{"0":1}'),
    setMeta("losses", undefined),
    setMeta("losses", { nested: true }),
    edit("meta.losses-one-more", (h) => void (h.meta.losses = JSON.stringify([...JSON.parse(String(h.meta.losses)), 1]))),
    // Another teacher, other data, other options: what a resume with those would find.
    edit("meta.teacher-another-file", (h) => void (h.meta.teacher = "0".repeat(64))),
    setMeta("teacher", undefined),
    edit("meta.data-other-text", (h) => void (h.meta.data = "f".repeat(64))),
    edit("meta.options-other-lr", (h) => void (h.meta.options = String(h.meta.options).replace('"lr":', '"lr":1e-9,"was":'))),
    edit("meta.options-other-steps", (h) => void (h.meta.options = String(h.meta.options).replace(/"steps":\d+/, '"steps":70'))),
    setMeta("options", "{}"),
    setMeta("options", 3),
    setMeta("extra", { an: "object" }),
    setMeta("extra", null),
  );
  cases.push(
    set("tensors", null),
    edit("tensors-missing", ({ tensors: _, ...rest }) => rest),
    set("tensors", []),
    set("tensors", {}),
    set("tensors", [null]),
    set("tensors", "all"),
    edit("tensors-first-removed", (h) => void h.tensors.shift()),
    edit("tensors-last-removed", (h) => void h.tensors.pop()),
    edit("tensors-extra-entry", (h) => void h.tensors.push({ ...h.tensors.at(-1)!, name: "param:extra" })),
    edit("tensors-duplicate-name", (h) => void (h.tensors[1]!.name = h.tensors[0]!.name)),
    edit("tensors-renamed", (h) => void (h.tensors[0]!.name = `${h.tensors[0]!.name}.x`)),
    edit("tensors-empty-name", (h) => void (h.tensors[0]!.name = "")),
    edit("tensors-swapped", (h) => void ([h.tensors[0], h.tensors[1]] = [h.tensors[1]!, h.tensors[0]!])),
    edit("tensors-names-swapped", (h) => {
      const other = h.tensors.find((t) => t.length !== h.tensors[0]!.length)!;
      [h.tensors[0]!.name, other.name] = [other.name, h.tensors[0]!.name];
    }),
    edit("tensors[0].dtype=f64", (h) => void (h.tensors[0]!.dtype = "f64")),
    edit("tensors[0].dtype=f16", (h) => void (h.tensors[0]!.dtype = "f16")),
    edit("tensors[0].dtype=toString", (h) => void (h.tensors[0]!.dtype = "toString")),
    edit("tensors[0].extra-field", (h) => void ((h.tensors[0] as unknown as Record<string, unknown>).shape = [1, 2])),
    setTensor("length", "plus-1", (t) => t.length + 1),
    setTensor("length", "minus-2", (t) => t.length - 2),
    setTensor("length", "2^50", () => 2 ** 50),
    setTensor("length", "-1", () => -1),
    setTensor("length", "null", () => null),
    setTensor("offset", "plus-8", (t) => t.offset + 8),
    setTensor("offset", "minus-8", (t) => t.offset - 8),
    setTensor("offset", "2^53", () => 2 ** 53),
    setTensor("offset", "string", () => "0"),
    edit("unknown-field", (h) => void (h.extra = 1)),
  );
  cases.push(
    ...["null", "[]", "42", '"text"', "{}", ""].map((text) => ({
      name: `checkpoint/header/is-${JSON.stringify(text)}`,
      corrupt: (b: Uint8Array) => assembleCheckpoint(text, splitCheckpoint(b).data),
    })),
    {
      name: "checkpoint/header/json-cut-in-half",
      corrupt: (b) => {
        const { header, data } = splitCheckpoint(b);
        return assembleCheckpoint(header.slice(0, header.length / 2), data);
      },
    },
    {
      name: "checkpoint/header/not-utf8",
      corrupt: (b) => {
        const { header, data } = splitCheckpoint(b);
        const h = new TextEncoder().encode(header);
        h[h.indexOf(0x22) + 1] = 0xff; // in the first key
        return assembleCheckpoint(h, data);
      },
    },
    {
      name: "checkpoint/prefix/header-length-huge",
      corrupt: (b) => {
        const { header, data } = splitCheckpoint(b);
        return assembleCheckpoint(header, data, { headerLength: 0xffff_ffff });
      },
    },
    {
      name: "checkpoint/prefix/data-length-huge",
      corrupt: (b) => {
        const { header, data } = splitCheckpoint(b);
        return assembleCheckpoint(header, data, { dataLength: 2n ** 63n });
      },
    },
    {
      name: "checkpoint/prefix/data-length-one-less",
      corrupt: (b) => {
        const { header, data } = splitCheckpoint(b);
        return assembleCheckpoint(header, data.subarray(0, data.length - 1));
      },
    },
  );
  return cases;
}

/**
 * Random mutations (fast-check, a fixed seed so that the corpus is stable): bytes set, ranges zeroed, cut or
 * appended, none re-sealed. Each is a case; test/train-checkpoint-verify.test.ts runs more of them in-process.
 */
export function checkpointMutation(): fc.Arbitrary<{ label: string; apply: (b: Uint8Array) => Uint8Array }> {
  // A place in the file as a fraction, uniform over it (fc.double favours the ends).
  const at = fc.integer({ min: 0, max: 999_999 }).map((n) => n / 1_000_000);
  return fc.oneof(
    fc.tuple(at, fc.integer({ min: 0, max: 255 })).map(([p, v]) => ({
      label: `set-${p.toFixed(4)}-${v}`,
      apply: (b: Uint8Array) => {
        const x = Uint8Array.from(b);
        x[Math.floor(p * x.length)] = v;
        return x;
      },
    })),
    fc.tuple(at, fc.integer({ min: 1, max: 4096 })).map(([p, n]) => ({
      label: `zero-${p.toFixed(4)}-${n}`,
      apply: (b: Uint8Array) => Uint8Array.from(b).fill(0, Math.floor(p * b.length), Math.floor(p * b.length) + n),
    })),
    at.map((p) => ({ label: `cut-${p.toFixed(4)}`, apply: (b: Uint8Array) => b.slice(0, Math.floor(p * b.length)) })),
    fc
      .uint8Array({ minLength: 1, maxLength: 64 })
      .map((tail) => ({ label: `append-${tail.length}`, apply: (b: Uint8Array) => Uint8Array.from([...b, ...tail]) })),
  );
}

function fuzzCases(count: number): HostileCheckpointCase[] {
  return fc.sample(checkpointMutation(), { seed: 15, numRuns: count }).map((m, i) => ({ name: `${FUZZ_PREFIX}${i}-${m.label}`, corrupt: m.apply }));
}

export function checkpointCases(): HostileCheckpointCase[] {
  const cases = [...rawCases(), ...valueCases(), ...headerCases(), ...fuzzCases(12)];
  const names = new Set<string>();
  for (const c of cases) {
    if (names.has(c.name)) throw new Error(`two checkpoint cases are named ${c.name}`);
    names.add(c.name);
  }
  return cases;
}
