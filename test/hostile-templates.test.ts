// The hostile chat templates (test/hostile/template-cases.ts) run through the library, one process per case
// under the corpus bounds (256 MiB resident, 10 s; test/hostile/bounded-run.ts): a local engine and a worker
// engine on the built bundle (dist/node.js: `npm run build` first) load the model and answer one chat turn.
// Each must end with the outcome the case names, in time and memory. TERNION_DIST runs another build's bundle
// (e.g. an older one, for before/after figures).
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { boundedRun } from "./hostile/bounded-run.ts";
import { CASE_MEMORY_CAP_MIB, CASE_TIME_LIMIT_MS } from "./hostile/case.ts";
import { templateCases, templateOutcomes } from "./hostile/template-cases.ts";

const DIST = pathToFileURL(resolve(process.env.TERNION_DIST ?? "dist")).href;

/** One chat turn; prints { answer } or the error's { name, code, message } as JSON, and the render's time. */
const CHILD = `
const { createEngine, createLocalEngine } = await import(${JSON.stringify(`${DIST}/node.js`)});
const [model, kind] = process.argv.slice(2);
const engine = await (kind === "worker" ? createEngine : createLocalEngine)({ model, backend: "wasm", threads: 1 });
let out;
const started = performance.now();
try {
  const c = await engine.chat.completions.create({ messages: [{ role: "user", content: "Hi" }], max_tokens: 4, temperature: 0 });
  out = { answer: true, finish: c.choices[0].finish_reason };
} catch (e) {
  out = { name: e?.name, code: e?.code, message: String(e?.message ?? e) };
}
out.chatMs = Math.round(performance.now() - started);
await engine.dispose();
process.stdout.write(JSON.stringify(out));
`;

const dir = mkdtempSync(join(tmpdir(), "ternion-hostile-templates-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
// A file, not --eval: a worker inherits the process's flags, and --input-type would stop it.
const child = join(dir, "chat-turn.mjs");
writeFileSync(child, CHILD);

const worst = { ms: 0, mib: 0, case: "" };
afterAll(() => console.log(`hostile templates: worst ${Math.round(worst.ms)} ms, ${worst.mib.toFixed(1)} MiB peak (${worst.case})`));

describe.each(["local", "worker"])("hostile chat templates, %s engine", (kind) => {
  it.each(templateCases().map((c) => [c.name, c] as const))("%s", async (name, c) => {
    const file = join(dir, `${name.replaceAll("/", "_")}.gguf`);
    writeFileSync(file, c.model());
    const r = await boundedRun(process.execPath, [child, file, kind], {
      timeLimitMs: CASE_TIME_LIMIT_MS,
      memoryCapMiB: CASE_MEMORY_CAP_MIB,
    });
    if (r.wallMs > worst.ms) Object.assign(worst, { ms: r.wallMs, case: `${kind} ${name}` });
    worst.mib = Math.max(worst.mib, r.peakRssMiB);
    expect(r.killedFor, `${name}: ${r.stderr.slice(-500)}`).toBeUndefined();
    expect(r.exitCode, r.stderr.slice(-500)).toBe(0);
    const out = JSON.parse(r.stdout) as { answer?: true; name?: string; code?: string; message?: string };
    const expected = templateOutcomes.get(name)!;
    if ("answer" in expected) expect(out).toMatchObject({ answer: true });
    else if (expected.code === "ANY") expect(out.answer === true || (typeof out.code === "string" && out.code !== "")).toBe(true);
    else {
      expect(out).toMatchObject({ code: expected.code });
      if (expected.message) expect(out.message).toMatch(expected.message);
    }
  });
});
