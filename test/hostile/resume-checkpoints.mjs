// Child process of test/hostile-checkpoints.test.ts: resumes a fine-tuning run from each checkpoint file of a
// manifest through the built library (dist/node.js: a local engine's finetune with resumeFrom) and prints one
// JSON line per case: how it ended (the student's sha256, or the error's class, code and message), the time it
// took and the resident memory after it.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createLocalEngine, TernionError } from "../../dist/node.js";

const manifest = JSON.parse(readFileSync(process.argv[2], "utf8"));
const data = readFileSync(manifest.data, "utf8");
const engine = await createLocalEngine({ model: manifest.teacher, backend: "wasm", threads: 1 });
for (const c of manifest.cases) {
  const started = performance.now();
  let line;
  try {
    const r = await engine.finetune({ ...manifest.run, data, resumeFrom: new Uint8Array(readFileSync(c.file)) });
    line = { name: c.name, outcome: "resumed", sha256: createHash("sha256").update(r.student).digest("hex") };
  } catch (e) {
    const typed = e instanceof TernionError;
    line = { name: c.name, outcome: "error", typed, errorName: e?.name, code: e?.code, message: String(e?.message).slice(0, 400) };
  }
  line.ms = performance.now() - started;
  line.rssMiB = process.memoryUsage().rss / 2 ** 20;
  process.stdout.write(`${JSON.stringify(line)}\n`);
}
await engine.dispose();
