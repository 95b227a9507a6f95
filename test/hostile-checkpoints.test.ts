// The hostile checkpoint corpus (test/hostile/checkpoint-cases.ts) resumed through the built library (a child
// process of test/hostile/resume-checkpoints.mjs, several cases each) and the CLI (`ternion finetune --resume`,
// one process per case), every process under the corpus's bounds (test/hostile/case.ts: resident memory and time
// per case, by test/hostile/bounded-run.ts). The only outcomes accepted: a resumed run whose student is the clean
// run's, or BAD_CHECKPOINT (the CLI: one line on stderr, exit 2); damage that is not a random mutation must be
// refused. Also: the CLI falls back to the previous checkpoint it keeps when the latest fails verification.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLocalEngine } from "../src/engine/local-engine.ts";
import type { EngineFinetuneOptions } from "../src/engine/engine.ts";
import { boundedRun, type BoundedRunResult } from "./hostile/bounded-run.ts";
import { CASE_MEMORY_CAP_MIB, CASE_TIME_LIMIT_MS } from "./hostile/case.ts";
import { checkpointCases, FUZZ_PREFIX } from "./hostile/checkpoint-cases.ts";
import { cliPath, repoRoot } from "./helpers/cli.ts";
import { sharedPath } from "./helpers/shared.ts";

const dir = mkdtempSync(join(tmpdir(), "ternion-hostile-ckpt-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const TEACHER = sharedPath("models/stories260K.gguf");
const DATA = join(dir, "data.txt");
writeFileSync(DATA, readFileSync(sharedPath("corpus/tinystories_sample.txt"), "utf8").slice(0, 8000));
// Blockwise over stories260K's 5 blocks (2, 2, 1, 1, 1 steps); the checkpoint at step 3 is inside block 1.
const RUN = { steps: 7, mode: "blockwise", group: 64, batch: 2, seqLen: 16, seed: 3 } as const satisfies EngineFinetuneOptions;
const RUN_FLAGS = ["--steps", "7", "--mode", "blockwise", "--group", "64", "--batch", "2", "--seq-len", "16", "--seed", "3"];
const CASES_PER_CHILD = 16;

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
let good: Uint8Array;
let cleanSha256: string;

beforeAll(async () => {
  // The clean run, through the library (its checkpoint at step 3 is the good one) and the CLI: the same student.
  const engine = await createLocalEngine({ model: TEACHER, backend: "wasm", threads: 1 });
  try {
    const r = await engine.finetune({
      ...RUN,
      data: readFileSync(DATA, "utf8"),
      checkpointEvery: 3,
      onCheckpoint: (c, step) => step === 3 && (good = c),
    });
    cleanSha256 = sha256(r.student);
  } finally {
    await engine.dispose();
  }
  const out = join(dir, "clean.gguf");
  const cli = await boundedRun(process.execPath, [cliPath, "finetune", "--teacher", TEACHER, "--data", DATA, ...RUN_FLAGS, "--out", out], {
    timeLimitMs: CASE_TIME_LIMIT_MS,
    memoryCapMiB: CASE_MEMORY_CAP_MIB,
    cwd: repoRoot,
  });
  expect(cli.exitCode, cli.stderr).toBe(0);
  expect(sha256(readFileSync(out))).toBe(cleanSha256);
});

/** The corrupted bytes of every case, written once. */
function writeCases(): { name: string; file: string }[] {
  mkdirSync(join(dir, "cases"), { recursive: true });
  return checkpointCases().map((c, i) => {
    const file = join(dir, "cases", `${i}.ckpt`);
    writeFileSync(file, c.corrupt(Uint8Array.from(good)));
    return { name: c.name, file };
  });
}

/** What a case may end as: the clean student, or BAD_CHECKPOINT (only that, unless a random mutation left it whole). */
function expectAccepted(name: string, refused: boolean, resumedSha256: string | undefined, detail: string): void {
  if (refused) return;
  expect(name.startsWith(FUZZ_PREFIX), `${name} resumed: ${detail}`).toBe(true);
  expect(resumedSha256, `${name} resumed to another student`).toBe(cleanSha256);
}

function expectWithinBounds(r: BoundedRunResult, cases: number, what: string): void {
  expect(r.killedFor, `${what}: killed for ${r.killedFor} (${r.peakRssMiB.toFixed(0)} MiB, ${r.wallMs.toFixed(0)} ms)`).toBeUndefined();
  expect(r.peakRssMiB, what).toBeLessThanOrEqual(CASE_MEMORY_CAP_MIB);
  expect(r.wallMs, what).toBeLessThanOrEqual(CASE_TIME_LIMIT_MS * cases);
}

/** `ternion finetune --resume` of the short run, writing `out` from the checkpoint beside it, under the corpus bounds. */
function resumeWithCli(out: string) {
  return boundedRun(process.execPath, [cliPath, "finetune", "--teacher", TEACHER, "--data", DATA, ...RUN_FLAGS, "--out", out, "--resume"], {
    timeLimitMs: CASE_TIME_LIMIT_MS,
    memoryCapMiB: CASE_MEMORY_CAP_MIB,
    cwd: repoRoot,
  });
}

describe("hostile checkpoints", () => {
  it("the corpus: through the library, each case refused with BAD_CHECKPOINT or resumed to the clean student", async () => {
    const cases = writeCases();
    expect(cases.length).toBeGreaterThan(150);
    const manifestOf = (chunk: typeof cases, i: number) => {
      const path = join(dir, `manifest-${i}.json`);
      writeFileSync(path, JSON.stringify({ teacher: TEACHER, data: DATA, run: RUN, cases: chunk }));
      return path;
    };
    let worstMs = 0;
    let worstMiB = 0;
    for (let i = 0; i < cases.length; i += CASES_PER_CHILD) {
      const chunk = cases.slice(i, i + CASES_PER_CHILD);
      const r = await boundedRun(process.execPath, [join(repoRoot, "test/hostile/resume-checkpoints.mjs"), manifestOf(chunk, i)], {
        timeLimitMs: CASE_TIME_LIMIT_MS * chunk.length,
        memoryCapMiB: CASE_MEMORY_CAP_MIB,
        cwd: repoRoot,
      });
      expectWithinBounds(r, chunk.length, `library child for cases ${i}…`);
      expect(r.exitCode, r.stderr).toBe(0);
      const lines = r.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.map((l) => l.name)).toEqual(chunk.map((c) => c.name));
      for (const l of lines) {
        const name = String(l.name);
        const refused = l.outcome === "error" && l.typed === true && l.code === "BAD_CHECKPOINT" && l.errorName === "CheckpointError";
        if (l.outcome === "error") expect(refused, `${name}: ${l.errorName} ${l.code} ${l.message}`).toBe(true);
        expectAccepted(name, refused, l.sha256 as string | undefined, JSON.stringify(l));
        expect(l.ms as number, name).toBeLessThanOrEqual(CASE_TIME_LIMIT_MS);
        worstMs = Math.max(worstMs, l.ms as number);
      }
      worstMiB = Math.max(worstMiB, r.peakRssMiB);
    }
    console.log(
      `checkpoint corpus, library: ${cases.length} cases, worst ${worstMs.toFixed(0)} ms per case, peak ${worstMiB.toFixed(0)} MiB per child`,
    );
  });

  it("the corpus: through the CLI, each case one line and exit 2 with BAD_CHECKPOINT, or exit 0 with the clean student", async () => {
    const cases = writeCases();
    let worstMs = 0;
    let worstMiB = 0;
    const runCase = async ({ name, file }: { name: string; file: string }, i: number) => {
      const out = join(dir, `cli-${i}.gguf`);
      writeFileSync(`${out}.ckpt`, readFileSync(file));
      const r = await resumeWithCli(out);
      expectWithinBounds(r, 1, name);
      const lines = r.stderr.trim().split("\n");
      const refused = r.exitCode === 2 && lines.length === 1 && /^ternion finetune: .* \[BAD_CHECKPOINT\]$/.test(lines[0]!);
      if (r.exitCode !== 0) expect(refused, `${name}: exit ${r.exitCode} ${r.signal ?? ""}\n${r.stderr}`).toBe(true);
      expectAccepted(name, refused, existsSync(out) ? sha256(readFileSync(out)) : undefined, r.stderr);
      worstMs = Math.max(worstMs, r.wallMs);
      worstMiB = Math.max(worstMiB, r.peakRssMiB);
      rmSync(out, { force: true });
    };
    // Two at a time: the machine's two cores.
    let next = 0;
    const worker = async () => {
      while (next < cases.length) {
        const i = next++;
        await runCase(cases[i]!, i);
      }
    };
    await Promise.all([worker(), worker()]);
    console.log(`checkpoint corpus, CLI: ${cases.length} cases, worst ${worstMs.toFixed(0)} ms, peak ${worstMiB.toFixed(0)} MiB per process`);
  });

  it("the CLI resumes from the previous checkpoint it keeps when the latest fails verification, and says so", async () => {
    const out = join(dir, "fallback.gguf");
    const damaged = Uint8Array.from(good);
    damaged[damaged.length - 1]! ^= 1;
    writeFileSync(`${out}.ckpt`, damaged);
    writeFileSync(`${out}.ckpt.prev`, good);
    const r = await resumeWithCli(out);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /fallback\.gguf\.ckpt fails verification: not a valid ternion checkpoint: checksum mismatch.*; resuming from the previous checkpoint .*fallback\.gguf\.ckpt\.prev\n/,
    );
    expect(sha256(readFileSync(out))).toBe(cleanSha256);
  });
});
