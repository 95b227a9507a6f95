// The full training state as one byte string, so that a resumed run continues bit-exactly: the trainable
// parameters, the DLT codes (frozen in blockwise mode, but part of what the student is), the salient positions
// of a student that keeps salient weights (`salient:<matrix>`, its 0/1 mask; the kept values are parameters),
// the AdamW moments and step, the PRNG state, the data cursor, and free-form schedule metadata (e.g. the current block).
//
// Layout (little-endian): "TNCK", u32 version, u32 header length, u64 data length, the sha256 of every other
// byte of the file (the 20 bytes before it and all after it), the header (UTF-8 JSON), then each tensor's raw
// bytes at the offset the header gives (relative to the data start, 8-byte aligned; the data start is the
// header end rounded up to 8). Raw bytes — never decimal text — are what makes the round trip exact.
//
// A checkpoint is input like any file: decodeCheckpoint verifies the checksum, the header's types and ranges,
// every tensor's place in the file (before allocating it) and every float's finiteness, and restoreCheckpoint
// that it fits the model, all before anything changes; any failure is a CheckpointError naming what is wrong.
import { CheckpointError } from "../runtime/errors.ts";
import { Xoshiro128 } from "../runtime/sampling/prng.ts";
import { sha256Hex } from "./digest.ts";
import { modelLinears, type TrainModel } from "./model.ts";
import type { Param } from "./params.ts";
import { type SalientWeights, positionsOf } from "./salient.ts";
import type { TrainState } from "./trainer.ts";

const MAGIC = 0x4b434e54; // "TNCK" read as a little-endian u32
/** 1: no checksum (before integrity checks). 2: the sha256 and data length in the prefix. */
export const CHECKPOINT_VERSION = 2;
const DIGEST_AT = 20;
const PREFIX = DIGEST_AT + 32;

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

/** The checksum a file of these bytes must carry: over everything but the digest itself. */
function checksum(bytes: Uint8Array): string {
  return sha256Hex(bytes.subarray(0, DIGEST_AT), bytes.subarray(PREFIX));
}

const hexBytes = (hex: string) => Uint8Array.from(hex.match(/../g)!, (b) => Number.parseInt(b, 16));
const toHex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

/** A salient mask (0/1 bytes) as the checkpoint's i8 tensor: a view, so restoring into it fills the mask. */
const maskBytes = (mask: Uint8Array) => new Int8Array(mask.buffer, mask.byteOffset, mask.length);

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
  const dataStart = align8(PREFIX + header.length);
  const out = new Uint8Array(dataStart + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, CHECKPOINT_VERSION, true);
  dv.setUint32(8, header.length, true);
  dv.setBigUint64(12, BigInt(offset), true);
  out.set(header, PREFIX);
  let i = 0;
  for (const a of c.tensors.values()) {
    // Typed arrays are in the platform's byte order; every platform JS runs on today is little-endian.
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), dataStart + entries[i++]!.offset);
  }
  sealCheckpoint(out);
  return out;
}

/** Writes the checksum of `bytes` into them (encodeCheckpoint's last step; tests use it to forge a consistent file). */
export function sealCheckpoint(bytes: Uint8Array): Uint8Array {
  bytes.set(hexBytes(checksum(bytes)), DIGEST_AT);
  return bytes;
}

const HEADER_KEYS = ["step", "cursor", "rng", "adamT", "meta", "tensors"];
const TENSOR_KEYS = ["name", "dtype", "length", "offset"];
const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null && !Array.isArray(x);
const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
const show = (x: unknown) => JSON.stringify(x) ?? String(x);

export function decodeCheckpoint(bytes: Uint8Array): Checkpoint {
  const fail = (why: string): never => {
    throw new CheckpointError(`not a valid ternion checkpoint: ${why}`);
  };
  if (bytes.length < 12) fail(`${bytes.length} bytes, too short for the prefix`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dv.getUint32(0, true) !== MAGIC) fail("bad magic (not a TNCK file)");
  const version = dv.getUint32(4, true);
  if (version !== CHECKPOINT_VERSION) {
    const written = version === 1 ? " (written before checkpoints carried a checksum: start the run again)" : "";
    fail(`format version ${version}${written}; this build reads version ${CHECKPOINT_VERSION}`);
  }
  if (bytes.length < PREFIX) fail(`${bytes.length} bytes, too short for the ${PREFIX}-byte prefix`);
  // Sizes from the prefix are checked against the file's length before anything is allocated or parsed.
  const hlen = dv.getUint32(8, true);
  const dataLength = dv.getBigUint64(12, true);
  const dataStart = align8(PREFIX + hlen);
  if (BigInt(dataStart) + dataLength !== BigInt(bytes.length)) {
    fail(`the file has ${bytes.length} bytes, its prefix says ${dataStart} + ${dataLength} (truncated or extended)`);
  }
  const data = Number(dataLength);
  const expected = checksum(bytes);
  const stored = toHex(bytes.subarray(DIGEST_AT, PREFIX));
  if (stored !== expected)
    fail(`checksum mismatch (stored sha256 ${stored.slice(0, 16)}…, the bytes hash to ${expected.slice(0, 16)}…): the file was damaged or edited`);

  let h: unknown;
  try {
    h = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(PREFIX, PREFIX + hlen)));
  } catch {
    return fail("the header is not JSON");
  }
  if (!isObject(h)) return fail(`the header is ${show(h)}, not an object`);
  for (const key of Object.keys(h)) if (!HEADER_KEYS.includes(key)) fail(`the header has an unknown field ${show(key)}`);
  // The counters index the data stream and seed the PRNG on resume: a wrong one would train on other
  // windows (or on token 0, for a cursor outside the stream) without any error.
  for (const field of ["step", "cursor", "adamT"] as const) {
    if (!isCount(h[field])) fail(`${field} ${show(h[field])} is not a non-negative integer`);
  }
  const rng: unknown[] = Array.isArray(h.rng) ? h.rng : [];
  const isU32 = (w: unknown) => isCount(w) && w <= 0xffff_ffff;
  if (rng.length !== 4 || !rng.every(isU32) || rng.every((w) => w === 0)) {
    fail(`PRNG state ${show(h.rng)} is not four u32 words, not all zero`);
  }
  const meta = h.meta;
  if (!isObject(meta)) return fail(`meta ${show(meta)} is not an object`);
  for (const [k, v] of Object.entries(meta)) {
    if (!(typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v)))) {
      fail(`meta.${k} is ${show(v)}, not a string, finite number or boolean`);
    }
  }
  if (!Array.isArray(h.tensors)) return fail(`the header's tensor list is ${show(h.tensors)}, not an array`);

  const tensors = new Map<string, CheckpointArray>();
  let end = 0; // tensors lie in order, each after the previous, 8-byte aligned
  for (const [i, t] of (h.tensors as unknown[]).entries()) {
    if (!isObject(t)) return fail(`tensor entry ${i} is ${show(t)}, not an object`);
    const keys = Object.keys(t);
    if (keys.length !== TENSOR_KEYS.length || !TENSOR_KEYS.every((k) => k in t))
      fail(`tensor entry ${i} has fields ${show(keys)}, not ${show(TENSOR_KEYS)}`);
    const { name, dtype, length, offset } = t;
    if (typeof name !== "string" || name.length === 0) return fail(`tensor entry ${i} has the name ${show(name)}`);
    if (tensors.has(name)) fail(`tensor ${name} appears twice`);
    if (typeof dtype !== "string" || !Object.hasOwn(SIZE, dtype)) return fail(`tensor ${name} has the dtype ${show(dtype)}, not f32, f64 or i8`);
    if (!isCount(length) || !isCount(offset)) return fail(`tensor ${name} has offset ${show(offset)} and length ${show(length)}`);
    if (offset !== end) fail(`tensor ${name} starts at data offset ${offset}, expected ${end} (overlapping, out of order or with a gap)`);
    const size = length * SIZE[dtype as DType];
    if (offset + size > data) fail(`tensor ${name} (${size} bytes at data offset ${offset}) lies outside the file's ${data} data bytes`);
    const raw = bytes.slice(dataStart + offset, dataStart + offset + size); // a copy: aligned, independent of the file buffer
    const values = dtype === "f64" ? new Float64Array(raw.buffer) : dtype === "i8" ? new Int8Array(raw.buffer) : new Float32Array(raw.buffer);
    if (!(values instanceof Int8Array)) {
      const bad = values.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) fail(`tensor ${name} holds ${values[bad]} at index ${bad}`);
    }
    tensors.set(name, values);
    end = align8(offset + size);
  }
  if (end !== data) fail(`the tensors end at data offset ${end}, the file's data has ${data} bytes`);
  const header = h as { step: number; cursor: number; rng: Checkpoint["rng"]; adamT: number };
  return { step: header.step, cursor: header.cursor, rng: header.rng, adamT: header.adamT, meta: meta as Checkpoint["meta"], tensors };
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
  for (const l of modelLinears(model)) {
    if (l.kind !== "dlt") continue;
    tensors.set(`codes:${l.name}`, l.ternary.codes);
    if (l.salient) tensors.set(`salient:${l.name}`, maskBytes(l.salient.mask));
  }
  return { step: s.step, cursor: s.cursor, rng: s.rng.state(), adamT: s.adam.t, meta, tensors };
}

/**
 * Loads a checkpoint into a model built the same way (same tensors, same trainable set, same precision)
 * and into a run state created for the same parameters. Throws CheckpointError, naming the tensor, on any
 * mismatch — and before changing anything.
 */
export function restoreCheckpoint(model: TrainModel, s: TrainState, c: Checkpoint, others: readonly Param[] = []): void {
  const fail = (why: string): never => {
    throw new CheckpointError(`the checkpoint does not fit this model: ${why}`);
  };
  // Every optimizer step advances both counters together.
  if (c.adamT !== c.step) fail(`its optimizer has taken ${c.adamT} steps, its run ${c.step}`);
  const copies: [CheckpointArray, CheckpointArray][] = [];
  const take = (name: string, into: CheckpointArray, valid?: (v: number) => boolean, what?: string) => {
    const src = c.tensors.get(name);
    if (!src) return fail(`it has no ${name}`);
    if (dtypeOf(src) !== dtypeOf(into) || src.length !== into.length) {
      fail(`${name} is ${dtypeOf(src)}[${src.length}], the model needs ${dtypeOf(into)}[${into.length}]`);
    }
    if (valid) {
      const bad = (src as ArrayLike<number> as number[]).findIndex((v) => !valid(v));
      if (bad >= 0) fail(`${name} holds ${src[bad]} at index ${bad}, ${what}`);
    }
    copies.push([into, src]);
  };
  for (const p of others) take(`model:${p.name}`, p.value);
  s.params.forEach((p, j) => {
    take(`param:${p.name}`, p.value);
    take(`adam.m:${p.name}`, s.adam.m[j]!);
    // A second moment is a mean of squares; a negative one would take the square root of it.
    take(`adam.v:${p.name}`, s.adam.v[j]!, (v) => v >= 0, "where a second moment must be ≥ 0");
  });
  const salient: SalientWeights[] = [];
  for (const l of modelLinears(model)) {
    if (l.kind !== "dlt") continue;
    take(`codes:${l.name}`, l.ternary.codes, (v) => v === -1 || v === 0 || v === 1, "where a ternary code must be −1, 0 or 1");
    if (!l.salient) continue;
    const name = `salient:${l.name}`;
    take(name, maskBytes(l.salient.mask), (v) => v === 0 || v === 1, "where a salient mask must be 0 or 1");
    // the kept values are one per position: the mask must hold as many as the model has values
    const ones = (c.tensors.get(name) as Int8Array).reduce((a, v) => a + v, 0);
    if (ones !== l.salient.positions.length) fail(`${name} marks ${ones} salient weights, the model keeps ${l.salient.positions.length}`);
    // a salient position's code is the middle one
    const codes = c.tensors.get(`codes:${l.name}`)!;
    const bad = (c.tensors.get(name) as Int8Array).findIndex((v, i) => v === 1 && codes[i] !== 0);
    if (bad >= 0) fail(`codes:${l.name} holds ${codes[bad]} at salient position ${bad}, where the code must be 0`);
    salient.push(l.salient);
  }
  const expected = copies.length;
  if (c.tensors.size !== expected) fail(`it holds ${c.tensors.size} tensors, this model trains ${expected}`);
  for (const [into, src] of copies) into.set(src as never);
  for (const w of salient) w.positions.set(positionsOf(w.mask));
  s.step = c.step;
  s.cursor = c.cursor;
  s.rng = Xoshiro128.fromState(c.rng);
  s.adam.t = c.adamT;
}
