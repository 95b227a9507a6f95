// A chat template that would run long, on both engines (createLocalEngine; createEngine, whose worker is
// dist/engine-worker.js: `npm run build` first): the render ends at its time budget with BAD_CHAT_TEMPLATE and
// the engine works on; a local engine's thread is blocked no longer than the budget; an abort or dispose()
// reaches a worker busy rendering (its shared interrupt flags), and a local render that has not started yet.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHAT_TEMPLATE_KEY } from "../src/engine/chat-template.ts";
import type { Engine, EngineOptions } from "../src/engine/engine.ts";
import { createLocalEngine } from "../src/engine/local-engine.ts";
import { DEFAULT_TEMPLATE_BUDGET } from "../src/engine/template-budget.ts";
import { createEngine } from "../src/engine/worker-engine.ts";
import { readGgufHeader } from "../src/runtime/gguf/reader.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { GgufValueType } from "../src/runtime/gguf/types.ts";
import { ggufInputFromSource } from "../src/runtime/gguf/writer.ts";
import { writeGgufFile } from "../src/runtime/gguf/writer-node.ts";
import { sharedPath } from "./helpers/shared.ts";

/** Sorts a 30,000-item list again and again: few steps, each of them slow, so the time budget ends it. */
const SLOW = "{% set l = range(30000) | list %}{% for i in range(1000) %}{% for j in range(1000) %}{% set s = l | sort %}{% endfor %}{% endfor %}";
const BUDGET_MS = DEFAULT_TEMPLATE_BUDGET.maxMilliseconds;
const MESSAGES = [{ role: "user", content: "Hi" }];

let dir: string;
let slow: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ternion-engine-chat-template-"));
  slow = join(dir, "slow-template.gguf");
  const source = await openFileSource(sharedPath("models/stories260K.gguf"));
  try {
    const input = ggufInputFromSource(source, await readGgufHeader(source));
    const metadata = new Map(input.metadata);
    metadata.set(CHAT_TEMPLATE_KEY, { type: GgufValueType.STRING, value: SLOW });
    await writeGgufFile(slow, { ...input, metadata });
  } finally {
    await source.close();
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const engines: [string, (o: EngineOptions) => Promise<Engine>][] = [
  ["createLocalEngine", createLocalEngine],
  ["createEngine", createEngine],
];

/** How `call` settles and how long it takes (a local engine's render runs inside the call itself). */
async function timed<T>(call: () => Promise<T>): Promise<{ settled: PromiseSettledResult<T>; ms: number }> {
  const started = performance.now();
  const [settled] = await Promise.allSettled([call()]);
  return { settled: settled!, ms: performance.now() - started };
}

describe.each(engines)("%s: a chat template that would run long", (_name, create) => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await create({ model: slow, backend: "wasm", threads: 1 });
  });
  afterAll(() => engine?.dispose());

  it("ends at the time budget with BAD_CHAT_TEMPLATE, blocking this thread no longer, and the engine works on", async () => {
    // The longest gap between two ticks of this thread's event loop while the render runs.
    let last = performance.now();
    let longestGap = 0;
    const ticks = setInterval(() => {
      const now = performance.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
    }, 5);
    const { settled, ms } = await timed(() => engine.applyChatTemplate(MESSAGES));
    clearInterval(ticks);
    expect(settled).toMatchObject({ status: "rejected", reason: { name: "ModelError", code: "BAD_CHAT_TEMPLATE" } });
    expect((settled as PromiseRejectedResult).reason.message).toMatch(`ms > ${BUDGET_MS} ms after`);
    expect(ms).toBeGreaterThanOrEqual(BUDGET_MS);
    expect(ms).toBeLessThan(BUDGET_MS + 1500);
    expect(longestGap).toBeLessThan(BUDGET_MS + 1000);
    const chat = await timed(() => engine.chat.completions.create({ messages: MESSAGES, max_tokens: 3 }));
    expect(chat.settled).toMatchObject({ status: "rejected", reason: { code: "BAD_CHAT_TEMPLATE" } });
    expect((await engine.complete("Once upon a time", { maxTokens: 3, temperature: 0 })).tokens).toHaveLength(3);
  });

  it("an abort given before the render starts ends the turn without rendering", async () => {
    const controller = new AbortController();
    const turn = engine.chat.completions.create({ messages: MESSAGES, max_tokens: 3 }, { signal: controller.signal });
    controller.abort();
    const { settled, ms } = await timed(() => turn);
    expect(settled).toMatchObject({ status: "fulfilled", value: { choices: [{ finish_reason: "abort" }] } });
    expect(ms).toBeLessThan(BUDGET_MS / 2);
  });
});

describe("createEngine: the worker is interrupted while it renders", () => {
  it("an abort ends the render mid-way, and the engine works on", async () => {
    const engine = await createEngine({ model: slow, backend: "wasm", threads: 1 });
    try {
      const controller = new AbortController();
      const turn = timed(() => engine.chat.completions.create({ messages: MESSAGES, max_tokens: 3 }, { signal: controller.signal }));
      setTimeout(() => controller.abort(), 150);
      const { settled, ms } = await turn;
      expect(settled).toMatchObject({ status: "fulfilled", value: { choices: [{ finish_reason: "abort" }] } });
      expect(ms).toBeLessThan(BUDGET_MS - 200); // without the interrupt, the render would run to its budget
      expect((await engine.complete("Once upon a time", { maxTokens: 3, temperature: 0 })).tokens).toHaveLength(3);
    } finally {
      await engine.dispose();
    }
  });

  it("dispose() ends the render mid-way", async () => {
    const engine = await createEngine({ model: slow, backend: "wasm", threads: 1 });
    const turn = timed(() => engine.chat.completions.create({ messages: MESSAGES, max_tokens: 3 }));
    await new Promise((r) => setTimeout(r, 150));
    const disposed = await timed(() => engine.dispose());
    expect(disposed.settled.status).toBe("fulfilled");
    const { settled, ms } = await turn;
    expect(ms).toBeLessThan(BUDGET_MS - 200);
    expect(settled.status === "rejected" ? (settled.reason as { code?: string }).code : "abort").toMatch(/DISPOSED|abort/);
  });
});
