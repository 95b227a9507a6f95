// The browser's model cache (src/runtime/hub/cache-browser.ts) through the demo (examples/browser) in Debian's
// Chromium (playwright-core, headless): stories260K is served by the tests' hub server (test/helpers/test-server.ts)
// on 127.0.0.1 (another origin than the page, so with CORS, as the hub sends it) under five repositories:
// `stories` (true sha256), `bad-sha` (an ETag that is not the file's sha256), `flaky` and `changing` (whose
// first download the test cuts at half; `changing` is an older version of the file until then) and `gated` (401
// without `Authorization: Bearer secret`). The server counts every request. `?model=hf:…&hub=…` downloads the model into OPFS in the engine's worker; a reload
// loads it from there with zero requests to the hub; the list deletes it. A quota too small for the model (a
// real one, set for the page's origin with Chrome's DevTools protocol, or an estimate() mocked in the page) is
// CacheError QUOTA_EXCEEDED and leaves no file; a
// wrong sha256 is SHA256_MISMATCH and leaves no file; a connection dropped mid-body resumes with Range, unless
// the file changed meanwhile; 404 and 401 are typed; the Cache API fallback caches and deletes as OPFS does.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import type { Server } from "node:http";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { buildDemo, startDemoServer } from "../examples/browser/server.mjs";
import { lacks } from "./helpers/optional-deps.ts";
import { STORIES_CONTINUATION, sharedPath } from "./helpers/shared.ts";
import { startTestServer, type TestServer } from "./helpers/test-server.ts";

const CHROMIUM = "/usr/bin/chromium";
const REFERENCE = "hf:ternion-test/stories/stories260K.gguf";
const CANONICAL = `${REFERENCE}@main`;

interface DemoState {
  text?: string;
  error?: string;
  downloads?: number;
  cached?: { reference: string; size: number; sha256?: string; storage: string }[];
}

let browser: Browser;
let demo: { server: Server; url: string };
let hub: TestServer;
let model: Uint8Array;
/** `model` with its last byte changed: what `changing` serves before it changes. */
let older: Uint8Array;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (CI installs it in .ci/run)`);
  model = readFileSync(sharedPath("models/stories260K.gguf"));
  await buildDemo();
  demo = await startDemoServer({ port: 0, isolated: true });
  older = Uint8Array.from(model);
  older[older.length - 1]! ^= 0xff;
  hub = await startTestServer({ cors: true });
  for (const repo of ["stories", "flaky", "changing"]) hub.addFile(`ternion-test/${repo}/stories260K.gguf`, repo === "changing" ? older : model);
  hub.addFile("ternion-test/bad-sha/stories260K.gguf", model, { sha256: createHash("sha256").update("not the model").digest("hex") });
  hub.addFile("ternion-test/gated/stories260K.gguf", model, { token: "secret" });
  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: process.getuid?.() === 0 ? ["--no-sandbox"] : [] });
});

afterAll(async () => {
  await browser?.close();
  demo?.server.close();
  await hub?.close();
});

beforeEach(() => {
  hub?.reset();
  if (hub) hub.mode = {};
});

const modelRequests = () => hub.requests.filter((r) => r.method !== "OPTIONS");

function demoUrl(reference: string, tokens = 8): string {
  const query = new URLSearchParams({
    model: reference,
    hub: hub.endpoint,
    backend: "wasm",
    prompt: "Once upon a time",
    maxTokens: String(tokens),
    run: "1",
  });
  return `${demo.url}?${query}`;
}

async function settled(page: Page): Promise<DemoState> {
  await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state ?? ""), null, { timeout: 100_000 });
  return page.evaluate(() => (window as unknown as { demo: DemoState }).demo);
}

/** The names in the page's OPFS model folder (none when the folder is missing). */
function opfsFiles(page: Page): Promise<string[]> {
  return page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    let dir: FileSystemDirectoryHandle;
    try {
      dir = await root.getDirectoryHandle("ternion-models");
    } catch {
      return [];
    }
    const names: string[] = [];
    for await (const name of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(name);
    return names.sort();
  });
}

/** Gives the page's origin a real storage quota of `bytes` (Chromium's DevTools protocol; estimate() does not show it). */
async function limitQuota(page: Page, bytes: number): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Storage.overrideQuotaForOrigin", { origin: new URL(demo.url).origin, quotaSize: bytes });
}

/** openBrowserCachedModel(reference) called in the page: the Blob's size, or the error's name, code and message. */
function openInPage(
  page: Page,
  storage: "opfs" | "cache-api",
  reference = REFERENCE,
  token?: string,
): Promise<number | { name: string; code?: string; message: string }> {
  return page.evaluate(
    async ([reference, options]) => {
      const api = (window as unknown as { ternionCache: { openBrowserCachedModel(r: string, o: object): Promise<Blob> } }).ternionCache;
      try {
        return (await api.openBrowserCachedModel(reference, options)).size;
      } catch (e) {
        const err = e as { name: string; code?: string; message: string };
        return { name: err.name, code: err.code, message: err.message };
      }
    },
    [reference, { endpoint: hub.endpoint, storage, ...(token ? { token } : {}) }] as const,
  );
}

/** Runs `test` on a page of a fresh browser context (its own OPFS and caches), closed afterwards whatever happens. */
async function inNewContext(test: (page: Page) => Promise<void>): Promise<void> {
  const context = await browser.newContext();
  try {
    await test(await context.newPage());
  } finally {
    await context.close();
  }
}

describe.skipIf(lacks("playwright-core"))("the browser's model cache in Chromium", () => {
  it("hf: through ?model=&hub=: downloaded into OPFS once, loaded after a reload with zero model requests, deleted from the list", async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.addInitScript(() => {
      const persist = navigator.storage.persist.bind(navigator.storage);
      const w = window as unknown as { persistAsked: number };
      w.persistAsked = 0;
      navigator.storage.persist = () => {
        w.persistAsked++;
        return persist();
      };
    });
    try {
      await page.goto(demoUrl(REFERENCE));
      const first = await settled(page);
      expect(await page.evaluate(() => (window as unknown as { persistAsked: number }).persistAsked)).toBeGreaterThan(0);
      expect(first.error).toBeUndefined();
      expect(STORIES_CONTINUATION.startsWith(first.text!), first.text).toBe(true);
      expect(first.downloads).toBeGreaterThan(0);
      // One GET through the redirect, the whole file once.
      expect(modelRequests().map((r) => `${r.method} ${r.path}`)).toEqual([
        "GET /ternion-test/stories/resolve/main/stories260K.gguf",
        expect.stringMatching(/^GET \/cdn\/ternion-test\/stories\/[0-9a-f]{64}\/stories260K\.gguf$/),
      ]);
      const sha = createHash("sha256").update(model).digest("hex");
      expect(first.cached).toEqual([expect.objectContaining({ reference: CANONICAL, size: model.length, sha256: sha, storage: "opfs" })]);
      expect(await page.textContent("#cached-models")).toContain(`${CANONICAL} · 1.1 MiB · opfs · sha256 checked`);
      const files = await opfsFiles(page);
      expect(files).toHaveLength(2); // the bytes and the entry, no partial left
      expect(files.filter((f) => f.endsWith(".gguf"))).toHaveLength(1);

      hub.reset();
      await page.reload();
      const second = await settled(page);
      expect(second.error).toBeUndefined();
      expect(second.text).toBe(first.text);
      expect(second.downloads).toBe(0);
      expect(hub.requests).toEqual([]); // zero model requests: read from OPFS

      await page.click(`#cached-models li[data-reference="${CANONICAL}"] button`);
      await page.waitForFunction(() => (window as unknown as { demo: DemoState }).demo.cached?.length === 0, null, { timeout: 10_000 });
      expect(await page.textContent("#cached-models")).toBe("none");
      expect(await opfsFiles(page)).toEqual([]);
    } finally {
      await context.close();
    }
  });

  it("a real storage quota smaller than the model: CacheError QUOTA_EXCEEDED from the worker's download, and no file", async () => {
    await inNewContext(async (page) => {
      await page.goto(demo.url);
      await limitQuota(page, 200_000);
      await page.goto(demoUrl(REFERENCE));
      const state = await settled(page);
      expect(state.error).toMatch(/^CacheError QUOTA_EXCEEDED: stories260K\.gguf does not fit in the browser's storage for this site/);
      expect(await opfsFiles(page)).toEqual([]);
      expect(state.cached).toEqual([]);
    });
  });

  it("in the page (a writable stream, not a sync handle): a real quota too small is QUOTA_EXCEEDED, and no file", async () => {
    await inNewContext(async (page) => {
      await page.goto(demo.url);
      await limitQuota(page, 200_000);
      expect(await openInPage(page, "opfs")).toMatchObject({ name: "CacheError", code: "QUOTA_EXCEEDED" });
      expect(await opfsFiles(page)).toEqual([]);
    });
  });

  it("navigator.storage.estimate() leaving less than the announced size: QUOTA_EXCEEDED before a byte is written", async () => {
    await inNewContext(async (page) => {
      await page.goto(demo.url);
      await page.evaluate(() => {
        navigator.storage.estimate = async () => ({ usage: 50_000, quota: 250_000 });
      });
      const error = await openInPage(page, "opfs");
      expect(error).toMatchObject({ name: "CacheError", code: "QUOTA_EXCEEDED" });
      expect((error as { message: string }).message).toBe("stories260K.gguf needs 1.1 MiB but the browser's storage has 0.2 MiB left for this site");
      expect(await opfsFiles(page)).toEqual([]);
    });
  });

  it("an ETag that is not the file's sha256: CacheError SHA256_MISMATCH, and no file", async () => {
    await inNewContext(async (page) => {
      await page.goto(demoUrl("hf:ternion-test/bad-sha/stories260K.gguf"));
      const state = await settled(page);
      expect(state.error).toMatch(/^CacheError SHA256_MISMATCH: stories260K\.gguf: sha256 [0-9a-f]{64} differs from the server's [0-9a-f]{64}$/);
      expect(await opfsFiles(page)).toEqual([]);
    });
  });

  it("a connection dropped mid-body: the next load resumes with Range and fetches only the rest", async () => {
    await inNewContext(async (page) => {
      hub.mode.dropAfterBytes = Math.floor(model.length / 2);
      await page.goto(demoUrl("hf:ternion-test/flaky/stories260K.gguf"));
      const failed = await settled(page);
      expect(failed.error).toMatch(/^CacheError DOWNLOAD_FAILED/);
      const partial = await opfsFiles(page);
      expect(partial.some((f) => f.endsWith(".part.json"))).toBe(true);
      hub.mode = {};
      hub.reset();
      await page.reload();
      const state = await settled(page);
      expect(state.error).toBeUndefined();
      expect(STORIES_CONTINUATION.startsWith(state.text!), state.text).toBe(true);
      const blobs = modelRequests().filter((r) => r.path.startsWith("/cdn/"));
      expect(blobs).toHaveLength(1);
      expect(blobs[0]!.range).toMatch(/^bytes=\d+-$/);
      const from = Number(/\d+/.exec(blobs[0]!.range!)![0]);
      expect(from).toBeGreaterThan(0);
      expect(blobs[0]!.sent).toBe(model.length - from);
      expect(state.cached).toEqual([expect.objectContaining({ reference: "hf:ternion-test/flaky/stories260K.gguf@main", size: model.length })]);
      expect((await opfsFiles(page)).some((f) => f.endsWith(".part.json"))).toBe(false);
    });
  });

  it("a file changed on the server since a partial download: the Range answer is not used, the download starts again", async () => {
    await inNewContext(async (page) => {
      hub.mode.dropAfterBytes = Math.floor(older.length / 2);
      await page.goto(demoUrl("hf:ternion-test/changing/stories260K.gguf"));
      expect((await settled(page)).error).toMatch(/^CacheError DOWNLOAD_FAILED/);
      hub.addFile("ternion-test/changing/stories260K.gguf", model); // the file changes on the server
      hub.mode = {};
      hub.reset();
      await page.reload();
      const state = await settled(page);
      expect(state.error).toBeUndefined();
      expect(STORIES_CONTINUATION.startsWith(state.text!), state.text).toBe(true);
      const blobs = modelRequests().filter((r) => r.path.startsWith("/cdn/"));
      expect(blobs.map((r) => r.range)).toEqual([expect.stringMatching(/^bytes=\d+-$/), undefined]);
      expect(blobs[1]!.sent).toBe(model.length);
    });
  });

  it("404 and 401 from the hub: CacheError NOT_FOUND and UNAUTHORIZED; the token opens the gated file", async () => {
    await inNewContext(async (page) => {
      await page.goto(demoUrl("hf:ternion-test/nowhere/stories260K.gguf"));
      expect((await settled(page)).error).toMatch(
        /^CacheError NOT_FOUND: http:\/\/127\.0\.0\.1:\d+\/ternion-test\/nowhere\/resolve\/main\/stories260K\.gguf is not there \(404/,
      );
      const gated = "hf:ternion-test/gated/stories260K.gguf";
      expect(await openInPage(page, "opfs", gated)).toMatchObject({ name: "CacheError", code: "UNAUTHORIZED" });
      expect(await opfsFiles(page)).toEqual([]);
      expect(await openInPage(page, "opfs", gated, "secret")).toBe(model.length);
    });
  });

  it("the Cache API fallback (in the page): caches with the sha256 checked, a second open makes no request, delete removes it", async () => {
    await inNewContext(async (page) => {
      await page.goto(demo.url);
      const run = (code: string) => page.evaluate(code) as Promise<unknown>;
      const api = "window.ternionCache";
      expect(await openInPage(page, "cache-api")).toBe(model.length);
      expect(modelRequests()).toHaveLength(2);
      expect(await run(`${api}.listBrowserCachedModels()`)).toEqual([
        expect.objectContaining({
          reference: CANONICAL,
          size: model.length,
          sha256: createHash("sha256").update(model).digest("hex"),
          storage: "cache-api",
        }),
      ]);
      hub.reset();
      expect(await openInPage(page, "cache-api")).toBe(model.length);
      expect(hub.requests).toEqual([]);
      expect(await run(`${api}.deleteBrowserCachedModel(${JSON.stringify(REFERENCE)})`)).toBe(true);
      expect(await run(`${api}.listBrowserCachedModels()`)).toEqual([]);
      expect(await run(`caches.open("ternion-models").then((c) => c.keys()).then((k) => k.length)`)).toBe(0);
    });
  });
});
