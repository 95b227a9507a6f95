// Runs hostile model cases through the built library (dist/, so plain JavaScript: test children run without
// TypeScript), one after another in this process, with the model in this thread (`local`, createLocalEngine) or in
// the engine's worker (`worker`, createEngine). For each case it prints a line {"i", "start": true} before and one
// result line after: {"i", "ms", "outcome": "result" | "typed" | "untyped", "result"?, "class"?, "code"?,
// "message"?, "peakRssMiB"}. The parent (../hostile-corpus.test.ts) holds the memory cap over this whole process;
// the time limit is per case, kept by a watchdog thread here (a case in a local engine may block this thread), which
// prints {"i", "timeout": true} on stderr and kills the process. A case that hangs, crashes or blows the memory cap
// is the one that started and never ended; the parent starts a new child after it.
//
// Usage: node model-child.mjs <manifest.json> <local|worker> <first case index>
import { readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";

const [manifestPath, engineKind, firstArg] = process.argv.slice(2);
const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
const lib = await import(manifest.library);
const { TernionError, createEngine, createLocalEngine, openFileSource, readGgufHeader, tokenizerFromGguf } = lib;

// [index of the case running, its start (Date.now()), 0 when none runs]
const clock = new Float64Array(new SharedArrayBuffer(16));
const watchdog = new Worker(
  `const { workerData } = require("node:worker_threads");
   const { writeSync } = require("node:fs");
   const clock = new Float64Array(workerData.clock);
   setInterval(() => {
     const started = clock[1];
     if (started > 0 && Date.now() - started > workerData.limit) {
       writeSync(2, JSON.stringify({ i: clock[0], timeout: true, ms: Date.now() - started }) + "\\n");
       process.kill(process.pid, "SIGKILL");
     }
   }, 25);`,
  { eval: true, workerData: { clock: clock.buffer, limit: manifest.caseTimeLimitMs } },
);
await new Promise((resolve) => watchdog.once("online", resolve));
watchdog.unref();

const PROMPT = "Once upon a time";
const TEXT = "Once upon a time there was a little girl. She liked to play in the park with her dog.";

function peakRssMiB() {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"));
  return m ? Number(m[1]) / 1024 : 0;
}

async function withEngine(file, run) {
  const create = engineKind === "worker" ? createEngine : createLocalEngine;
  const engine = await create({ model: file, threads: 1 });
  try {
    return await run(engine);
  } finally {
    await engine.dispose();
  }
}

/** What each action does; the value returned is a short summary of the result. */
const ACTIONS = {
  load: (file) => withEngine(file, async (e) => ({ vocab: (await e.info()).model.vocabSize })),
  generate: (file) =>
    withEngine(file, async (e) => {
      const c = await e.complete(PROMPT, { maxTokens: 4, seed: 1 });
      return { tokens: c.tokens.length, stopReason: c.stopReason };
    }),
  chat: (file) =>
    withEngine(file, async (e) => {
      const r = await e.chat.completions.create({ messages: [{ role: "user", content: "Hi" }], max_tokens: 4, seed: 1 });
      return { finish: r.choices[0]?.finish_reason };
    }),
  ppl: (file) =>
    withEngine(file, async (e) => {
      const r = await e.perplexity(TEXT, { ctx: 16 });
      return { ppl: r.perplexity };
    }),
  inspect: async (file) => {
    if (engineKind === "worker") return withEngine(file, async (e) => ({ architecture: (await e.info()).model.architecture }));
    const source = await openFileSource(file);
    try {
      const header = await readGgufHeader(source);
      const tokenizer = tokenizerFromGguf(header.metadata);
      return { tensors: header.tensors.length, vocab: tokenizer.vocabSize ?? null };
    } finally {
      await source.close();
    }
  },
};

function describe(e) {
  const typed = e instanceof TernionError && typeof e.code === "string" && e.code.length > 0;
  return {
    outcome: typed ? "typed" : "untyped",
    class: e?.constructor?.name ?? typeof e,
    code: e?.code,
    message: String(e?.message ?? e).slice(0, 400),
    ...(typed ? {} : { stack: String(e?.stack ?? "").slice(0, 1000) }),
  };
}

for (let i = Number(firstArg); i < manifest.cases.length; i++) {
  const c = manifest.cases[i];
  process.stdout.write(`${JSON.stringify({ i, start: true })}\n`);
  const started = performance.now();
  clock[0] = i;
  clock[1] = Date.now();
  let line;
  try {
    const result = await ACTIONS[c.action](c.file);
    line = { outcome: "result", result };
  } catch (e) {
    line = describe(e);
  }
  clock[1] = 0;
  process.stdout.write(`${JSON.stringify({ i, ms: Math.round(performance.now() - started), ...line, peakRssMiB: peakRssMiB() })}\n`);
}
