// A model file with bytes of one tensor's data replaced: NaN and ∞ weights, scales, norms, for the tests of
// what loading and running do with them.
import { readGgufHeader } from "../../src/runtime/gguf/reader.ts";
import { bytesSource } from "../../src/runtime/gguf/sources.ts";

/** A copy of `file` with `bytes` written at byte `at` of tensor `name`'s data. */
export async function patchTensor(file: Uint8Array, name: string, at: number, bytes: Uint8Array): Promise<Uint8Array> {
  const header = await readGgufHeader(bytesSource(file));
  const t = header.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`no tensor ${name}`);
  if (at + bytes.length > t.byteLength) throw new Error(`${name} has ${t.byteLength} bytes`);
  const out = new Uint8Array(file); // a copy (Buffer.slice would be a view)
  out.set(bytes, header.dataOffset + t.offset + at);
  return out;
}

/** The little-endian bytes of one f32. */
export function f32Bytes(x: number): Uint8Array {
  return new Uint8Array(Float32Array.of(x).buffer);
}

/** The little-endian bytes of f16 bits. */
export function f16Bytes(bits: number): Uint8Array {
  return Uint8Array.of(bits & 0xff, bits >> 8);
}
