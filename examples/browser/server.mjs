// `npm run demo:browser`: bundles the demo (main.ts, which imports the built package's ternion/inline: run
// `npm run build` first) with esbuild into examples/browser/dist/, and serves this folder from a small static
// server (Node's http, nothing else) with the cross-origin-isolation headers that SharedArrayBuffer, and so
// the wasm threads, need. /models/<name>.gguf serves ../shared/models/ (HEAD and Range requests: the engine
// reads a model by ranges), /corpus/<name>.txt ../shared/corpus/ (training text for the fine-tune tab).
// Options: --port N (default 8080), --no-isolation (no COOP/COEP: one thread).
// The browser tests import buildDemo and startDemoServer.
import { build } from "esbuild";
import { createReadStream, existsSync } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, normalize, sep } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const repoRoot = join(here, "..", "..");
const modelsDir = join(repoRoot, "..", "shared", "models");
const corpusDir = join(repoRoot, "..", "shared", "corpus");

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".map": "application/json",
  ".ts": "text/plain; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".gguf": "application/octet-stream",
};

/** Bundles main.ts to dist/main.js (esbuild, from the built package: no file is copied). */
export async function buildDemo() {
  if (!existsSync(join(repoRoot, "dist", "inline.js"))) throw new Error("dist/inline.js is missing: run `npm run build` first");
  await build({
    entryPoints: [join(here, "main.ts")],
    outfile: join(here, "dist", "main.js"),
    bundle: true,
    format: "esm",
    target: "es2022",
    sourcemap: true,
    logLevel: "warning",
  });
}

/** The file a request path names: the demo folder, or a model under ../shared/models; undefined if neither. */
function resolvePath(pathname) {
  const models = /^\/models\/([\w.-]+\.gguf)$/.exec(pathname);
  if (models) return join(modelsDir, models[1]);
  const corpus = /^\/corpus\/([\w.-]+\.txt)$/.exec(pathname);
  if (corpus) return join(corpusDir, corpus[1]);
  let decoded;
  try {
    decoded = decodeURIComponent(pathname === "/" ? "/index.html" : pathname);
  } catch {
    return undefined;
  }
  const rel = normalize(decoded).replace(/^([/\\])+/, "");
  const file = join(here, rel);
  return file.startsWith(here) && !rel.split(sep).includes("..") ? file : undefined;
}

/**
 * Serves the demo on 127.0.0.1:`port` (0: any free port); `isolated` sends COOP/COEP; `onRequest` sees each
 * request's method and path. Resolves once listening.
 */
export function startDemoServer({ port = 8080, isolated = true, onRequest = undefined } = {}) {
  const server = createServer(async (req, res) => {
    onRequest?.(req.method, req.url);
    const headers = { "cache-control": "no-store" };
    if (isolated) {
      headers["cross-origin-opener-policy"] = "same-origin";
      headers["cross-origin-embedder-policy"] = "require-corp";
      headers["cross-origin-resource-policy"] = "same-origin";
    }
    const url = new URL(req.url ?? "/", "http://localhost");
    const file = resolvePath(url.pathname);
    const info = file ? await stat(file).catch(() => undefined) : undefined;
    if (!file || !info?.isFile() || (req.method !== "GET" && req.method !== "HEAD")) {
      res.writeHead(404, { ...headers, "content-type": "text/plain" }).end("not found");
      return;
    }
    headers["content-type"] = TYPES[extname(file)] ?? "application/octet-stream";
    headers["accept-ranges"] = "bytes";
    let start = 0;
    let end = info.size - 1;
    let status = 200;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    if (range) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), info.size - 1) : info.size - 1;
      if (start > end) {
        res.writeHead(416, { ...headers, "content-range": `bytes */${info.size}` }).end();
        return;
      }
      status = 206;
      headers["content-range"] = `bytes ${start}-${end}/${info.size}`;
    }
    headers["content-length"] = String(end - start + 1);
    res.writeHead(status, headers);
    if (req.method === "HEAD") res.end();
    else createReadStream(file, { start, end }).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${server.address().port}/` }));
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const portAt = args.indexOf("--port");
  const port = portAt >= 0 ? Number(args[portAt + 1]) : 8080;
  const isolated = !args.includes("--no-isolation");
  await buildDemo();
  const { url } = await startDemoServer({ port, isolated });
  console.log(`ternion browser demo: ${url}  (${isolated ? "cross-origin isolated: threads on" : "not isolated: one thread"}; Ctrl-C stops)`);
  console.log(`  stories260K by URL: ${url}?model=/models/stories260K.gguf`);
}
