// Checks what the writer is asked to write, before the first byte goes out: a value that does not fit its
// declared type, a tensor whose shape its type cannot hold, a duplicate name. Everything a reader (ours or
// llama.cpp's) would reject is a WRITE_INVALID error here instead of a broken file.
import { GgufError, TensorTypeError } from "../errors.ts";
import { isKnownTensorType, tensorByteLength } from "../tensor-types/table.ts";
import {
  ALIGNMENT_KEY,
  DEFAULT_ALIGNMENT,
  isValidAlignment,
  isValueType,
  MAX_ARRAY_DEPTH,
  MAX_DIMS,
  MAX_TENSOR_NAME_BYTES,
  SUPPORTED_VERSIONS,
  typedArrayClass,
  VALUE_TYPE_NAMES,
} from "./format.ts";
import { type GgufArray, type GgufValue, GgufValueType } from "./types.ts";

function invalid(message: string): GgufError {
  return new GgufError("WRITE_INVALID", message);
}

export function validateVersion(version: number): void {
  if (!SUPPORTED_VERSIONS.includes(version)) {
    throw invalid(`version ${version}: only GGUF versions ${SUPPORTED_VERSIONS.join(" and ")} can be written`);
  }
}

/** Validates every metadata entry and returns the alignment the file will use. */
export function validateMetadata(metadata: ReadonlyMap<string, GgufValue>): number {
  for (const [key, entry] of metadata) {
    if (typeof key !== "string" || key.length === 0) throw invalid(`metadata key ${JSON.stringify(key)} must be a nonempty string`);
    validateValue(entry, `metadata "${key}"`);
  }
  const a = metadata.get(ALIGNMENT_KEY);
  if (a === undefined) return DEFAULT_ALIGNMENT;
  if (a.type !== GgufValueType.UINT32 || !isValidAlignment(a.value as number)) {
    throw invalid(`${ALIGNMENT_KEY} must be a u32 nonzero power of two, got ${describe(a)}`);
  }
  return a.value as number;
}

function describe(v: GgufValue): string {
  const type = VALUE_TYPE_NAMES[v.type] ?? `type ${String(v.type)}`;
  return `${type} ${v.type === GgufValueType.ARRAY ? "[...]" : String(v.value)}`;
}

function validateValue(entry: GgufValue, field: string): void {
  if (entry === null || typeof entry !== "object" || !isValueType(entry.type)) {
    throw invalid(`${field} has no valid value type`);
  }
  if (entry.type === GgufValueType.ARRAY) validateArray(entry.value, field, 1);
  else if (!scalarFits(entry.type, entry.value)) {
    throw invalid(`${field}: ${String(entry.value)} is not a valid ${VALUE_TYPE_NAMES[entry.type]}`);
  }
}

const INT_RANGE: Partial<Record<GgufValueType, [number, number]>> = {
  [GgufValueType.UINT8]: [0, 0xff],
  [GgufValueType.INT8]: [-0x80, 0x7f],
  [GgufValueType.UINT16]: [0, 0xffff],
  [GgufValueType.INT16]: [-0x8000, 0x7fff],
  [GgufValueType.UINT32]: [0, 0xffff_ffff],
  [GgufValueType.INT32]: [-0x8000_0000, 0x7fff_ffff],
};

function scalarFits(type: GgufValueType, v: unknown): boolean {
  const range = INT_RANGE[type];
  if (range) return typeof v === "number" && Number.isInteger(v) && v >= range[0] && v <= range[1];
  switch (type) {
    case GgufValueType.FLOAT32:
    case GgufValueType.FLOAT64:
      return typeof v === "number";
    case GgufValueType.BOOL:
      return typeof v === "boolean";
    case GgufValueType.STRING:
      return typeof v === "string";
    case GgufValueType.UINT64:
      return typeof v === "bigint" && v >= 0n && v < 1n << 64n;
    case GgufValueType.INT64:
      return typeof v === "bigint" && v >= -(1n << 63n) && v < 1n << 63n;
    default:
      return false;
  }
}

function validateArray(arr: GgufArray, field: string, depth: number): void {
  if (depth > MAX_ARRAY_DEPTH) throw invalid(`${field}: arrays nested deeper than ${MAX_ARRAY_DEPTH}`);
  if (arr === null || typeof arr !== "object" || !isValueType(arr.elementType)) {
    throw invalid(`${field}: array has no valid element type`);
  }
  const { elementType, values } = arr;
  const Typed = typedArrayClass(elementType);
  // Numeric arrays must be the exact typed array of their element type: it is written as raw bytes.
  if (Typed) {
    if (!(values instanceof Typed)) {
      throw invalid(`${field}: an array of ${VALUE_TYPE_NAMES[elementType]} must be a ${Typed.name}`);
    }
    return;
  }
  if (!Array.isArray(values)) throw invalid(`${field}: an array of ${VALUE_TYPE_NAMES[elementType]} must be a JS array`);
  if (elementType === GgufValueType.ARRAY) {
    (values as GgufArray[]).forEach((a, i) => validateArray(a, `${field}[${i}]`, depth + 1));
    return;
  }
  const jsType = elementType === GgufValueType.BOOL ? "boolean" : "string";
  const bad = (values as unknown[]).findIndex((v) => typeof v !== jsType);
  if (bad >= 0) throw invalid(`${field}[${bad}] must be a ${jsType}`);
}

export interface TensorToValidate {
  name: string;
  dims: readonly number[];
  type: number;
}

/** Validates names and shapes and returns each tensor's byte length. */
export function validateTensors(tensors: readonly TensorToValidate[]): number[] {
  const names = new Set<string>();
  const encoder = new TextEncoder();
  return tensors.map((t, i) => {
    if (typeof t.name !== "string" || t.name.length === 0) throw invalid(`tensor #${i} needs a nonempty name`);
    // llama.cpp stores names in a fixed 64-byte field (GGML_MAX_NAME) and rejects longer ones.
    if (encoder.encode(t.name).length >= MAX_TENSOR_NAME_BYTES) {
      throw invalid(`tensor "${t.name}": names must be shorter than ${MAX_TENSOR_NAME_BYTES} bytes`);
    }
    if (names.has(t.name)) throw invalid(`duplicate tensor name "${t.name}"`);
    names.add(t.name);
    const field = `tensor "${t.name}"`;
    if (!Array.isArray(t.dims) || t.dims.length < 1 || t.dims.length > MAX_DIMS) {
      throw invalid(`${field} needs 1..${MAX_DIMS} dims`);
    }
    let elements = 1;
    for (const d of t.dims) {
      if (!Number.isSafeInteger(d) || d < 1) throw invalid(`${field}: dim ${d} must be a positive integer`);
      elements *= d;
    }
    if (!Number.isSafeInteger(elements)) throw invalid(`${field}: element count exceeds 2^53`);
    if (!isKnownTensorType(t.type)) throw invalid(`${field}: unknown tensor type id ${t.type}`);
    try {
      return tensorByteLength(t.type, t.dims);
    } catch (e) {
      if (e instanceof TensorTypeError) throw invalid(`${field}: ${e.message}`);
      throw e;
    }
  });
}
