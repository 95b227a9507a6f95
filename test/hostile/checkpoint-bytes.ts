// Taking a fine-tuning checkpoint (src/train/checkpoint.ts, format version 2) apart and putting it back together,
// as an attacker who knows the format would: edit the header or a tensor and re-seal the checksum, so that the
// checks behind the checksum are reached; or lay the same content out in the old version-1 format.
import { sealCheckpoint } from "../../src/train/checkpoint.ts";

/** "TNCK", version, header length, data length (u64), sha256: the header starts here. */
export const PREFIX_BYTES = 52;
const align8 = (x: number) => Math.ceil(x / 8) * 8;

export interface CheckpointParts {
  header: string;
  data: Uint8Array;
}

export interface HeaderTensor {
  name: string;
  dtype: string;
  length: number;
  offset: number;
}

/** The parsed header, loosely typed: cases put anything anywhere. */
// biome-ignore lint/suspicious/noExplicitAny: a hostile edit writes values of any type
export type Header = Record<string, any> & { meta: Record<string, unknown>; tensors: HeaderTensor[] };

export function splitCheckpoint(bytes: Uint8Array): CheckpointParts {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = dv.getUint32(8, true);
  const header = new TextDecoder().decode(bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + hlen));
  return { header, data: bytes.slice(align8(PREFIX_BYTES + hlen)) };
}

/** A version-2 file of this header text and data, sealed unless `seal` is false; the prefix's fields may be forced. */
export function assembleCheckpoint(
  header: string | Uint8Array,
  data: Uint8Array,
  o: { version?: number; headerLength?: number; dataLength?: bigint; seal?: boolean } = {},
): Uint8Array {
  const h = typeof header === "string" ? new TextEncoder().encode(header) : header;
  const dataStart = align8(PREFIX_BYTES + h.length);
  const out = new Uint8Array(dataStart + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0x4b434e54, true);
  dv.setUint32(4, o.version ?? 2, true);
  dv.setUint32(8, o.headerLength ?? h.length, true);
  dv.setBigUint64(12, o.dataLength ?? BigInt(data.length), true);
  out.set(h, PREFIX_BYTES);
  out.set(data, dataStart);
  return o.seal === false ? out : sealCheckpoint(out);
}

/** The checkpoint with its header JSON edited (`edit` changes it in place or returns a replacement), re-sealed. */
export function editHeader(bytes: Uint8Array, edit: (h: Header) => unknown): Uint8Array {
  const { header, data } = splitCheckpoint(bytes);
  const h = JSON.parse(header) as Header;
  const replaced = edit(h);
  return assembleCheckpoint(JSON.stringify(replaced === undefined ? h : replaced), data);
}

/** The checkpoint with the values of its first tensor whose name starts with `prefix` edited in place, re-sealed. */
export function editTensor(bytes: Uint8Array, prefix: string, edit: (values: Float32Array | Float64Array | Int8Array) => void): Uint8Array {
  const { header, data } = splitCheckpoint(bytes);
  const t = (JSON.parse(header) as Header).tensors.find((x) => x.name.startsWith(prefix));
  if (!t) throw new Error(`the checkpoint has no tensor named ${prefix}…`);
  const at = data.byteOffset + t.offset;
  const values =
    t.dtype === "f64"
      ? new Float64Array(data.buffer, at, t.length)
      : t.dtype === "i8"
        ? new Int8Array(data.buffer, at, t.length)
        : new Float32Array(data.buffer, at, t.length);
  edit(values);
  return assembleCheckpoint(header, data);
}

/** The names of the checkpoint's tensors, in file order. */
export function tensorNames(bytes: Uint8Array): string[] {
  return (JSON.parse(splitCheckpoint(bytes).header) as Header).tensors.map((t) => t.name);
}

/** The same header and data in the version-1 layout (no data length, no checksum: the header at byte 12). */
export function asVersion1(bytes: Uint8Array): Uint8Array {
  const { header, data } = splitCheckpoint(bytes);
  const h = new TextEncoder().encode(header);
  const dataStart = align8(12 + h.length);
  const out = new Uint8Array(dataStart + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0x4b434e54, true);
  dv.setUint32(4, 1, true);
  dv.setUint32(8, h.length, true);
  out.set(h, 12);
  out.set(data, dataStart);
  return out;
}
