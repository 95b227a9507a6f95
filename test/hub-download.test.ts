// Downloads into the model cache (src/runtime/hub: download-node.ts, cache-node.ts, lock-node.ts) against the
// local hub server (test/helpers/test-server.ts): hf: and URL references, redirects, resume after a dropped
// connection, a server that ignores Range, sha256 and size checks, 404/401, concurrent pulls and stale locks.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CacheError, OptionError } from "../src/runtime/errors.ts";
import { type CacheOptions, cachedModel, listCachedModels, pullModel, removeCachedModel } from "../src/runtime/hub/cache-node.ts";
import { type DownloadProgress, downloadFile, partialPath } from "../src/runtime/hub/download-node.ts";
import { startTestServer, type TestServer } from "./helpers/test-server.ts";
import { randomBytes } from "node:crypto";

const SIZE = 1_000_000;
const BYTES = new Uint8Array(randomBytes(SIZE));
const REF = "hf:owner/repo/models/tiny.gguf";

let hub: TestServer;
let root: string;
let cache: CacheOptions & { hub: { endpoint: string } };

beforeAll(async () => {
  hub = await startTestServer();
  hub.addFile("owner/repo/models/tiny.gguf", BYTES);
  hub.addFile("owner/repo/models/tiny.gguf", BYTES.subarray(0, 1000), { revision: "v1" });
  hub.addFile("owner/repo/bad.gguf", BYTES, { sha256: "0".repeat(64) });
  root = mkdtempSync(join(tmpdir(), "ternion-hub-"));
});

afterAll(async () => {
  await hub.close();
  rmSync(root, { recursive: true, force: true });
});

beforeEach(() => {
  hub.reset();
  hub.mode = {};
  cache = { cacheDir: mkdtempSync(join(root, "cache-")), hub: { endpoint: hub.endpoint } };
});

function same(path: string, bytes: Uint8Array): boolean {
  return Buffer.compare(readFileSync(path), bytes) === 0;
}

describe("pullModel", () => {
  it("downloads an hf: reference through the hub's redirect into the cache, verified, and uses it from there next time", async () => {
    const events: DownloadProgress[] = [];
    const first = await pullModel(REF, { ...cache, onProgress: (p) => events.push(p) });
    expect(first).toMatchObject({ reference: "hf:owner/repo/models/tiny.gguf@main", size: SIZE, verified: true, cached: false });
    expect(first.url).toBe(`${hub.endpoint}/owner/repo/resolve/main/models/tiny.gguf`);
    expect(first.path.startsWith(cache.cacheDir!)).toBe(true);
    expect(first.path.endsWith("tiny.gguf")).toBe(true);
    expect(same(first.path, BYTES)).toBe(true);
    expect(hub.requests.map((r) => r.status)).toEqual([302, 200]);
    expect(hub.bytesServed).toBe(SIZE);
    expect(events.at(-1)).toMatchObject({ loaded: SIZE, total: SIZE });
    expect(events.every((e, i) => i === 0 || e.loaded >= events[i - 1]!.loaded)).toBe(true);
    expect(events.at(-1)!.bytesPerSecond).toBeGreaterThan(0);

    hub.reset();
    const second = await pullModel("hf:owner/repo/models/tiny.gguf@main", cache);
    expect(second.cached).toBe(true);
    expect(second.path).toBe(first.path);
    expect(hub.requests).toHaveLength(0);
    expect(Date.parse(second.lastUsed)).toBeGreaterThanOrEqual(Date.parse(first.lastUsed));
  });

  it("keeps revisions and URL references apart, lists and removes entries", async () => {
    const v1 = await pullModel(`${REF}@v1`, cache);
    expect(v1.size).toBe(1000);
    const url = await pullModel(hub.fileUrl("owner/repo/models/tiny.gguf"), cache);
    expect(url).toMatchObject({ reference: hub.fileUrl("owner/repo/models/tiny.gguf"), size: SIZE, verified: true });
    expect(hub.requests.find((r) => r.path.startsWith("/files/"))?.status).toBe(200);
    const listed = await listCachedModels(cache);
    expect(listed.map((e) => e.reference).sort()).toEqual([hub.fileUrl("owner/repo/models/tiny.gguf"), "hf:owner/repo/models/tiny.gguf@v1"].sort());

    expect(await removeCachedModel(`${REF}@v1`, cache)).toBe(true);
    expect(existsSync(v1.path)).toBe(false);
    expect(await removeCachedModel(`${REF}@v1`, cache)).toBe(false);
    expect(await cachedModel(`${REF}@v1`, cache)).toBeUndefined();
    expect((await listCachedModels(cache)).map((e) => e.reference)).toEqual([hub.fileUrl("owner/repo/models/tiny.gguf")]);
  });

  it("resumes a partial file with Range after a dropped connection, fetching no byte twice", async () => {
    hub.mode.dropAfterBytes = 300_000;
    const failed = await pullModel(REF, { ...cache, retries: 0 }).catch((e) => e);
    expect(failed).toBeInstanceOf(CacheError);
    expect(failed.code).toBe("DOWNLOAD_FAILED");
    const folder = readdirSync(join(cache.cacheDir!, "models")).map((n) => join(cache.cacheDir!, "models", n))[0]!;
    expect(readdirSync(folder).sort()).toEqual(["tiny.gguf.part"]); // nothing under the final name, no lock left
    expect(readFileSync(join(folder, "tiny.gguf.part")).length).toBe(300_000);

    hub.mode = {};
    const done = await pullModel(REF, cache);
    expect(same(done.path, BYTES)).toBe(true);
    expect(hub.requests.filter((r) => r.status === 206).map((r) => r.range)).toEqual(["bytes=300000-"]);
    expect(hub.bytesServed).toBe(SIZE);
  });

  it("resumes on its own when the connection drops several times", async () => {
    hub.mode.dropAfterBytes = 300_000;
    const done = await pullModel(REF, cache);
    expect(same(done.path, BYTES)).toBe(true);
    expect(hub.requests.filter((r) => r.status === 206).map((r) => r.range)).toEqual(["bytes=300000-", "bytes=600000-", "bytes=900000-"]);
    expect(hub.bytesServed).toBe(SIZE);
  });

  it("starts over, without appending a second copy, when the server ignores Range", async () => {
    const target = join(cache.cacheDir!, "direct.gguf");
    writeFileSync(partialPath(target), BYTES.subarray(0, 400_000));
    hub.mode.ignoreRange = true;
    const result = await downloadFile(hub.fileUrl("owner/repo/models/tiny.gguf"), target);
    expect(result).toMatchObject({ size: SIZE, verified: true });
    expect(same(target, BYTES)).toBe(true);
    expect(existsSync(partialPath(target))).toBe(false);
    expect(hub.requests.map((r) => [r.range, r.status])).toEqual([["bytes=400000-", 200]]);
  });

  it("refuses a file whose sha256 differs from the announced one, leaving no file", async () => {
    const err = await pullModel("hf:owner/repo/bad.gguf", cache).catch((e) => e);
    expect(err).toBeInstanceOf(CacheError);
    expect(err.code).toBe("SHA256_MISMATCH");
    expect(err.message).toContain("0".repeat(64));
    const models = join(cache.cacheDir!, "models");
    for (const name of readdirSync(models)) expect(readdirSync(join(models, name))).toEqual([]);
    expect(await listCachedModels(cache)).toEqual([]);
  });

  it("says 404 and 401 as typed errors, and sends the token to the hub", async () => {
    const missing = await pullModel("hf:owner/repo/nope.gguf", cache).catch((e) => e);
    expect(missing).toBeInstanceOf(CacheError);
    expect(missing.code).toBe("NOT_FOUND");
    expect(missing.message).toContain("resolve/main/nope.gguf");

    hub.reset();
    hub.mode.token = "secret";
    const anonymous = await pullModel(REF, cache).catch((e) => e);
    expect(anonymous.code).toBe("UNAUTHORIZED");
    const wrong = await pullModel(REF, { ...cache, hub: { ...cache.hub, token: "guess" } }).catch((e) => e);
    expect(wrong.code).toBe("UNAUTHORIZED");
    expect(hub.requests.map((r) => r.authorization)).toEqual([undefined, "Bearer guess"]);
    hub.reset();
    const ok = await pullModel(REF, { ...cache, hub: { ...cache.hub, token: "secret" } });
    expect(same(ok.path, BYTES)).toBe(true);
    expect(hub.requests[0]!.authorization).toBe("Bearer secret");
  });

  it("refuses a path: there is nothing to download", async () => {
    await expect(pullModel("models/x.gguf", cache)).rejects.toBeInstanceOf(OptionError);
  });

  it("gives concurrent pulls of one reference one download and one good file", async () => {
    hub.mode.bytesPerSecond = 4_000_000;
    const [a, b, c] = await Promise.all([pullModel(REF, cache), pullModel(REF, cache), pullModel(REF, cache)]);
    expect(new Set([a.path, b.path, c.path]).size).toBe(1);
    expect([a, b, c].filter((r) => !r.cached)).toHaveLength(1);
    expect(same(a.path, BYTES)).toBe(true);
    expect(hub.bytesServed).toBe(SIZE);
  });

  it("takes over a lock left by a process that died", async () => {
    const first = await pullModel(`${REF}@v1`, cache);
    await removeCachedModel(`${REF}@v1`, cache);
    const folder = dirname(first.path);
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, ".lock"), JSON.stringify({ pid: 2 ** 22 + 12345, host: (await import("node:os")).hostname() }));
    const again = await pullModel(`${REF}@v1`, cache);
    expect(again.cached).toBe(false);
    expect(existsSync(join(folder, ".lock"))).toBe(false);
  });
});
