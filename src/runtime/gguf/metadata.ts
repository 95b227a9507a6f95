// Typed accessors for GGUF metadata: the rest of the code asks for "a number at this key" instead of
// unpacking GgufValue unions itself. A wrong type at a known key is a GgufError naming the key.
import { GgufError } from "../errors.ts";
import { GgufValueType, type GgufArray, type GgufValue } from "./types.ts";

export type GgufMetadata = ReadonlyMap<string, GgufValue>;

export function metaString(meta: GgufMetadata, key: string): string | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type !== GgufValueType.STRING) throw wrongType(key, "a string", v);
  return v.value as string;
}

/** Any numeric scalar (u64/i64 converted to number; they must be exact). */
export function metaNumber(meta: GgufMetadata, key: string): number | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (typeof v.value === "number" && v.type !== GgufValueType.BOOL) return v.value;
  if (typeof v.value === "bigint") {
    const n = Number(v.value);
    if (!Number.isSafeInteger(n)) throw new GgufError("BAD_VALUE_TYPE", `metadata ${key} = ${v.value} does not fit a safe integer`);
    return n;
  }
  throw wrongType(key, "a number", v);
}

export function metaBool(meta: GgufMetadata, key: string): boolean | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type !== GgufValueType.BOOL) throw wrongType(key, "a bool", v);
  return v.value as boolean;
}

export function metaArray(meta: GgufMetadata, key: string): GgufArray | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type !== GgufValueType.ARRAY) throw wrongType(key, "an array", v);
  return v.value;
}

/** The shortest decimal that reads back as the same f32 (1e-5, not 0.000009999999747378752). */
export function shortestF32(x: number): number {
  if (!Number.isFinite(x)) return x;
  for (let digits = 1; digits < 9; digits++) {
    const candidate = Number(x.toPrecision(digits));
    if (Math.fround(candidate) === x) return candidate;
  }
  return x;
}

/** A scalar value as plain JS: f32 as its shortest decimal, u64/i64 as number when exact, else bigint. */
export function plainScalar(v: GgufValue): string | number | boolean | bigint {
  if (v.type === GgufValueType.FLOAT32) return shortestF32(v.value as number);
  if (typeof v.value === "bigint") {
    const n = Number(v.value);
    return Number.isSafeInteger(n) ? n : v.value;
  }
  return v.value as string | number | boolean;
}

/** A short human-readable rendering of any value (arrays summarised), for `inspect`. */
export function describeValue(v: GgufValue, maxItems = 8): string {
  if (v.type !== GgufValueType.ARRAY) {
    return typeof v.value === "string" ? JSON.stringify(truncate(v.value, 120)) : String(plainScalar(v));
  }
  const arr = v.value;
  const values = arr.values as ArrayLike<unknown>;
  const shown: string[] = [];
  for (let i = 0; i < Math.min(values.length, maxItems); i++) {
    const x = values[i];
    shown.push(
      typeof x === "string"
        ? JSON.stringify(truncate(x, 24))
        : typeof x === "object"
          ? "[…]"
          : String(arr.elementType === GgufValueType.FLOAT32 ? shortestF32(x as number) : x),
    );
  }
  const more = values.length > maxItems ? `, … (${values.length} items)` : "";
  return `[${shown.join(", ")}${more}] : ${GgufValueType[arr.elementType]}[]`;
}

function truncate(s: string, n: number): string {
  return s.length > n ? s.slice(0, n) + "…" : s;
}

function wrongType(key: string, expected: string, v: GgufValue): GgufError {
  return new GgufError("BAD_VALUE_TYPE", `metadata ${key} should be ${expected}, found ${GgufValueType[v.type]}`);
}
