// Non-finite weights caught at load, where they can be named. What is checked is what costs nothing next to the
// load itself: every norm gain (a vector of dim values), every block scale of a block-scaled matrix (one f16 per
// 32 or 256 weights: Q8_0, TQ1_0, TQ2_0), an I2_S tensor's one scale, and a fine-tuned DLT matrix's α and γ (one
// per group). A float matrix's weights (F32, F16, BF16) are not scanned: that would be a second pass over what
// may be gigabytes; a NaN or ∞ there reaches the logits, and sampling and perplexity refuse those
// (sampling/finite-logits.ts, NON_FINITE_LOGITS).
import { ModelError } from "../errors.ts";
import type { GgufTensorInfo } from "../gguf/types.ts";
import { i2sScale } from "../tensor-types/i2_s.ts";
import { GgmlType, tensorTypeName, tensorTypeTraits } from "../tensor-types/table.ts";

/** f16 bits whose exponent is all ones: ±∞ or NaN. */
const isNonFiniteF16 = (bits: number) => (bits & 0x7c00) === 0x7c00;

function nonFinite(tensor: string, what: string, value: number | string): ModelError {
  return new ModelError("NON_FINITE_WEIGHTS", `tensor ${tensor} holds a non-finite value: ${what} is ${value}`);
}

/** A norm's gains (dequantized to f32): each must be finite. */
export function checkFiniteNorm(tensor: string, values: Float32Array): void {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i]!)) throw nonFinite(tensor, `element ${i}`, values[i]!);
}

/** Scales stored as f16 bits (a DLT matrix's α or γ): each must be finite. */
export function checkFiniteF16(tensor: string, bits: Uint16Array): void {
  for (let i = 0; i < bits.length; i++) if (isNonFiniteF16(bits[i]!)) throw nonFinite(tensor, `element ${i}`, f16Name(bits[i]!));
}

/**
 * The scales in a matrix's file bytes: each block's f16 d, or I2_S's tensor scale. Float types have none. `data`
 * may be part of the tensor, whole blocks from block `firstBlock` on (a streamed upload).
 */
export function checkFiniteScales(t: GgufTensorInfo, data: Uint8Array, firstBlock = 0): void {
  const traits = tensorTypeTraits(t.type);
  if (t.type === GgmlType.I2_S) {
    const numel = t.dims.reduce((a, b) => a * b, 1);
    const scale = i2sScale(data, numel);
    if (!Number.isFinite(scale)) throw nonFinite(t.name, "the I2_S tensor scale", scale);
    return;
  }
  const at = traits.blockScaleByte;
  if (at === undefined) return;
  const step = traits.bytesPerBlock;
  // The exponent is in the high byte (little-endian): one byte read per block.
  for (let p = at + 1; p < data.length; p += step) {
    if ((data[p]! & 0x7c) !== 0x7c) continue;
    const bits = data[p - 1]! | (data[p]! << 8);
    const block = firstBlock + (p - 1 - at) / step;
    throw nonFinite(t.name, `the ${tensorTypeName(t.type)} scale of block ${block}`, f16Name(bits));
  }
}

function f16Name(bits: number): string {
  if ((bits & 0x3ff) !== 0) return "NaN";
  return bits & 0x8000 ? "-Infinity" : "Infinity";
}
