// SHA-256 of byte strings: node:crypto where the platform serves it (Node, Deno: native, fast on a large
// teacher), else runtime/hub/sha256.ts (browsers). process.getBuiltinModule, not a static `node:` import,
// because this code is part of the platform-neutral bundles.
import type { ByteSource } from "../runtime/gguf/source.ts";
import { Sha256 } from "../runtime/hub/sha256.ts";

interface NodeHash {
  update(bytes: Uint8Array): NodeHash;
  digest(encoding: "hex"): string;
}
type CreateHash = (algorithm: "sha256") => NodeHash;

const nodeCreateHash: CreateHash | undefined = (() => {
  const get = (globalThis as { process?: { getBuiltinModule?: (name: string) => unknown } }).process?.getBuiltinModule;
  const crypto = typeof get === "function" ? (get("node:crypto") as { createHash?: CreateHash } | undefined) : undefined;
  return typeof crypto?.createHash === "function" ? crypto.createHash : undefined;
})();

interface Hasher {
  update(bytes: Uint8Array): void;
  hex(): string;
}

function sha256(): Hasher {
  if (nodeCreateHash) {
    const h = nodeCreateHash("sha256");
    return { update: (b) => void h.update(b), hex: () => h.digest("hex") };
  }
  const h = new Sha256();
  return { update: (b) => h.update(b), hex: () => h.hex() };
}

/** The sha256 of the parts one after another, as 64 lowercase hex digits. */
export function sha256Hex(...parts: Uint8Array[]): string {
  const h = sha256();
  for (const p of parts) h.update(p);
  return h.hex();
}

/** Slices a source is hashed in: a multi-gigabyte teacher is never held whole. */
const SOURCE_SLICE = 16 << 20;

/** The sha256 of a whole source (a teacher opened from disk, a URL, parts end to end), read a slice at a time. */
export async function sha256OfSource(source: ByteSource): Promise<string> {
  const h = sha256();
  for (let offset = 0; offset < source.size; offset += SOURCE_SLICE) {
    h.update(await source.read(offset, Math.min(SOURCE_SLICE, source.size - offset)));
  }
  return h.hex();
}
