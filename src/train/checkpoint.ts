// The full training state as one byte string, so that a resumed run continues bit-exactly: the trainable
// parameters, the DLT codes (frozen in blockwise mode, but part of what the student is), the AdamW moments
// and step, the PRNG state, the data cursor, and free-form schedule metadata (e.g. the current block).
//
// Layout (little-endian): "TNCK", u32 version, u32 header length, header (UTF-8 JSON), then each tensor's raw
// bytes at the offset the header gives (relative to the data start, 8-byte aligned; the data start is the
// header end rounded up to 8). Raw bytes — never decimal text — are what makes the round trip exact.
import { ModelError } from "../runtime/errors.ts";
import { Xoshiro128 } from "../runtime/sampling/prng.ts";
import { modelLinears, type TrainModel } from "./model.ts";
import type { Param } from "./params.ts";
import type { TrainState } from "./trainer.ts";

const MAGIC = 0x4b434e54; // "TNCK" read as a little-endian u32
const VERSION = 1;

export type CheckpointArray = Float32Array | Float64Array | Int8Array;
type DType = "f32" | "f64" | "i8";

export interface Checkpoint {
  step: number;
  cursor: number;
  rng: [number, number, number, number];
  adamT: number;
  meta: Record<string, string | number | boolean>;
  tensors: Map<string, CheckpointArray>;
}

interface HeaderTensor {
  name: string;
  dtype: DType;
  length: number;
  offset: number;
}

const dtypeOf = (a: CheckpointArray): DType => (a instanceof Float64Array ? "f64" : a instanceof Int8Array ? "i8" : "f32");
const SIZE: Record<DType, number> = { f32: 4, f64: 8, i8: 1 };
const align8 = (x: number) => Math.ceil(x / 8) * 8;

export function encodeCheckpoint(c: Checkpoint): Uint8Array {
  const entries: HeaderTensor[] = [];
  let offset = 0;
  for (const [name, a] of c.tensors) {
    entries.push({ name, dtype: dtypeOf(a), length: a.length, offset });
    offset = align8(offset + a.byteLength);
  }
  const header = new TextEncoder().encode(
    JSON.stringify({ step: c.step, cursor: c.cursor, rng: c.rng, adamT: c.adamT, meta: c.meta, tensors: entries }),
  );
  const dataStart = align8(12 + header.length);
  const out = new Uint8Array(dataStart + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, VERSION, true);
  dv.setUint32(8, header.length, true);
  out.set(header, 12);
  let i = 0;
  for (const a of c.tensors.values()) {
    // Typed arrays are in the platform's byte order; every platform JS runs on today is little-endian.
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), dataStart + entries[i++]!.offset);
  }
  return out;
}

export function decodeCheckpoint(bytes: Uint8Array): Checkpoint {
  const fail = (why: string): never => {
    throw new ModelError("BAD_CHECKPOINT", `not a valid ternion checkpoint: ${why}`);
  };
  if (bytes.length < 12) fail("too short");
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) fail("bad magic");
  if (dv.getUint32(4, true) !== VERSION) fail(`version ${dv.getUint32(4, true)} (this build reads ${VERSION})`);
  const hlen = dv.getUint32(8, true);
  if (12 + hlen > bytes.length) fail("truncated header");
  let h: {
    step: number;
    cursor: number;
    rng: [number, number, number, number];
    adamT: number;
    meta: Record<string, string | number | boolean>;
    tensors: HeaderTensor[];
  };
  try {
    h = JSON.parse(new TextDecoder().decode(bytes.subarray(12, 12 + hlen)));
  } catch {
    return fail("the header is not JSON");
  }
  // The counters index the data stream and seed the PRNG on resume: a wrong one would train on other
  // windows (or on token 0, for a cursor outside the stream) without any error.
  const isCount = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
  for (const field of ["step", "cursor", "adamT"] as const) {
    if (!isCount(h[field])) fail(`${field} ${JSON.stringify(h[field])} is not a non-negative integer`);
  }
  const rng: unknown[] = Array.isArray(h.rng) ? h.rng : [];
  const isU32 = (w: unknown) => isCount(w) && (w as number) <= 0xffff_ffff;
  if (rng.length !== 4 || !rng.every(isU32) || rng.every((w) => w === 0)) {
    fail(`PRNG state ${JSON.stringify(h.rng)} is not four u32 words, not all zero`);
  }
  if (!Array.isArray(h.tensors)) fail("the header has no tensor list");
  const dataStart = align8(12 + hlen);
  const tensors = new Map<string, CheckpointArray>();
  for (const t of h.tensors) {
    if (!isCount(t.offset) || !isCount(t.length)) fail(`tensor ${t.name} has offset ${t.offset} and length ${t.length}`);
    const start = dataStart + t.offset;
    const size = t.length * SIZE[t.dtype];
    if (!(t.dtype in SIZE) || start + size > bytes.length) fail(`tensor ${t.name} lies outside the file`);
    const raw = bytes.slice(start, start + size); // a copy: aligned, and independent of the file buffer
    tensors.set(
      t.name,
      t.dtype === "f64" ? new Float64Array(raw.buffer) : t.dtype === "i8" ? new Int8Array(raw.buffer) : new Float32Array(raw.buffer),
    );
  }
  return { step: h.step, cursor: h.cursor, rng: h.rng, adamT: h.adamT, meta: h.meta ?? {}, tensors };
}

/**
 * The checkpoint of the parameters a run optimizes (s.params), its state, and the model's DLT codes.
 * `others`: parameters trained earlier that the current state no longer optimizes (the blockwise driver's
 * finished blocks), saved by value as `model:<name>` without optimizer moments.
 */
export function captureCheckpoint(model: TrainModel, s: TrainState, meta: Checkpoint["meta"] = {}, others: readonly Param[] = []): Checkpoint {
  const tensors = new Map<string, CheckpointArray>();
  for (const p of others) tensors.set(`model:${p.name}`, p.value);
  s.params.forEach((p, j) => {
    tensors.set(`param:${p.name}`, p.value);
    tensors.set(`adam.m:${p.name}`, s.adam.m[j]!);
    tensors.set(`adam.v:${p.name}`, s.adam.v[j]!);
  });
  for (const l of modelLinears(model)) if (l.kind === "dlt") tensors.set(`codes:${l.name}`, l.ternary.codes);
  return { step: s.step, cursor: s.cursor, rng: s.rng.state(), adamT: s.adam.t, meta, tensors };
}

/**
 * Loads a checkpoint into a model built the same way (same tensors, same trainable set, same precision)
 * and into a run state created for the same parameters. Throws, naming the tensor, on any mismatch — and before changing anything.
 */
export function restoreCheckpoint(model: TrainModel, s: TrainState, c: Checkpoint, others: readonly Param[] = []): void {
  const copies: [CheckpointArray, CheckpointArray][] = [];
  const take = (name: string, into: CheckpointArray) => {
    const src = c.tensors.get(name);
    if (!src) throw new ModelError("CHECKPOINT_MISMATCH", `checkpoint has no ${name}`);
    if (dtypeOf(src) !== dtypeOf(into) || src.length !== into.length) {
      throw new ModelError(
        "CHECKPOINT_MISMATCH",
        `checkpoint ${name} is ${dtypeOf(src)}[${src.length}], the model needs ${dtypeOf(into)}[${into.length}]`,
      );
    }
    copies.push([into, src]);
  };
  for (const p of others) take(`model:${p.name}`, p.value);
  s.params.forEach((p, j) => {
    take(`param:${p.name}`, p.value);
    take(`adam.m:${p.name}`, s.adam.m[j]!);
    take(`adam.v:${p.name}`, s.adam.v[j]!);
  });
  for (const l of modelLinears(model)) if (l.kind === "dlt") take(`codes:${l.name}`, l.ternary.codes);
  const expected = copies.length;
  if (c.tensors.size !== expected)
    throw new ModelError("CHECKPOINT_MISMATCH", `checkpoint holds ${c.tensors.size} tensors, this model trains ${expected}`);
  for (const [into, src] of copies) into.set(src as never);
  s.step = c.step;
  s.cursor = c.cursor;
  s.rng = Xoshiro128.fromState(c.rng);
  s.adam.t = c.adamT;
}
