// Model references on the command line against the local hub server (test/helpers/test-server.ts): `pull`,
// `models`, `models rm`, a --model given as hf: or a URL and pulled on first use, one-line errors with exit
// code 2 for 404, 401 and an unreachable server, a pull SIGKILLed mid-download and resumed, and two pulls at
// once. Needs the build (dist/cli.js).
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runCliAsync } from "./helpers/cli.ts";
import { lacks } from "./helpers/optional-deps.ts";
import { startTestServer, type TestServer } from "./helpers/test-server.ts";
import { STORIES_CONTINUATION, sharedPath } from "./helpers/shared.ts";

const STORIES_BYTES = new Uint8Array(readFileSync(sharedPath("models/stories260K.gguf")));
const BIG = new Uint8Array(randomBytes(24 << 20));
const STORIES_REF = "hf:owner/stories/stories260K.gguf";

let hub: TestServer;
let root: string;
let env: Record<string, string>;

beforeAll(async () => {
  hub = await startTestServer();
  hub.addFile("owner/stories/stories260K.gguf", STORIES_BYTES);
  hub.addFile("owner/big/big.gguf", BIG);
  root = mkdtempSync(join(tmpdir(), "ternion-cli-pull-"));
});

afterAll(async () => {
  await hub.close();
  rmSync(root, { recursive: true, force: true });
});

beforeEach(() => {
  hub.reset();
  hub.mode = {};
  env = { TERNION_CACHE: mkdtempSync(join(root, "cache-")), TERNION_HF_ENDPOINT: hub.endpoint, HF_TOKEN: "" };
});

/** A port on 127.0.0.1 that nothing listens on (one just closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  await new Promise((r) => server.close(r));
  return port;
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** The one partial file in the cache, once it holds at least `bytes` bytes. */
async function partialFile(bytes: number): Promise<string> {
  for (;;) {
    const models = join(env.TERNION_CACHE!, "models");
    const folders = existsSync(models) ? readdirSync(models, { withFileTypes: true }) : [];
    for (const folder of folders.filter((e) => e.isDirectory())) {
      const part = readdirSync(join(models, folder.name)).find((n) => n.endsWith(".part"));
      if (part && statSync(join(models, folder.name, part)).size >= bytes) return join(models, folder.name, part);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("ternion pull / models / --model <reference>", () => {
  it("pulls an hf: reference, lists it, runs it from the cache without a request, and removes it", async () => {
    const pulled = await runCliAsync(["pull", STORIES_REF, "--json"], { env });
    expect(pulled.stderr).toBe("");
    expect(pulled.status).toBe(0);
    const entry = JSON.parse(pulled.stdout);
    expect(entry).toMatchObject({ reference: `${STORIES_REF}@main`, size: STORIES_BYTES.length, verified: true, cached: false });
    expect(entry.path.startsWith(env.TERNION_CACHE!)).toBe(true);
    expect(sha256(readFileSync(entry.path))).toBe(sha256(STORIES_BYTES));

    const listed = await runCliAsync(["models", "--json"], { env });
    expect(listed.status).toBe(0);
    const entries = JSON.parse(listed.stdout);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ reference: `${STORIES_REF}@main`, size: STORIES_BYTES.length, path: entry.path });
    expect(typeof entries[0].lastUsed).toBe("string");
    const table = await runCliAsync(["models"], { env });
    expect(table.stdout).toMatch(/reference\s+size\s+path\s+last used/);
    expect(table.stdout).toContain(`${STORIES_REF}@main`);
    expect(table.stdout).toContain("1.13 MiB");

    hub.reset();
    const args = ["--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "40", "--threads", "1"];
    const generated = await runCliAsync(["generate", "--model", STORIES_REF, ...args], { env });
    expect(generated.status).toBe(0);
    expect(generated.stdout.startsWith(`Once upon a time${STORIES_CONTINUATION.slice(0, 60)}`)).toBe(true);
    expect(hub.requests).toHaveLength(0);

    const removed = await runCliAsync(["models", "rm", STORIES_REF], { env });
    expect(removed.status).toBe(0);
    expect(JSON.parse((await runCliAsync(["models", "--json"], { env })).stdout)).toEqual([]);
    const again = await runCliAsync(["models", "rm", STORIES_REF], { env });
    expect(again.status).toBe(2);
    expect(again.stderr).toMatch(/^ternion models: .*not in the cache.*\[NOT_CACHED\]\n$/);
  });

  it("pulls a --model given as an http(s) URL on first use (inspect, generate)", async () => {
    const url = hub.fileUrl("owner/stories/stories260K.gguf");
    const inspected = await runCliAsync(["inspect", url, "--json", "--no-sparsity"], { env });
    expect(inspected.status).toBe(0);
    expect(JSON.parse(inspected.stdout).architecture).toBe("llama");
    expect(hub.bytesServed).toBe(STORIES_BYTES.length);
    const generated = await runCliAsync(["generate", "-m", url, "--prompt", "Once upon a time", "--temperature", "0", "-n", "20", "--json"], { env });
    expect(generated.status).toBe(0);
    expect(STORIES_CONTINUATION.startsWith(JSON.parse(generated.stdout).text)).toBe(true);
    expect(hub.bytesServed).toBe(STORIES_BYTES.length); // the second command read the cache
  });

  it("ends 404, 401 and an unreachable server with one line on stderr and exit code 2", async () => {
    const missing = await runCliAsync(["pull", "hf:owner/stories/missing.gguf"], { env });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(
      /^ternion pull: no file at http:\/\/127\.0\.0\.1:\d+\/owner\/stories\/resolve\/main\/missing\.gguf \(HTTP 404\) \[NOT_FOUND\]\n$/,
    );
    const viaGenerate = await runCliAsync(["generate", "--model", "hf:owner/stories/missing.gguf", "--prompt", "x"], { env });
    expect(viaGenerate.status).toBe(2);
    expect(viaGenerate.stderr).toMatch(/^ternion generate: no file at .* \[NOT_FOUND\]\n$/);

    hub.reset();
    hub.mode.token = "secret";
    for (const token of ["", "wrong"]) {
      const refused = await runCliAsync(["pull", STORIES_REF], { env: { ...env, HF_TOKEN: token } });
      expect(refused.status).toBe(2);
      expect(refused.stderr).toMatch(/^ternion pull: .*refused access \(HTTP 401\).*\[UNAUTHORIZED\]\n$/);
    }
    expect(hub.requests.map((r) => r.authorization)).toEqual([undefined, "Bearer wrong"]);
    const allowed = await runCliAsync(["pull", STORIES_REF], { env: { ...env, HF_TOKEN: "secret" } });
    expect(allowed.status).toBe(0);
    expect(allowed.stdout).toMatch(/^hf:owner\/stories\/stories260K\.gguf@main: .*stories260K\.gguf \(1\.13 MiB, sha256 verified\)\n$/);

    const closed = await closedPort();
    const down = await runCliAsync(["pull", "hf:owner/stories/stories260K.gguf@v2"], {
      env: { ...env, TERNION_HF_ENDPOINT: `http://127.0.0.1:${closed}` },
    });
    expect(down.status).toBe(2);
    expect(down.stderr).toMatch(
      new RegExp(`^ternion pull: cannot download http://127\\.0\\.0\\.1:${closed}/.*ECONNREFUSED.*\\[DOWNLOAD_FAILED\\]\n$`),
    );
  });

  it("resumes a pull that was SIGKILLed mid-download: the bytes fetched before are not fetched again", async () => {
    hub.mode.bytesPerSecond = 8 << 20;
    let partSize = 0;
    const killed = await runCliAsync(["pull", "hf:owner/big/big.gguf"], {
      env,
      onSpawn: (child) => {
        void partialFile(6 << 20).then(() => child.kill("SIGKILL"));
      },
    });
    expect(killed.signal).toBe("SIGKILL");
    const part = await partialFile(0);
    partSize = statSync(part).size;
    expect(partSize).toBeGreaterThanOrEqual(6 << 20);
    expect(partSize).toBeLessThan(BIG.length);
    const servedBeforeKill = hub.bytesServed;

    hub.mode = {};
    const resumed = await runCliAsync(["pull", "hf:owner/big/big.gguf", "--json"], { env });
    expect(resumed.status).toBe(0);
    const entry = JSON.parse(resumed.stdout);
    expect(sha256(readFileSync(entry.path))).toBe(sha256(BIG));
    expect(hub.requests.filter((r) => r.status === 206).map((r) => r.range)).toEqual([`bytes=${partSize}-`]);
    // Sent but lost at the kill: what was in flight and not yet written (one write batch at most, 1 MiB).
    const extra = hub.bytesServed - BIG.length;
    expect(extra).toBeGreaterThanOrEqual(0);
    expect(extra).toBeLessThanOrEqual(1 << 20);
    expect(servedBeforeKill - partSize).toBe(extra);
  });

  it.skipIf(lacks("deno"))("pulls and runs an hf: model under Deno", async () => {
    const deno = ["--allow-read", "--allow-env", "--allow-sys", "--allow-net=127.0.0.1", `--allow-write=${env.TERNION_CACHE}`];
    const args = ["generate", "--model", STORIES_REF, "--prompt", "Once upon a time", "--temperature", "0", "-n", "20", "--json"];
    const r = await runCliAsync(args, { env, deno });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(STORIES_CONTINUATION.startsWith(JSON.parse(r.stdout).text)).toBe(true);
    const listed = await runCliAsync(["models", "--json"], { env, deno });
    expect(JSON.parse(listed.stdout).map((e: { reference: string }) => e.reference)).toEqual([`${STORIES_REF}@main`]);
    expect(hub.bytesServed).toBe(STORIES_BYTES.length);
  });

  it("gives two pulls of the same file at once one good file and one download", async () => {
    hub.mode.bytesPerSecond = 16 << 20;
    const [a, b] = await Promise.all([
      runCliAsync(["pull", "hf:owner/big/big.gguf", "--json"], { env }),
      runCliAsync(["pull", "hf:owner/big/big.gguf", "--json"], { env }),
    ]);
    expect([a.status, b.status]).toEqual([0, 0]);
    const [ea, eb] = [JSON.parse(a.stdout), JSON.parse(b.stdout)];
    expect(ea.path).toBe(eb.path);
    expect([ea.cached, eb.cached].sort()).toEqual([false, true]);
    expect(sha256(readFileSync(ea.path))).toBe(sha256(BIG));
    expect(hub.bytesServed).toBe(BIG.length);
    expect(readdirSync(join(ea.path, "..")).sort()).toEqual(["big.gguf", "entry.json"]);
  });
});
