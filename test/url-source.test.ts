// Reads from a URL without a cache (urlSource, gguf/sources.ts) against a real HTTP server on 127.0.0.1 that
// counts requests: a model loads in a few large requests (a read-ahead window), not one per tensor; a server
// that ignores Range still works; memory is a few blocks, whatever the file's size.
import { afterEach, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { createLocalEngine } from "../src/engine/local-engine.ts";
import { TernionError } from "../src/runtime/errors.ts";
import { DEFAULT_BLOCK_BYTES, urlSource } from "../src/runtime/gguf/sources.ts";
import type { ByteSource } from "../src/runtime/gguf/source.ts";
import { startTestServer, type TestServer } from "./helpers/test-server.ts";
import { STORIES_CONTINUATION, sharedPath } from "./helpers/shared.ts";

const stories = new Uint8Array(readFileSync(sharedPath("models/stories260K.gguf")));

let server: TestServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function greedyText(model: string | ByteSource): Promise<string> {
  // cache: false — the reads from the URL are what is tested, not the model cache (test/engine-hub.test.ts).
  const engine = await createLocalEngine({ model, backend: "wasm", threads: 1, cache: false });
  try {
    return (await engine.complete("Once upon a time", { temperature: 0, maxTokens: 60 })).text;
  } finally {
    await engine.dispose();
  }
}

describe("urlSource against a local HTTP server", () => {
  it("loads stories260K through createLocalEngine({ model: url }) in one request and generates the reference text", async () => {
    server = await startTestServer({ files: { "/stories260K.gguf": stories } });
    const text = await greedyText(`${server.url}stories260K.gguf`);
    expect(text.startsWith(STORIES_CONTINUATION), text).toBe(true);
    // 1.2 MB fits the first 8 MiB window: that one Range GET also gives the size (no HEAD).
    expect(server.requests.map(({ method, path, span }) => ({ method, path, span }))).toEqual([
      { method: "GET", path: "/stories260K.gguf", span: [0, stories.length] },
    ]);
  });

  it("reads a model larger than a block in about size / block requests, each byte about once", async () => {
    server = await startTestServer({ files: { "/m.gguf": stories } });
    const block = 64 << 10;
    const text = await greedyText(await urlSource(`${server.url}m.gguf`, { blockBytes: block }));
    expect(text.startsWith(STORIES_CONTINUATION), text).toBe(true);
    // Before the block cache: a HEAD and one request per tensor (49). The loader jumps back and forth within a
    // layer; the blocks it keeps absorb that.
    expect(server.requests.length).toBeLessThanOrEqual(Math.ceil(stories.length / block) + 4);
    expect(server.requests.every((r) => r.method === "GET" && r.span !== undefined)).toBe(true);
    // Each byte once, but for the header's first 1 MiB chunk: larger than this test's block, it is fetched as
    // asked and not kept (with the default 4 MiB block it is one of the blocks).
    expect(server.bytesServed).toBeLessThan(stories.length + (1 << 20));
  });

  it("works with a server that ignores Range: one GET, whose body serves every read", async () => {
    server = await startTestServer({ files: { "/stories260K.gguf": stories }, mode: { ignoreRange: true } });
    const text = await greedyText(`${server.url}stories260K.gguf`);
    expect(text.startsWith(STORIES_CONTINUATION), text).toBe(true);
    expect(server.requests.map(({ method, path, span }) => ({ method, path, span }))).toEqual([{ method: "GET", path: "/stories260K.gguf" }]);
  });

  it("reads a 3 GiB file in blocks of a fixed size: no request grows with the file, big reads go as asked", async () => {
    const size = 3 * 2 ** 30; // 3 GiB, generated: byte i is i mod 251
    const period = Uint8Array.from({ length: (1 << 20) + 251 }, (_, k) => k % 251);
    const pattern = (start: number, end: number) => period.subarray(start % 251, (start % 251) + end - start); // ≤ 1 MiB at a time
    server = await startTestServer({ files: { "/big.gguf": { size, bytes: pattern } } });
    const source = await urlSource(`${server.url}big.gguf`);
    expect(source.size).toBe(size);
    // The loader's pattern: many small sequential reads, then one read larger than the window, then the end.
    const reads: [number, number][] = [];
    for (let at = 0; at < 24 << 20; at += 393_216) reads.push([at, 393_216]); // some straddle two blocks
    reads.push([40 << 20, 20 << 20], [size - 1000, 1000]);
    for (const [at, n] of reads) {
      const got = await source.read(at, n);
      expect(got.length).toBe(n);
      expect(got[0]).toBe(at % 251);
      expect(got[n - 1]).toBe((at + n - 1) % 251);
    }
    const lengths = server.requests.map((r) => r.span![1] - r.span![0]);
    expect(lengths.filter((n) => n !== 20 << 20).every((n) => n === DEFAULT_BLOCK_BYTES)).toBe(true);
    expect(lengths.at(-2)).toBe(20 << 20); // larger than a block: fetched as asked, not kept
    // The first 24 MiB in 4 MiB blocks (the first one fetched on opening), the big read, the last block.
    expect(server.requests.length).toBe((24 << 20) / DEFAULT_BLOCK_BYTES + 1 + 1);
  });

  it("returns the right bytes for any read: random offsets and lengths across cached, evicted and large spans", async () => {
    server = await startTestServer({ files: { "/m.gguf": stories } });
    const source = await urlSource(`${server.url}m.gguf`, { blockBytes: 4096, cachedBlocks: 3 });
    let seed = 7;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    let at = 0;
    for (let k = 0; k < 400; k++) {
      // Mostly near the last read (so blocks are reused), sometimes anywhere; lengths below and above a block.
      at = k % 10 === 0 ? next(stories.length + 100) : Math.max(0, at + next(20_000) - 8000);
      const n = next(k % 3 === 0 ? 20_000 : 6000);
      const got = await source.read(at, n);
      const want = stories.subarray(Math.min(at, stories.length), Math.min(at + n, stories.length));
      expect(Buffer.compare(got, want), `read(${at}, ${n})`).toBe(0);
    }
  });

  it("fails with a typed error naming the URL and the status for a missing file", async () => {
    server = await startTestServer();
    const err = await urlSource(`${server.url}missing.gguf`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TernionError);
    expect(err).toMatchObject({ code: "FETCH_FAILED", message: expect.stringMatching(/missing\.gguf: HTTP 404/) });
  });
});
