// Split models (…-00001-of-00003.gguf, as llama.cpp's gguf-split writes them) wherever a model is taken besides
// the engine's own loading: `inspect` (runtime/inspect.ts and the CLI) reports the whole model; a split teacher
// (src/train/finetune.ts, engine.finetune, `ternion finetune --teacher`) trains the student that the whole
// file does, from a path, a URL or hf: (the local hub server); `generate`, `ppl`, `quantize` and `chat` give what
// the whole file gives. The CLI tests need the build (dist/cli.js).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { EngineFinetuneOptions } from "../src/engine/engine.ts";
import { createLocalEngine } from "../src/engine/local-engine.ts";
import { openModel } from "../src/engine/model-source.ts";
import { bytesSource } from "../src/runtime/gguf/sources.ts";
import { inspectModel, type ModelReport } from "../src/runtime/inspect.ts";
import { finetune } from "../src/train/finetune.ts";
import { repoRoot, runCli, runCliAsync } from "./helpers/cli.ts";
import { startTestServer, type TestServer } from "./helpers/test-server.ts";
import { sharedPath } from "./helpers/shared.ts";
import { splitGguf } from "./helpers/split-model.ts";

const TERNARY = new Uint8Array(readFileSync(`${repoRoot}models/stories260K-ternary.gguf`));
const STORIES_PATH = sharedPath("models/stories260K.gguf");
const STORIES = new Uint8Array(readFileSync(STORIES_PATH));
const TEXT = readFileSync(sharedPath("corpus/tinystories_sample.txt"), "utf8").slice(0, 20_000);
const RUN = { steps: 2, mode: "blockwise", group: 64, batch: 2, seqLen: 16, seed: 3 } as const;

let dir: string;
let hub: TestServer;
let env: Record<string, string>;
/** The first parts' paths: the ternary model's (for inspect) and stories260K's (a float teacher). */
let ternaryFirst: string;
let storiesFirst: string;
let ternaryParts: { name: string; bytes: Uint8Array }[];
/** TEXT as a file, for the Node wrapper and the CLI. */
let textPath: string;

async function writeSplit(model: Uint8Array, prefix: string, repo: string): Promise<{ first: string; parts: { name: string; bytes: Uint8Array }[] }> {
  const parts = await splitGguf(model, prefix, 3);
  const at = join(dir, prefix);
  mkdirSync(at);
  for (const p of parts) {
    writeFileSync(join(at, p.name), p.bytes);
    hub.addFile(`owner/${repo}/${p.name}`, p.bytes);
  }
  return { first: join(at, parts[0]!.name), parts };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ternion-split-commands-"));
  textPath = join(dir, "data.txt");
  writeFileSync(textPath, TEXT);
  hub = await startTestServer();
  const ternary = await writeSplit(TERNARY, "ternary", "ternary");
  ternaryFirst = ternary.first;
  ternaryParts = ternary.parts;
  storiesFirst = (await writeSplit(STORIES, "stories", "stories")).first;
  hub.addFile("owner/stories/stories260K.gguf", STORIES);
});
afterAll(async () => {
  await hub.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  hub.reset();
  env = { TERNION_CACHE: mkdtempSync(join(dir, "cache-")), TERNION_HF_ENDPOINT: hub.endpoint, HF_TOKEN: "" };
});

/** The report of the whole file, and what a split model's must equal: all but the file size (the parts' sum). */
async function expectWholeModel(report: ModelReport): Promise<void> {
  const whole = await inspectModel(bytesSource(TERNARY));
  expect(report.tensors).toHaveLength(118);
  expect({ ...report, fileSize: 0 }).toEqual({ ...whole, fileSize: 0 });
  expect(report.fileSize).toBe(ternaryParts.reduce((n, p) => n + p.bytes.length, 0));
  expect(report.ternaryZeroFraction).toBeGreaterThan(0.5);
}

describe("inspect of a split model", () => {
  it("library: inspectModel of the opened parts reports the whole model (tensors, sparsity, no split keys)", async () => {
    const opened = await openModel(ternaryFirst);
    try {
      await expectWholeModel(await inspectModel(opened));
    } finally {
      await opened.close();
    }
  });

  it("CLI: the first part's path, URL or hf: reference reports the whole model", async () => {
    for (const ref of [
      ternaryFirst,
      `hf:owner/ternary/${ternaryParts[0]!.name}`,
      `${hub.fileUrl(`owner/ternary/${ternaryParts[0]!.name}`)}?download=1`,
    ]) {
      const r = await runCliAsync(["inspect", ref, "--json"], { env });
      expect(r.status, r.stderr).toBe(0);
      await expectWholeModel(JSON.parse(r.stdout) as ModelReport);
    }
    // Each part was downloaded once for hf: and once for the URL.
    const gets = hub.requests.filter((q) => q.method === "GET" && q.status !== 302).map((q) => q.path.split("?")[0]!.split("/").at(-1));
    expect(gets.sort()).toEqual([...ternaryParts, ...ternaryParts].map((p) => p.name).sort());
  });
});

describe("a split teacher", () => {
  let reference: Uint8Array;
  beforeAll(async () => {
    const engine = await createLocalEngine({ model: STORIES, backend: "wasm", threads: 1 });
    try {
      reference = (await engine.finetune({ ...RUN, data: TEXT, teacher: STORIES_PATH })).student;
    } finally {
      await engine.dispose();
    }
  });

  it("engine.finetune: a path, a URL and an hf: first part train the whole file's student", async () => {
    const engine = await createLocalEngine({
      model: STORIES,
      backend: "wasm",
      threads: 1,
      cacheDir: env.TERNION_CACHE,
      hub: { endpoint: hub.endpoint },
    });
    try {
      const teachers = [storiesFirst, "hf:owner/stories/stories-00001-of-00003.gguf", hub.fileUrl("owner/stories/stories-00001-of-00003.gguf")];
      for (const teacher of teachers) {
        const options: EngineFinetuneOptions = { ...RUN, data: TEXT, teacher };
        const { student } = await engine.finetune(options);
        expect(Buffer.compare(student, reference), teacher).toBe(0);
      }
    } finally {
      await engine.dispose();
    }
  });

  it("train/finetune.ts: the first part's path trains the whole file's student", async () => {
    const out = join(dir, "library-student.gguf");
    await finetune({ ...RUN, teacher: storiesFirst, data: textPath, out });
    expect(Buffer.compare(readFileSync(out), reference)).toBe(0);
  });

  it("ternion finetune --teacher: the hf: first part trains the whole file's student", async () => {
    const out = join(dir, "cli-student.gguf");
    const args = ["--data", textPath, "--steps", "2", "--group", "64", "--batch", "2", "--seq-len", "16", "--seed", "3", "--json"];
    const r = await runCliAsync(["finetune", "--teacher", "hf:owner/stories/stories-00001-of-00003.gguf", ...args, "--out", out], { env });
    expect(r.status, r.stderr).toBe(0);
    expect(Buffer.compare(readFileSync(out), reference)).toBe(0);
  });
});

describe("the CLI's other commands on a split model", () => {
  /** The command's stdout on the whole file and on the first part of the split one (`model` in place of --model). */
  async function both(args: (model: string) => string[], split: string): Promise<[string, string]> {
    const whole = await runCliAsync(args(STORIES_PATH), { env });
    const parts = await runCliAsync(args(split), { env });
    expect(whole.status, whole.stderr).toBe(0);
    expect(parts.status, parts.stderr).toBe(0);
    return [whole.stdout, parts.stdout];
  }

  it("generate (hf:), ppl and chat (path) answer as the whole file; quantize (path) writes the same bytes", async () => {
    const hfFirst = "hf:owner/stories/stories-00001-of-00003.gguf";
    const [generated, generatedSplit] = await both(
      (m) => ["generate", "--model", m, "--prompt", "Once upon a time", "--max-tokens", "12", "--temperature", "0", "--json"],
      hfFirst,
    );
    expect(JSON.parse(generatedSplit).text).toBe(JSON.parse(generated).text);
    const [ppl, pplSplit] = await both((m) => ["ppl", "--model", m, "--text", textPath, "--ctx", "64", "--json"], storiesFirst);
    expect(JSON.parse(pplSplit).ppl).toBe(JSON.parse(ppl).ppl);
    const chat = (m: string) => runCli(["chat", "--model", m, "--max-tokens", "8", "--temperature", "0", "--json"], { input: "Hi\n/exit\n" });
    const [answer, answerSplit] = [chat(STORIES_PATH), chat(storiesFirst)];
    expect(answerSplit.status, answerSplit.stderr).toBe(0);
    expect(JSON.parse(answerSplit.stdout).content).toBe(JSON.parse(answer.stdout).content);
    const out = (m: string) => join(dir, m === STORIES_PATH ? "q-whole.gguf" : "q-split.gguf");
    await both((m) => ["quantize", "--model", m, "--out", out(m), "--type", "tq2_0"], storiesFirst);
    expect(Buffer.compare(readFileSync(out(storiesFirst)), readFileSync(out(STORIES_PATH)))).toBe(0);
  });
});
