// The few typed reads of GGUF metadata the tokenizer needs. A value of the wrong type at a tokenizer key is a
// TokenizerError naming the key, never a silent default.
import { TokenizerError } from "../errors.ts";
import { GgufValueType, type GgufValue } from "../gguf/types.ts";

export type Metadata = ReadonlyMap<string, GgufValue>;

export function getString(meta: Metadata, key: string): string | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type !== GgufValueType.STRING) throw badType(key, "a string", v);
  return v.value as string;
}

export function getBool(meta: Metadata, key: string): boolean | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type !== GgufValueType.BOOL) throw badType(key, "a bool", v);
  return v.value as boolean;
}

/** An integer scalar of any width (token ids are u32 in practice, sometimes i32 or u64). */
export function getInt(meta: Metadata, key: string): number | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (typeof v.value === "number" && v.type !== GgufValueType.BOOL && Number.isInteger(v.value)) return v.value;
  if (typeof v.value === "bigint") return Number(v.value);
  throw badType(key, "an integer", v);
}

export function getStringArray(meta: Metadata, key: string): string[] | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type !== GgufValueType.ARRAY || v.value.elementType !== GgufValueType.STRING) {
    throw badType(key, "an array of strings", v);
  }
  return v.value.values as string[];
}

/** A numeric array as numbers, accepting the element types llama.cpp accepts for the key. */
export function getNumberArray(
  meta: Metadata,
  key: string,
  allowed: readonly GgufValueType[],
): ArrayLike<number> | undefined {
  const v = meta.get(key);
  if (v === undefined) return undefined;
  if (v.type !== GgufValueType.ARRAY || !allowed.includes(v.value.elementType)) {
    throw badType(key, `an array of ${allowed.map((t) => GgufValueType[t]).join(" or ")}`, v);
  }
  return v.value.values as ArrayLike<number>;
}

function badType(key: string, expected: string, v: GgufValue): TokenizerError {
  const found = v.type === GgufValueType.ARRAY ? `${GgufValueType[v.value.elementType]}[]` : GgufValueType[v.type];
  return new TokenizerError("BAD_METADATA", `${key} should be ${expected}, found ${found}`);
}
