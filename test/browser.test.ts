// The browser demo (examples/browser) in a real Chromium, Debian's /usr/bin/chromium driven by playwright-core
// (never a downloaded browser), headless, WebGPU on SwiftShader. The page is the demo as `npm run demo:browser`
// serves it: main.ts bundled by esbuild from the built package's ternion/inline (no file copied), served with
// the cross-origin-isolation headers. It loads stories260K by URL and generates greedily: the text is the CPU
// reference on wasm with threads and on WebGPU; served without isolation it still works, on one thread, and
// says so. The server sees every request: nothing but the page, its bundle and the model is fetched.
// One browser for the file; `npm run test:browser` runs it alone. Screenshots: test-output/browser-*.png.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync } from "node:fs";
import type { Server } from "node:http";
import type { Browser, Page } from "playwright-core";
import { buildDemo, startDemoServer } from "../examples/browser/server.mjs";
import { repoRoot } from "./helpers/cli.ts";
import { lacks } from "./helpers/optional-deps.ts";
import { STORIES_CONTINUATION, sharedPath } from "./helpers/shared.ts";

const CHROMIUM = "/usr/bin/chromium";
const OUTPUT = repoRoot + "test-output/";
/** What the page may fetch: itself, its bundle, the model (the wasm and the worker are inside the bundle). */
const SHIPPED = new Set(["/", "/dist/main.js", "/models/stories260K.gguf"]);

interface DemoState {
  crossOriginIsolated: boolean;
  text?: string;
  chunks?: number;
  stopReason?: string;
  error?: string;
  info?: {
    backend: string;
    threads: number;
    simd: string;
    adapter?: string;
    threadsReason?: string;
    memory: { total: number };
    metadata: Record<string, unknown>;
  };
  finetune?: { losses: number[]; relativeLosses?: number[]; steps?: number; tokensPerSecond?: number; studentBytes?: number; warnings?: string[] };
}

let browser: Browser;
const servers: Server[] = [];
const served: string[] = [];
let isolatedUrl: string;
let plainUrl: string;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (CI installs it in .ci/run)`);
  sharedPath("models/stories260K.gguf");
  await buildDemo();
  const onRequest = (_method: string, url: string) => served.push(new URL(url, "http://x").pathname);
  const isolated = await startDemoServer({ port: 0, isolated: true, onRequest });
  const plain = await startDemoServer({ port: 0, isolated: false, onRequest });
  servers.push(isolated.server, plain.server);
  isolatedUrl = isolated.url;
  plainUrl = plain.url;
  mkdirSync(OUTPUT, { recursive: true });
  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Chromium's sandbox refuses to run as root (CI runs as root).
    args: ["--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader", ...(process.getuid?.() === 0 ? ["--no-sandbox"] : [])],
  });
});

afterAll(async () => {
  await browser?.close();
  for (const s of servers) s.close();
});

/** Opens the demo, lets it load stories260K and generate `tokens` tokens greedily, returns what it shows. */
async function runDemo(
  base: string,
  backend: "wasm" | "webgpu",
  tokens: number,
  screenshot: string,
): Promise<{ page: Page; state: DemoState; errors: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => void (m.type() === "error" && errors.push(m.text())));
  served.length = 0;
  const query = new URLSearchParams({ model: "/models/stories260K.gguf", backend, prompt: "Once upon a time", maxTokens: String(tokens), run: "1" });
  await page.goto(`${base}?${query}`);
  await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state ?? ""), null, { timeout: 100_000 });
  const state = await page.evaluate(() => (window as unknown as { demo: DemoState }).demo);
  await page.screenshot({ path: OUTPUT + screenshot, fullPage: true });
  return { page, state, errors };
}

function expectReference(state: DemoState): void {
  expect(state.error).toBeUndefined();
  expect(state.stopReason).toBe("max-tokens");
  expect(state.text!.length).toBeGreaterThan(20);
  expect(STORIES_CONTINUATION.startsWith(state.text!), state.text).toBe(true);
}

describe.skipIf(lacks("playwright-core"))("the browser demo in Chromium", () => {
  it("wasm with threads in a cross-origin-isolated page: the reference text, shown as it streamed", async () => {
    const { page, state, errors } = await runDemo(isolatedUrl, "wasm", 40, "browser-demo-wasm.png");
    try {
      expectReference(state);
      expect(state.crossOriginIsolated).toBe(true);
      expect(state.info).toMatchObject({ backend: "wasm" });
      expect(state.info!.threads).toBeGreaterThan(1);
      expect(["relaxed", "simd128"]).toContain(state.info!.simd);
      expect(state.chunks).toBe(40); // streamed: one chunk per token
      expect(await page.textContent("#output")).toBe("Once upon a time" + state.text);
      expect(await page.textContent("#backend-info")).toMatch(/^wasm · (relaxed )?SIMD build/);
      expect(await page.textContent("#threads-info")).toMatch(new RegExp(`^${state.info!.threads} \\(`));
      expect(await page.textContent("#speed")).toMatch(/[\d.]+ tokens\/s decode/);
      expect(await page.textContent("#memory")).toMatch(/MiB \(weights/);
      expect(errors).toEqual([]);
      expect(new Set(served)).toEqual(SHIPPED);
    } finally {
      await page.close();
    }
  });

  it("WebGPU (SwiftShader adapter): the reference text", async () => {
    const { page, state, errors } = await runDemo(isolatedUrl, "webgpu", 16, "browser-demo-webgpu.png");
    try {
      expectReference(state);
      expect(state.info).toMatchObject({ backend: "webgpu", threads: 0, simd: "none" });
      expect(state.info!.adapter).toMatch(/swiftshader/i);
      expect(await page.textContent("#backend-info")).toMatch(/^WebGPU \(/);
      expect(errors).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("a GGUF file picked from disk, then Generate clicked: the reference text", async () => {
    const page = await browser.newPage();
    try {
      await page.goto(isolatedUrl);
      await page.selectOption("#backend", "wasm");
      await page.setInputFiles("#file", sharedPath("models/stories260K.gguf"));
      await page.waitForFunction(
        () => document.body.dataset.state !== "loading" && !(document.getElementById("generate") as HTMLButtonElement).disabled,
        null,
        { timeout: 60_000 },
      );
      expect(await page.textContent("#load-status")).toMatch(/^Loaded stories260K\.gguf \(llama\)/);
      await page.fill("#max-tokens", "12");
      await page.click("#generate");
      await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state ?? ""), null, { timeout: 60_000 });
      const state = await page.evaluate(() => (window as unknown as { demo: DemoState }).demo);
      expectReference(state);
      expect(state.chunks).toBe(12);
    } finally {
      await page.close();
    }
  });

  it("fine-tune tab: engine.finetune on stories260K with a live loss chart, then the student loads and generates", async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    served.length = 0;
    try {
      const query = new URLSearchParams({
        model: "/models/stories260K.gguf",
        backend: "wasm",
        run: "finetune",
        ftSteps: "10",
        ftBatch: "2",
        ftSeqLen: "16",
      });
      await page.goto(`${isolatedUrl}?${query}`);
      await page.waitForFunction(() => ["trained", "error"].includes(document.body.dataset.state ?? ""), null, { timeout: 100_000 });
      await page.screenshot({ path: OUTPUT + "browser-demo-finetune.png", fullPage: true });
      const state = await page.evaluate(() => (window as unknown as { demo: DemoState }).demo);
      expect(state.error).toBeUndefined();
      const ft = state.finetune!;
      expect(ft.steps).toBe(10);
      expect(ft.losses).toHaveLength(10);
      for (const l of ft.losses) expect(Number.isFinite(l) && l > 0).toBe(true);
      expect(ft.tokensPerSecond).toBeGreaterThan(0);
      expect(ft.warnings).toEqual([]);
      // Blockwise over stories260K's 5 blocks, 2 steps each: one curve per block, each relative to the block's
      // first loss (so every curve starts at ×1, where the raw losses climb from block to block).
      expect(ft.relativeLosses).toHaveLength(10);
      for (let b = 0; b < 5; b++) expect(ft.relativeLosses![2 * b]).toBe(1);
      expect(ft.losses[8]!).toBeGreaterThan(ft.losses[0]!);
      const curves = await page.$$eval("#loss-curves polyline", (lines) =>
        lines.map((l) => ({ block: (l as SVGElement).dataset.block, points: l.getAttribute("points")!.trim().split(/\s+/) })),
      );
      expect(curves.map((c) => c.block)).toEqual(["0", "1", "2", "3", "4"]);
      for (const c of curves) expect(c.points).toHaveLength(2);
      // ×1 is one height on the chart: every block's first point is there.
      expect(new Set(curves.map((c) => c.points[0]!.split(",")[1])).size).toBe(1);
      expect(await page.textContent("#loss-legend")).toMatch(/one curve per block, each block's loss divided by its loss at the block's first step/);
      expect(await page.textContent("#loss-legend")).toMatch(/block 0.*block 4/);
      expect(await page.textContent("#loss-steps")).toBe("step 10 of 10");
      expect(await page.isVisible("#finetune-panel")).toBe(true);
      // The download link holds the student's GGUF.
      const file = await page.evaluate(async () => {
        const href = (document.getElementById("ft-download") as HTMLAnchorElement).href;
        const bytes = new Uint8Array(await (await fetch(href)).arrayBuffer());
        return { href, magic: new TextDecoder().decode(bytes.subarray(0, 4)), length: bytes.length };
      });
      expect(file.href).toMatch(/^blob:/);
      expect(file).toMatchObject({ magic: "GGUF", length: ft.studentBytes });
      // Loaded in place of the teacher, the student (a DLT model) generates.
      await page.click("#ft-use");
      await page.waitForFunction(
        () => (window as unknown as { demo: DemoState }).demo.info?.metadata?.["ternion.dlt.group_size"] !== undefined,
        null,
        { timeout: 60_000 },
      );
      await page.fill("#max-tokens", "8");
      await page.click("#generate");
      await page.waitForFunction(() => ["done", "error"].includes(document.body.dataset.state ?? ""), null, { timeout: 60_000 });
      const after = await page.evaluate(() => (window as unknown as { demo: DemoState }).demo);
      expect(after.error).toBeUndefined();
      expect(after.chunks).toBe(8);
      expect(errors).toEqual([]);
      expect(new Set(served)).toEqual(new Set([...SHIPPED, "/corpus/tinystories_sample.txt"]));
    } finally {
      await page.close();
    }
  });

  it("served without cross-origin isolation: works on one thread and says why", async () => {
    const { page, state, errors } = await runDemo(plainUrl, "wasm", 24, "browser-demo-not-isolated.png");
    try {
      expectReference(state);
      expect(state.crossOriginIsolated).toBe(false);
      expect(state.info).toMatchObject({ backend: "wasm", threads: 1 });
      expect(state.info!.threadsReason).toMatch(/SharedArrayBuffer is unavailable: the page is not cross-origin isolated/);
      expect(await page.textContent("#threads-info")).toBe(`1: ${state.info!.threadsReason}`);
      expect(await page.textContent("#isolation")).toMatch(/not cross-origin isolated: one thread only/);
      expect(errors).toEqual([]);
      expect(new Set(served)).toEqual(SHIPPED);
    } finally {
      await page.close();
    }
  });
});
