// One table of per-type traits, as ggml keeps it: everything that depends on a tensor's type is looked up
// here instead of switching on the type id all over the code base.
import { TensorTypeError } from "../errors.ts";
import type { TensorTypeTraits } from "./traits.ts";
import { F32 } from "./f32.ts";
import { F16 } from "./f16.ts";
import { BF16 } from "./bf16.ts";
import { Q8_0 } from "./q8_0.ts";
import { TQ1_0 } from "./tq1_0.ts";
import { TQ2_0 } from "./tq2_0.ts";
import { I2_S } from "./i2_s.ts";
import { I8, I16, I32 } from "./integer.ts";

export { GgmlType } from "./traits.ts";
export type { TensorTypeTraits } from "./traits.ts";
export { isTernaryTraits } from "./traits.ts";

const traits = new Map<number, TensorTypeTraits>([F32, F16, BF16, Q8_0, TQ1_0, TQ2_0, I2_S, I8, I16, I32].map((t) => [t.id, t]));
export function isKnownTensorType(id: number): boolean {
  return traits.has(id);
}

export function tensorTypeTraits(id: number): TensorTypeTraits {
  const t = traits.get(id);
  if (!t) throw new TensorTypeError("UNKNOWN_TENSOR_TYPE", `unsupported tensor type id ${id}`);
  return t;
}

export function tensorTypeName(id: number): string {
  return traits.get(id)?.name ?? `type${id}`;
}

/** Checks that a tensor of shape `dims` can be stored as type `id` and returns its byte length. */
export function tensorByteLength(id: number, dims: readonly number[]): number {
  const t = tensorTypeTraits(id);
  const rowLength = dims[0] ?? 1;
  if (rowLength % t.blockSize !== 0) {
    throw new TensorTypeError("BAD_TENSOR_SHAPE", `${t.name} needs a row length that is a multiple of ${t.blockSize}, got ${rowLength}`);
  }
  let elements = 1;
  for (const d of dims) elements *= d;
  return t.byteLength(elements);
}
