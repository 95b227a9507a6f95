// The engine's `model` option given as an hf: reference or an http(s) URL on Node (src/engine/model-source.ts):
// pulled into the model cache on first use with "download" progress, read from the cache afterwards without a
// request, in this thread and in the worker; `cache: false` reads it from the server instead. Against the local
// hub server (test/helpers/test-server.ts); the worker engine needs the build (dist/engine-worker.js).
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { LoadProgress } from "../src/engine/engine.ts";
import { createLocalEngine } from "../src/engine/local-engine.ts";
import { createEngine } from "../src/engine/worker-engine.ts";
import { CacheError } from "../src/runtime/errors.ts";
import { startTestServer, type TestServer } from "./helpers/test-server.ts";
import { STORIES_CONTINUATION, sharedPath } from "./helpers/shared.ts";

const STORIES_BYTES = new Uint8Array(readFileSync(sharedPath("models/stories260K.gguf")));
const REF = "hf:owner/stories/stories260K.gguf";

let hub: TestServer;
let root: string;
let cacheDir: string;

beforeAll(async () => {
  hub = await startTestServer();
  hub.addFile("owner/stories/stories260K.gguf", STORIES_BYTES);
  root = mkdtempSync(join(tmpdir(), "ternion-engine-hub-"));
});

afterAll(async () => {
  await hub.close();
  rmSync(root, { recursive: true, force: true });
});

beforeEach(() => {
  hub.reset();
  hub.mode = {};
  cacheDir = mkdtempSync(join(root, "cache-"));
});

describe("the engine's model option as a reference (Node)", () => {
  it("pulls an hf: model into the cache in this thread, reporting the download, then loads it from there", async () => {
    const events: LoadProgress[] = [];
    const engine = await createLocalEngine({ model: REF, hub: { endpoint: hub.endpoint }, cacheDir, threads: 1, onProgress: (p) => events.push(p) });
    try {
      const r = await engine.complete("Once upon a time", { temperature: 0, maxTokens: 30 });
      expect(STORIES_CONTINUATION.startsWith(r.text)).toBe(true);
    } finally {
      await engine.dispose();
    }
    const downloads = events.filter((e) => e.phase === "download");
    expect(downloads.length).toBeGreaterThan(0);
    expect(downloads.at(-1)).toMatchObject({ loaded: STORIES_BYTES.length, total: STORIES_BYTES.length });
    expect(downloads.at(-1)!.file!.startsWith(cacheDir)).toBe(true);
    expect(typeof downloads.at(-1)!.bytesPerSecond).toBe("number");
    const lastDownload = events.map((e) => e.phase).lastIndexOf("download");
    expect(events.findIndex((e) => e.phase === "read")).toBeGreaterThan(lastDownload);
    expect(hub.bytesServed).toBe(STORIES_BYTES.length);

    hub.reset();
    const again = await createLocalEngine({ model: REF, hub: { endpoint: hub.endpoint }, cacheDir, threads: 1 });
    await again.dispose();
    expect(hub.requests).toHaveLength(0);
  });

  it("pulls a URL model in the worker, and a 404 is the typed error on the caller's side", async () => {
    const events: LoadProgress[] = [];
    const engine = await createEngine({
      model: hub.fileUrl("owner/stories/stories260K.gguf"),
      cacheDir,
      threads: 1,
      onProgress: (p) => events.push(p),
    });
    try {
      const r = await engine.complete("Once upon a time", { temperature: 0, maxTokens: 20 });
      expect(STORIES_CONTINUATION.startsWith(r.text)).toBe(true);
    } finally {
      await engine.dispose();
    }
    expect(events.some((e) => e.phase === "download" && e.loaded === STORIES_BYTES.length)).toBe(true);
    const err = await createEngine({ model: "hf:owner/stories/none.gguf", hub: { endpoint: hub.endpoint }, cacheDir }).catch((e) => e);
    expect(err).toBeInstanceOf(CacheError);
    expect(err.code).toBe("NOT_FOUND");
  });

  it("reads the model from the server without writing the cache when cache is false", async () => {
    const engine = await createLocalEngine({ model: REF, hub: { endpoint: hub.endpoint }, cacheDir, cache: false, threads: 1 });
    await engine.dispose();
    expect(hub.requests.some((r) => r.status === 206)).toBe(true);
    expect(existsSync(join(cacheDir, "models"))).toBe(false);
  });
});
