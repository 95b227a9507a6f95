// Typed accessors for GGUF metadata: the rest of the code asks for "a number at this key" instead of
// unpacking GgufValue unions itself. A wrong type at a known key is a GgufError naming the key.
import { GgufError } from "../errors.ts";
import { GgufValueType, type GgufArray, type GgufValue } from "./types.ts";

export type GgufMetadata = ReadonlyMap<string, GgufValue>;

/**
 * Builds the error for a value of the wrong type at `key`. The default is a GgufError; a module with its
 * own error class (the tokenizer) passes its own, so that the error names the layer that needed the key.
 */
export type WrongTypeError = (key: string, expected: string, found: string) => Error;

const ggufWrongType: WrongTypeError = (key, expected, found) =>
  new GgufError("BAD_VALUE_TYPE", `metadata ${key} should be ${expected}, found ${found}`);

export function metaString(meta: GgufMetadata, key: string, fail = ggufWrongType): string | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type !== GgufValueType.STRING) throw fail(key, "a string", typeName(v));
  return v.value as string;
}

/** Any numeric scalar (u64/i64 converted to number; they must be exact). */
export function metaNumber(meta: GgufMetadata, key: string, fail = ggufWrongType): number | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (typeof v.value === "number" && v.type !== GgufValueType.BOOL) return v.value;
  if (typeof v.value === "bigint") {
    const n = Number(v.value);
    if (!Number.isSafeInteger(n)) throw fail(key, "a safe integer", `${v.value}`);
    return n;
  }
  throw fail(key, "a number", typeName(v));
}

/** An integer scalar of any width (token ids are u32 in practice, sometimes i32 or u64). */
export function metaInt(meta: GgufMetadata, key: string, fail = ggufWrongType): number | undefined {
  const n = metaNumber(meta, key, fail);
  if (n !== undefined && !Number.isInteger(n)) throw fail(key, "an integer", String(n));
  return n;
}

export function metaBool(meta: GgufMetadata, key: string, fail = ggufWrongType): boolean | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type !== GgufValueType.BOOL) throw fail(key, "a bool", typeName(v));
  return v.value as boolean;
}

export function metaArray(meta: GgufMetadata, key: string, fail = ggufWrongType): GgufArray | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type !== GgufValueType.ARRAY) throw fail(key, "an array", typeName(v));
  return v.value;
}

export function metaStringArray(meta: GgufMetadata, key: string, fail = ggufWrongType): string[] | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type !== GgufValueType.ARRAY || v.value.elementType !== GgufValueType.STRING) {
    throw fail(key, "an array of strings", typeName(v));
  }
  return v.value.values as string[];
}

/** A numeric array, accepting only the element types listed (those llama.cpp accepts for the key). */
export function metaNumberArray(
  meta: GgufMetadata,
  key: string,
  allowed: readonly GgufValueType[],
  fail = ggufWrongType,
): ArrayLike<number> | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type !== GgufValueType.ARRAY || !allowed.includes(v.value.elementType)) {
    throw fail(key, `an array of ${allowed.map((t) => GgufValueType[t]).join(" or ")}`, typeName(v));
  }
  return v.value.values as ArrayLike<number>;
}

/** The type of a value as the error messages name it: STRING, UINT32, INT32[], … */
function typeName(v: GgufValue): string {
  return v.type === GgufValueType.ARRAY ? `${GgufValueType[v.value.elementType]}[]` : GgufValueType[v.type];
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
