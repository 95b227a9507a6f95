// `npm run bench:pull [-- --mb 300 --repetitions 5]`: `ternion pull` of a file from the local hub server
// (test/helpers/test-server.ts) against `curl -L` on the same URL, interleaved and repeated, each a fresh process
// into a fresh folder; prints MB/s of each (wall clock of the whole command, process start included), their ratio,
// and the pull's peak RSS (GNU time's %M) for this file and for one a tenth its size, which shows whether memory
// grows with the file. A third contender, a bare node:http GET of the same URL that discards the bytes (no hash,
// no file) in a fresh `node` process, is the ceiling of any download from Node on this machine. Each contender's
// CPU time (user + system, GNU time's %U %S) is printed too: on a shared machine the wall clock swings with the
// load, the CPU a download costs much less; so is the CLI's start (`ternion --version`), to tell how much of the
// gap to curl is the start rather than the bytes. Needs the build (dist/cli.js), curl and /usr/bin/time.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startTestServer } from "../test/helpers/test-server.ts";

const { values } = parseArgs({
  options: { mb: { type: "string", default: "300" }, repetitions: { type: "string", default: "5" }, wasm: { type: "string" } },
  strict: true,
});
const bytes = Number(values.mb) * 1e6;
const repetitions = Number(values.repetitions);
const cli = resolve(import.meta.dirname, "../dist/cli.js");
const work = mkdtempSync(join(tmpdir(), "ternion-bench-pull-"));

interface Run {
  seconds: number;
  /** User + system CPU seconds. */
  cpuSeconds: number;
  peakRssKiB: number;
}

/** Runs `argv` under GNU time: wall seconds, CPU seconds and peak RSS. */
async function timed(argv: string[], env: Record<string, string> = {}): Promise<Run> {
  const rssFile = join(work, "rss");
  const started = performance.now();
  const child = spawn("/usr/bin/time", ["-f", "%U %S %M", "-o", rssFile, ...argv], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (t: string) => (stderr += t));
  const status = await new Promise<number | null>((r) => child.on("close", r));
  const seconds = (performance.now() - started) / 1000;
  if (status !== 0) throw new Error(`${argv.join(" ")} failed (${status}): ${stderr}`);
  const [user, system, rss] = readFileSync(rssFile, "utf8").trim().split("\n").at(-1)!.split(" ").map(Number);
  return { seconds, cpuSeconds: user! + system!, peakRssKiB: rss! };
}

async function pull(ref: string, endpoint: string, size: number): Promise<Run> {
  const cache = mkdtempSync(join(work, "cache-"));
  try {
    const run = await timed([process.execPath, cli, "pull", ref], { TERNION_CACHE: cache, TERNION_HF_ENDPOINT: endpoint });
    const models = join(cache, "models");
    const [entry] = (await import("node:fs")).readdirSync(models);
    if (statSync(join(models, entry!, ref.split("/").at(-1)!)).size !== size) throw new Error("the pulled file has the wrong size");
    return run;
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}

async function curl(url: string, size: number): Promise<Run> {
  const out = join(work, "curl.out");
  try {
    const run = await timed(["curl", "-sS", "-f", "-L", "-o", out, url]);
    if (statSync(out).size !== size) throw new Error("curl's file has the wrong size");
    return run;
  } finally {
    rmSync(out, { force: true });
  }
}

/** The ceiling: node's start-up and its HTTP client reading the body, nothing else (one redirect followed). */
const BARE_NODE_GET = `
const http = require("node:http");
const get = (url) => http.get(url, { agent: false }, (res) => {
  if (res.statusCode >= 300 && res.statusCode < 400) { res.resume(); return get(new URL(res.headers.location, url).href); }
  let n = 0;
  res.on("data", (chunk) => { n += chunk.length; });
  res.on("end", () => { if (n !== Number(process.argv[2])) process.exit(3); });
});
get(process.argv[1]);`;

async function bareNode(url: string, size: number): Promise<Run> {
  return timed([process.execPath, "-e", BARE_NODE_GET, url, String(size)]);
}

const mbps = (size: number, r: Run) => size / 1e6 / r.seconds;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const hub = await startTestServer();
try {
  const big = new Uint8Array(randomBytes(bytes));
  const small = big.subarray(0, Math.round(bytes / 10));
  hub.addFile("bench/pull/big.gguf", big);
  hub.addFile("bench/pull/small.gguf", small);
  const url = `${hub.endpoint}/bench/pull/resolve/main/big.gguf`;
  console.log(
    `pull vs curl: ${(bytes / 1e6).toFixed(0)} MB from ${url}, ${repetitions} interleaved repetitions; load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
  );

  await curl(url, big.length); // warm-up: page cache, server
  const pulls: Run[] = [];
  const curls: Run[] = [];
  const bares: Run[] = [];
  for (let i = 0; i < repetitions; i++) {
    const order = i % 2 === 0 ? ["pull", "curl", "bare"] : ["bare", "curl", "pull"];
    for (const which of order) {
      if (which === "pull") pulls.push(await pull("hf:bench/pull/big.gguf", hub.endpoint, big.length));
      else if (which === "curl") curls.push(await curl(url, big.length));
      else bares.push(await bareNode(url, big.length));
    }
    console.log(
      `  #${i + 1}: pull ${mbps(big.length, pulls.at(-1)!).toFixed(1)} MB/s, curl ${mbps(big.length, curls.at(-1)!).toFixed(1)} MB/s, ` +
        `bare node:http ${mbps(big.length, bares.at(-1)!).toFixed(1)} MB/s`,
    );
  }
  const smallPull = await pull("hf:bench/pull/small.gguf", hub.endpoint, small.length);
  const starts: Run[] = [];
  for (let i = 0; i < repetitions; i++) starts.push(await timed([process.execPath, cli, "--version"]));
  const p = pulls.map((r) => mbps(big.length, r));
  const c = curls.map((r) => mbps(big.length, r));
  const b = bares.map((r) => mbps(big.length, r));
  console.log(`ternion pull: ${mean(p).toFixed(1)} ± ${sd(p).toFixed(1)} MB/s (median ${median(p).toFixed(1)})`);
  console.log(`curl -L:      ${mean(c).toFixed(1)} ± ${sd(c).toFixed(1)} MB/s (median ${median(c).toFixed(1)})`);
  console.log(`bare node:http (no hash, no file: the ceiling): ${mean(b).toFixed(1)} ± ${sd(b).toFixed(1)} MB/s (median ${median(b).toFixed(1)})`);
  console.log(
    `ratio pull/curl: ${(mean(p) / mean(c)).toFixed(2)} of the means, ${(median(p) / median(c)).toFixed(2)} of the medians (goal ≥ 0.80); ceiling bare/curl ${(mean(b) / mean(c)).toFixed(2)}, pull/ceiling ${(mean(p) / mean(b)).toFixed(2)}`,
  );
  const cpu = (runs: Run[]) => median(runs.map((r) => r.cpuSeconds)).toFixed(2);
  const wall = (runs: Run[]) => median(runs.map((r) => r.seconds)).toFixed(2);
  console.log(
    `CPU seconds (median): pull ${cpu(pulls)}, curl ${cpu(curls)}, bare node:http ${cpu(bares)}; ` +
      `the CLI's start (ternion --version) ${wall(starts)} s wall, ${cpu(starts)} s CPU, of the pull's ${wall(pulls)} s (curl ${wall(curls)} s)`,
  );
  console.log(
    `pull peak RSS: ${(Math.max(...pulls.map((r) => r.peakRssKiB)) / 1024).toFixed(1)} MiB for ${(big.length / 1e6).toFixed(0)} MB, ` +
      `${(smallPull.peakRssKiB / 1024).toFixed(1)} MiB for ${(small.length / 1e6).toFixed(0)} MB (curl: ${(Math.max(...curls.map((r) => r.peakRssKiB)) / 1024).toFixed(1)} MiB)`,
  );
  console.log(
    `load average after: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
  );
} finally {
  await hub.close();
  rmSync(work, { recursive: true, force: true });
}
