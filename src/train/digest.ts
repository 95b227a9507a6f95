// SHA-256 of byte strings, synchronously: node:crypto where the platform serves it (Node, Deno: native, fast on a
// large teacher), else runtime/hub/sha256.ts (browsers). process.getBuiltinModule, not a static `node:` import,
// because this code is part of the platform-neutral bundles.
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

/** The sha256 of the parts one after another, as 64 lowercase hex digits. */
export function sha256Hex(...parts: Uint8Array[]): string {
  if (nodeCreateHash) {
    const h = nodeCreateHash("sha256");
    for (const p of parts) h.update(p);
    return h.digest("hex");
  }
  const h = new Sha256();
  for (const p of parts) h.update(p);
  return h.hex();
}
