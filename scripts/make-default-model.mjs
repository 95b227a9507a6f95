// `npm run make:default-model`: makes models/stories260K-ternary.gguf, the ternary model that the CLI runs when
// no --model is given (src/cli/default-model.ts). It is Karpathy's float stories260K (llama2.c tinyllamas, MIT)
// fine-tuned into a DLT student by ternion's own `finetune` (full schedule, OFF distillation) on 2 MiB of
// TinyStories (CDLA-Sharing-1.0); models/README.md states the sources, licences and the file's sha256.
// Training is seeded and bit-reproducible, so a rerun writes the same bytes. Run `npm run build` first; the
// inputs are read from ../shared (override with --shared DIR).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = fileURLToPath(new URL("../", import.meta.url));
const { values } = parseArgs({ options: { shared: { type: "string", default: resolve(root, "../shared") } } });
const teacher = join(values.shared, "models/stories260K.gguf");
const data = join(values.shared, "corpus/tinystories-train-2MiB.txt");
const cli = join(root, "dist/cli.js");
const out = join(root, "models/stories260K-ternary.gguf");
// The package ships the model: it must stay small.
const MAX_BYTES = 2 * 1024 * 1024;

// 1000 steps of 8 × 64 tokens (one thread: 9 to 14 minutes on a busy 2-vCPU machine); models/README.md says why
// 1000 and what the model scores.
const FINETUNE = ["--mode", "full", "--loss", "off", "--steps", "1000", "--batch", "8", "--seq-len", "64", "--group", "128", "--seed", "1"];

/** @type {[string, string][]} */
const inputs = [
  [cli, "dist/cli.js: run `npm run build` first"],
  [teacher, "the float teacher: pass --shared DIR (the folder with models/ and corpus/)"],
  [data, "the training text: pass --shared DIR (the folder with models/ and corpus/)"],
];
for (const [file, what] of inputs) {
  if (!existsSync(file)) {
    console.error(`make-default-model: ${file} is missing (${what})`);
    process.exit(1);
  }
}

// The student goes to a scratch folder first: finetune writes a loss-curve SVG beside it, which is not shipped.
const scratch = mkdtempSync(join(tmpdir(), "ternion-default-model-"));
try {
  const student = join(scratch, "student.gguf");
  const run = spawnSync(process.execPath, [cli, "finetune", "--teacher", teacher, "--data", data, "--out", student, ...FINETUNE], {
    stdio: "inherit",
  });
  if (run.status !== 0) {
    console.error(`make-default-model: finetune failed (exit ${run.status ?? run.signal})`);
    process.exit(1);
  }
  const size = statSync(student).size;
  if (size > MAX_BYTES) {
    console.error(`make-default-model: the student is ${size} bytes, over the ${MAX_BYTES} the package may ship`);
    process.exit(1);
  }
  copyFileSync(student, out);
  const sha256 = createHash("sha256").update(readFileSync(out)).digest("hex");
  console.log(`wrote ${out}: ${size} bytes, sha256 ${sha256}`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
