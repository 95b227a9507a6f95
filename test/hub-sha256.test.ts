// The incremental SHA-256 (src/runtime/hub/sha256.ts) against node:crypto: every length around the block and
// padding boundaries, a message fed in random pieces, and 64 MiB.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Sha256 } from "../src/runtime/hub/sha256.ts";
import { rng } from "./helpers/random.ts";

function bytes(n: number, seed: number): Uint8Array {
  const rand = rng(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
}

const nodeHex = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("Sha256", () => {
  it("the empty message and 'abc' (FIPS 180-4's examples)", () => {
    expect(new Sha256().hex()).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(new Sha256().update(new TextEncoder().encode("abc")).hex()).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });

  it("equals node:crypto for every length from 0 to 300 bytes, fed whole", () => {
    const all = bytes(300, 1);
    for (let n = 0; n <= 300; n++) expect(new Sha256().update(all.subarray(0, n)).hex(), `length ${n}`).toBe(nodeHex(all.subarray(0, n)));
  });

  it("equals node:crypto fed in random pieces", () => {
    const rand = rng(7);
    for (let trial = 0; trial < 20; trial++) {
      const message = bytes(1 + Math.floor(rand() * 5000), trial);
      const h = new Sha256();
      for (let at = 0; at < message.length; ) {
        const n = Math.floor(rand() * 200);
        h.update(message.subarray(at, at + n));
        at += n;
      }
      expect(h.hex()).toBe(nodeHex(message));
    }
  });

  it("64 MiB in 1 MiB pieces (past 2^32 bits of length) equals node:crypto", () => {
    const piece = bytes(1 << 20, 3);
    const h = new Sha256();
    const reference = createHash("sha256");
    for (let i = 0; i < 64; i++) {
      h.update(piece);
      reference.update(piece);
    }
    expect(h.hex()).toBe(reference.digest("hex"));
  });
});
