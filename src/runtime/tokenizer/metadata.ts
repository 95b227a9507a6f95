// The typed reads of GGUF metadata the tokenizer needs: the shared accessors of gguf/metadata.ts, with a
// wrong type at a tokenizer key reported as a TokenizerError naming the key, never a silent default.
import { TokenizerError } from "../errors.ts";
import { type GgufMetadata, metaBool, metaInt, metaNumberArray, metaString, metaStringArray, type WrongTypeError } from "../gguf/metadata.ts";
import type { GgufValueType } from "../gguf/types.ts";

export type Metadata = GgufMetadata;

const badMetadata: WrongTypeError = (key, expected, found) => new TokenizerError("BAD_METADATA", `${key} should be ${expected}, found ${found}`);

export const getString = (meta: Metadata, key: string) => metaString(meta, key, badMetadata);
export const getBool = (meta: Metadata, key: string) => metaBool(meta, key, badMetadata);
export const getInt = (meta: Metadata, key: string) => metaInt(meta, key, badMetadata);
export const getStringArray = (meta: Metadata, key: string) => metaStringArray(meta, key, badMetadata);
export const getNumberArray = (meta: Metadata, key: string, allowed: readonly GgufValueType[]) => metaNumberArray(meta, key, allowed, badMetadata);
