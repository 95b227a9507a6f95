// The fine-tuning entry points end to end on the real stories260K: the built CLI killed with SIGKILL after
// a checkpoint appeared and resumed writes the same bytes as an uninterrupted run (both schedules); the
// library call stops cleanly on an AbortSignal and resumes to the same bytes; --json and the loss curve;
// data-free sampling is seeded and `--data-free-tokens` sets its size; wrong flags give one clear line and a non-zero exit.
import { afterAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { sampleTeacherStream } from "../src/train/data-free.ts";
import { finetune, type FinetuneOptions } from "../src/train/finetune.ts";
import { repoRoot, runCli } from "./helpers/cli.ts";
import { sharedPath } from "./helpers/shared.ts";

const dir = mkdtempSync(join(tmpdir(), "ternion-finetune-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const teacher = sharedPath("models/stories260K.gguf");
const data = sharedPath("corpus/tinystories_sample.txt");

/** `ternion finetune` of stories260K on the sample text, `steps` steps into `out`, g = 64, and more options. */
const finetuneArgs = (out: string, steps: number, ...more: string[]) => [
  "finetune",
  "--teacher",
  teacher,
  "--data",
  data,
  "--steps",
  String(steps),
  "--out",
  out,
  "--group",
  "64",
  ...more,
];
const runArgs = (mode: string, out: string, steps: number) =>
  finetuneArgs(out, steps, "--mode", mode, "--batch", "4", "--seq-len", "32", "--seed", "5", "--checkpoint-every", "3");

/** Starts the CLI, SIGKILLs it as soon as its first checkpoint exists (or `ready` holds), and returns whether the kill came first. */
function runAndKill(args: string[], checkpoint: string, out: string, ready = () => existsSync(checkpoint)): Promise<{ killedBeforeEnd: boolean }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [repoRoot + "dist/cli.js", ...args], { cwd: repoRoot, stdio: "ignore" });
    const poll = setInterval(() => {
      if (ready()) {
        clearInterval(poll);
        const finished = existsSync(out);
        child.kill("SIGKILL");
        child.once("exit", (_code, signal) => resolveRun({ killedBeforeEnd: !finished && signal === "SIGKILL" }));
      }
    }, 5);
    child.once("error", reject);
    child.once("exit", () => clearInterval(poll));
  });
}

describe("ternion finetune: SIGKILL and --resume", () => {
  for (const [mode, steps] of [
    ["blockwise", 60],
    ["full", 12],
  ] as const) {
    it(`${mode}: a run killed after a checkpoint and resumed writes the bytes of an uninterrupted run`, async () => {
      const straight = join(dir, `${mode}-straight.gguf`);
      const r1 = runCli([...runArgs(mode, straight, steps), "--json"]);
      expect(r1.stderr).toBe("");
      expect(r1.status).toBe(0);

      const killed = join(dir, `${mode}-killed.gguf`);
      const { killedBeforeEnd } = await runAndKill(runArgs(mode, killed, steps), `${killed}.ckpt`, killed);
      expect(killedBeforeEnd).toBe(true);
      expect(existsSync(killed)).toBe(false);
      const r2 = runCli([...runArgs(mode, killed, steps), "--resume"]);
      expect(r2.status).toBe(0);
      expect(readFileSync(killed).equals(readFileSync(straight))).toBe(true);
      expect(readFileSync(killed.replace(/\.gguf$/, ".loss.svg"), "utf8")).toBe(readFileSync(straight.replace(/\.gguf$/, ".loss.svg"), "utf8"));
    });
  }

  it("killed after its second checkpoint, whose file is then damaged, it resumes from the previous one it kept: the same bytes", async () => {
    const straight = join(dir, "prev-straight.gguf");
    expect(runCli(runArgs("full", straight, 12)).status).toBe(0);
    const killed = join(dir, "prev-killed.gguf");
    const latest = `${killed}.ckpt`;
    const previous = `${latest}.prev`;
    // Both files: between moving the latest to .prev and writing the new one, only .prev exists.
    const { killedBeforeEnd } = await runAndKill(runArgs("full", killed, 12), latest, killed, () => existsSync(previous) && existsSync(latest));
    expect(killedBeforeEnd).toBe(true);
    const damaged = readFileSync(latest);
    damaged[damaged.length >> 1]! ^= 0x20;
    writeFileSync(latest, damaged);
    const r = runCli([...runArgs("full", killed, 12), "--resume"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /^ternion finetune: .*prev-killed\.gguf\.ckpt fails verification: not a valid ternion checkpoint: checksum mismatch .*; resuming from the previous checkpoint .*prev-killed\.gguf\.ckpt\.prev\n/,
    );
    expect(readFileSync(killed).equals(readFileSync(straight))).toBe(true);
  });

  it("--json prints one object with the run's figures; the loss curve is an SVG beside the output", () => {
    const out = join(dir, "json.gguf");
    const r = runCli([
      "finetune",
      "--teacher",
      teacher,
      "--data",
      data,
      "--steps",
      "5",
      "--out",
      out,
      "--group",
      "64",
      "--batch",
      "2",
      "--seq-len",
      "16",
      "--json",
    ]);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(j)).toEqual(expect.arrayContaining(["steps", "mode", "loss", "evalPplBefore", "evalPplAfter", "tokensPerSecond", "out"]));
    expect([j.steps, j.mode, j.out, j.evalPplBefore]).toEqual([5, "blockwise", out, null]);
    expect(j.loss).toBeGreaterThan(0);
    expect(j.tokensPerSecond).toBeGreaterThan(0);
    expect(readFileSync(join(dir, "json.loss.svg"), "utf8")).toMatch(/^<svg [^>]*>[\s\S]*<path d="M/);
  });

  it("--resume refuses a checkpoint written with other options", () => {
    const out = join(dir, "mismatch.gguf");
    const base = [
      "finetune",
      "--teacher",
      teacher,
      "--data",
      data,
      "--steps",
      "6",
      "--out",
      out,
      "--group",
      "64",
      "--batch",
      "2",
      "--seq-len",
      "16",
      "--checkpoint-every",
      "2",
    ];
    expect(runCli(base).status).toBe(0);
    const r = runCli([...base, "--resume", "--lr", "0.02"]);
    expect(r.status).toBe(2);
    // The previous checkpoint (kept beside it) is tried too, and fails the same way.
    const [latest, previous] = r.stderr.trim().split("\n");
    expect(latest).toMatch(
      /^ternion finetune: .*ckpt fails verification: it was written with other options: lr 0.001 there, 0.02 here; resuming from the previous/,
    );
    expect(previous).toMatch(/^ternion finetune: .*ckpt.prev fails verification: .*other options: lr 0.001 there, 0.02 here \[BAD_CHECKPOINT\]$/);
  });

  const small = (out: string, steps: number, ...more: string[]) => finetuneArgs(out, steps, "--batch", "2", "--seq-len", "16", ...more);

  it("a 4-step blockwise run reports each block's loss against its own start, not one climbing 'final loss'", () => {
    const r = runCli(small(join(dir, "four.gguf"), 4));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/final loss/);
    expect(r.stdout).toMatch(/loss per block \(its output against the teacher's; each block has its own scale/);
    expect(r.stdout).toMatch(/^\s+3\s+1\s+[\d.]+\s+[\d.]+\s+— \(1 step\)$/m);
    expect(r.stdout).toMatch(/^block 4: no step \(4 steps over 5 blocks\), left as initialized$/m);
    expect(r.stderr).toMatch(/^ternion finetune: step 2\/4 block 1 step 1\/1 loss [\d.]+ \(the block's first\)/m);
    expect(readFileSync(join(dir, "four.loss.svg"), "utf8")).toMatch(/class="block-curve" data-block="3"/);
  });

  it("--resume with more --steps extends a finished run (another pass over the blocks); fewer steps are refused", () => {
    const out = join(dir, "extend.gguf");
    expect(runCli(small(out, 5, "--checkpoint-every", "5")).status).toBe(0);
    const first = readFileSync(out);
    const r = runCli(small(out, 8, "--checkpoint-every", "5", "--resume"));
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(out).equals(first)).toBe(false);
    expect(r.stdout).toMatch(/^pass\s+block\s+steps/m);
    expect(r.stdout).toMatch(/^\s+2\s+0\s+1\s/m);
    expect(r.stderr).toMatch(/step 6\/8 block 0 step 1\/1 \(pass 2\)/);
    const fewer = runCli(small(out, 6, "--checkpoint-every", "5", "--resume"));
    expect(fewer.status).toBe(2);
    expect(fewer.stderr).toMatch(
      /its run has 8 steps \(8 done\), more than the 6 asked for: resume with 8 steps, or more to extend the finished run \[BAD_CHECKPOINT\]$/m,
    );
  });

  it("a teacher that is ternary already trains, with a warning on stderr", () => {
    const r = runCli([
      "finetune",
      "--teacher",
      repoRoot + "models/stories260K-ternary.gguf",
      "--data",
      data,
      "--steps",
      "2",
      "--out",
      join(dir, "t.gguf"),
      "--group",
      "64",
      "--batch",
      "2",
      "--seq-len",
      "16",
      "--json",
    ]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /^ternion finetune: warning: the teacher is ternary already \(it is a DLT student .*fine-tune from the float model it was made from$/m,
    );
    expect(JSON.parse(r.stdout)).toMatchObject({
      teacherTernary: true,
      warnings: [expect.stringMatching(/^warning: the teacher is ternary already/)],
    });
  });

  for (const [args, message] of [
    [["--data", data, "--steps", "5", "--out", "x.gguf"], /--teacher <path> is required \[MISSING_FLAG\]/],
    [["--teacher", teacher, "--steps", "5", "--out", "x.gguf"], /--data <file> or --data-free is required/],
    [["--teacher", teacher, "--data", data, "--data-free", "--steps", "5", "--out", "x.gguf"], /not both/],
    [["--teacher", teacher, "--data", data, "--steps", "5", "--out", "x.gguf", "--data-free-tokens", "500"], /--data-free-tokens needs --data-free/],
    [
      ["--teacher", teacher, "--data-free", "--steps", "5", "--out", "x.gguf", "--data-free-tokens", "0"],
      /--data-free-tokens must be an integer ≥ 1, got "0"/,
    ],
    [["--teacher", teacher, "--data", data, "--steps", "five", "--out", "x.gguf"], /--steps must be an integer ≥ 1, got "five"/],
    [["--teacher", teacher, "--data", data, "--steps", "5", "--out", "x.gguf", "--mode", "fast"], /--mode must be blockwise or full, got "fast"/],
    [["--teacher", teacher, "--data", data, "--steps", "5", "--out", "x.gguf", "--group", "100"], /--group must be 64, 128 or 256/],
    [["--teacher", teacher, "--data", data, "--steps", "5", "--out", "x.gguf", "--speed", "2"], /unknown flag --speed/],
    [["--teacher", teacher, "--data", data, "--steps", "5", "--out", join(dir, "r.gguf"), "--resume"], /no checkpoint at/],
    [["--teacher", teacher, "--data", data, "--steps", "5", "--out", "x.gguf", "--salient", "0.5"], /salient 0.5 must be a number in \[0, 0.25\]/],
    [["--teacher", teacher, "--data", data, "--steps", "5", "--out", "x.gguf", "--salient", "0"], /salient 0 must be > 0/],
    [["--teacher", teacher, "--data", data, "--steps", "5", "--out", "x.gguf", "--salient-freeze"], /need --salient <P> \[BAD_FLAG_VALUE\]/],
    [
      ["--teacher", teacher, "--data", data, "--steps", "5", "--out", "x.gguf", "--salient", "0.01", "--salient-metric", "size"],
      /--salient-metric must be magnitude or hessian/,
    ],
    [["--teacher", teacher, "--data", data, "--steps", "5", "--out", "x.gguf", "--kl", "1", "--kl-temperature", "0"], /--kl-temperature must be > 0/],
    [
      ["--teacher", teacher, "--data", data, "--steps", "5", "--out", "x.gguf", "--kl", "1", "--kl-temperature", "hot"],
      /--kl-temperature must be a number ≥ 0, got "hot"/,
    ],
    [
      ["--teacher", teacher, "--data", data, "--steps", "5", "--out", "x.gguf", "--kl-temperature", "2"],
      /klTemperature 2 needs a KL term \(kl > 0\)/,
    ],
  ] as const) {
    it(`rejects ${args.slice(-2).join(" ")} with one line`, () => {
      const r = runCli(["finetune", ...args]);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe("");
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(message);
    });
  }
});

describe("finetune() library call", () => {
  it("stops on an AbortSignal after a checkpoint-consistent step, and resumes to the uninterrupted bytes", async () => {
    const common: Omit<FinetuneOptions, "out"> = { teacher, data, steps: 12, mode: "blockwise", group: 64, batch: 2, seqLen: 16, seed: 9 };
    const straight = join(dir, "lib-straight.gguf");
    const progress: number[] = [];
    const r = await finetune({ ...common, out: straight }, { onProgress: (p) => progress.push(p.step) });
    expect(progress).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(r.losses).toHaveLength(12);

    const stopped = join(dir, "lib-stopped.gguf");
    const ac = new AbortController();
    await expect(finetune({ ...common, out: stopped }, { signal: ac.signal, onProgress: (p) => p.step === 5 && ac.abort() })).rejects.toMatchObject({
      code: "ABORTED",
    });
    expect(existsSync(stopped)).toBe(false);
    expect(existsSync(`${stopped}.ckpt`)).toBe(true);
    const resumed = await finetune({ ...common, out: stopped, resume: true });
    expect(resumed.losses).toEqual(r.losses);
    expect(readFileSync(stopped).equals(readFileSync(straight))).toBe(true);
  });
});

describe("data-free data", () => {
  it("samples the same stream for the same seed, another for another seed, starting at BOS", async () => {
    const sample = async (seed: number) => {
      const source = await openFileSource(teacher);
      try {
        return await sampleTeacherStream(source, { tokens: 400, seed });
      } finally {
        await source.close();
      }
    };
    const a = await sample(1);
    const b = await sample(1);
    const c = await sample(2);
    expect(a[0]).toBe(1);
    expect(Buffer.from(a.buffer).equals(Buffer.from(b.buffer))).toBe(true);
    expect(Buffer.from(a.buffer).equals(Buffer.from(c.buffer))).toBe(false);
    expect(new Set(a).size).toBeGreaterThan(50); // text, not a stuck token
  });

  it("ternion finetune --data-free-tokens N trains on N sampled tokens: finetune()'s bytes with dataFreeTokens N, not the default's", async () => {
    // 3 steps of 2 × 16 tokens: the default stream is 96 tokens, so 500 gives other windows and another student
    const common = { teacher, dataFree: true, steps: 3, mode: "full", group: 64, batch: 2, seqLen: 16, seed: 4 } as const;
    const cli = join(dir, "data-free-cli.gguf");
    const r = runCli([
      "finetune",
      "--teacher",
      teacher,
      "--data-free",
      "--data-free-tokens",
      "500",
      "--steps",
      "3",
      "--mode",
      "full",
      "--group",
      "64",
      "--batch",
      "2",
      "--seq-len",
      "16",
      "--seed",
      "4",
      "--out",
      cli,
      "--json",
    ]);
    expect(r.status, r.stderr).toBe(0);
    const withTokens = join(dir, "data-free-500.gguf");
    const byDefault = join(dir, "data-free-default.gguf");
    await finetune({ ...common, dataFreeTokens: 500, out: withTokens });
    await finetune({ ...common, out: byDefault });
    expect(readFileSync(cli).equals(readFileSync(withTokens))).toBe(true);
    expect(readFileSync(cli).equals(readFileSync(byDefault))).toBe(false);
  });
});
