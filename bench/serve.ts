// `npm run bench:serve [-- --models default,700M --clients 1,8 --requests 16 --tokens 32 --prompt 32 --threads N
// --cache ~/.cache/ternion-bench --json]`: `ternion serve` (dist/cli.js, a process of its own) under load from
// concurrent streaming clients on /v1/completions. Each client sends its requests one after another until the
// run's requests are done; each request is a distinct prompt of `prompt` token ids and generates exactly
// `tokens` tokens (ignore_eos). Reports, per model and client count: generated tokens per second over the wall
// clock of the run (all clients together), and the p50/p95 time to first token as the client sees it (from
// sending the request to the first streamed text, queueing included); the load average before and after.
// Models: "default" (models/stories260K-ternary.gguf, the packaged one) and "700M" (the synthetic BitNet
// b1.58 700M-shaped TQ2_0 model of bench/decode.ts, generated once into the cache).
import { spawn } from "node:child_process";
import { homedir, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { BITNET_700M } from "../test/helpers/synthetic-model.ts";
import { ensureSyntheticModel } from "./synthetic-models.ts";

const { values } = parseArgs({
  options: {
    models: { type: "string", default: "default,700M" },
    clients: { type: "string", default: "1,8" },
    requests: { type: "string" },
    tokens: { type: "string" },
    prompt: { type: "string", default: "32" },
    threads: { type: "string" },
    cache: { type: "string", default: join(homedir(), ".cache", "ternion-bench") },
    json: { type: "boolean", default: false },
    wasm: { type: "string" }, // passed by scripts/bench-kernels.mjs; the server finds its own wasm
  },
  strict: true,
});

const root = resolve(import.meta.dirname, "..");
const cli = join(root, "dist/cli.js");

/** Per model: requests per run and tokens per request (the 700M shape decodes ≈ 100× slower). */
const DEFAULTS: Record<string, { requests: number; tokens: number }> = {
  default: { requests: 32, tokens: 128 },
  "700M": { requests: 16, tokens: 16 },
};

interface Row {
  model: string;
  clients: number;
  requests: number;
  tokensPerRequest: number;
  tokensPerSecond: number;
  ttftP50Ms: number;
  ttftP95Ms: number;
  loadBefore: number;
  loadAfter: number;
}

interface Server {
  baseUrl: string;
  stop(): Promise<number | null>;
}

async function startServer(model: string, threads: string | undefined): Promise<Server> {
  const args = [cli, "serve", "--model", model, "--port", "0", "--max-queue", "64", ...(threads ? ["--threads", threads] : [])];
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "ignore"] });
  let out = "";
  const baseUrl = await new Promise<string>((resolveUrl, reject) => {
    child.stdout.setEncoding("utf8").on("data", (t: string) => {
      out += t;
      const url = /(http:\/\/\S+\/v1)\b/.exec(out)?.[1];
      if (url) resolveUrl(url);
    });
    child.on("close", (code) => reject(new Error(`ternion serve ended (${code}) before listening: ${out}`)));
  });
  return {
    baseUrl,
    stop: () =>
      new Promise((r) => {
        child.on("close", r);
        child.kill("SIGTERM");
      }),
  };
}

/** One streamed completion: time to the first text and tokens generated (from the usage chunk). */
async function streamedCompletion(baseUrl: string, prompt: number[], tokens: number): Promise<{ ttftMs: number; tokens: number }> {
  const started = performance.now();
  const res = await fetch(`${baseUrl}/completions`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ prompt, max_tokens: tokens, ignore_eos: true, temperature: 0, stream: true, stream_options: { include_usage: true } }),
  });
  if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  let ttftMs = Number.NaN;
  let generated = 0;
  let buffer = "";
  const decoder = new TextDecoder();
  for await (const bytes of res.body as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!event.startsWith("data: ") || event === "data: [DONE]") continue;
      const chunk = JSON.parse(event.slice(6)) as { choices: { text: string }[]; usage?: { completion_tokens: number }; error?: unknown };
      if (chunk.error) throw new Error(JSON.stringify(chunk.error));
      if (Number.isNaN(ttftMs) && chunk.choices[0]?.text) ttftMs = performance.now() - started;
      if (chunk.usage) generated = chunk.usage.completion_tokens;
    }
  }
  return { ttftMs, tokens: generated };
}

/** Distinct prompts (token ids within every model's vocabulary, past the special tokens). */
function prompt(i: number, length: number): number[] {
  return Array.from({ length }, (_, j) => 3 + ((i * 131 + j * 7) % 250));
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function measure(baseUrl: string, clients: number, requests: number, tokens: number, promptLength: number, model: string): Promise<Row> {
  const loadBefore = loadavg()[0]!;
  const ttfts: number[] = [];
  let generated = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < requests) {
        const r = await streamedCompletion(baseUrl, prompt(next++, promptLength), tokens);
        ttfts.push(r.ttftMs);
        generated += r.tokens;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  if (generated !== requests * tokens) throw new Error(`generated ${generated} tokens, expected ${requests * tokens}`);
  ttfts.sort((a, b) => a - b);
  return {
    model,
    clients,
    requests,
    tokensPerRequest: tokens,
    tokensPerSecond: generated / seconds,
    ttftP50Ms: percentile(ttfts, 0.5),
    ttftP95Ms: percentile(ttfts, 0.95),
    loadBefore,
    loadAfter: loadavg()[0]!,
  };
}

async function modelPath(key: string): Promise<string> {
  if (key === "default") return join(root, "models/stories260K-ternary.gguf");
  if (key === "700M") return ensureSyntheticModel(values.cache, BITNET_700M);
  throw new Error(`unknown model ${key} (default, 700M)`);
}

const rows: Row[] = [];
for (const key of values.models.split(",")) {
  const server = await startServer(await modelPath(key), values.threads);
  try {
    const requests = Number(values.requests ?? DEFAULTS[key]!.requests);
    const tokens = Number(values.tokens ?? DEFAULTS[key]!.tokens);
    await streamedCompletion(server.baseUrl, prompt(999, Number(values.prompt)), 2); // warm-up
    for (const clients of values.clients.split(",").map(Number)) {
      const row = await measure(server.baseUrl, clients, requests, tokens, Number(values.prompt), key);
      rows.push(row);
      if (values.json) process.stdout.write(`${JSON.stringify(row)}\n`);
      else
        process.stdout.write(
          `${key.padEnd(8)} ${String(clients).padStart(2)} client${clients === 1 ? " " : "s"}  ${row.requests} × ${row.tokensPerRequest} tokens  ` +
            `${row.tokensPerSecond.toFixed(1).padStart(7)} tok/s  TTFT p50 ${row.ttftP50Ms.toFixed(0).padStart(6)} ms  p95 ${row.ttftP95Ms.toFixed(0).padStart(6)} ms  ` +
            `load ${row.loadBefore.toFixed(2)} → ${row.loadAfter.toFixed(2)}\n`,
        );
    }
  } finally {
    const code = await server.stop();
    if (code !== 0) process.stderr.write(`ternion serve exited with ${code}\n`);
  }
}
