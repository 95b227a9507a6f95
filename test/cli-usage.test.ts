// The CLI's manners, as a user meets them (dist/cli.js; run `npm run build` first): --version, help, short flags,
// "did you mean", and one friendly line for a wrong path.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cliPath, repoRoot, runCli, runCliDeno, type CliResult } from "./helpers/cli.ts";
import { sharedPath } from "./helpers/shared.ts";

const STORIES = sharedPath("models/stories260K.gguf");
const MODELS = sharedPath("models");
const TEXT = sharedPath("corpus/tinystories_sample.txt");
const VERSION = (JSON.parse(readFileSync(repoRoot + "package.json", "utf8")) as { version: string }).version;
const COMMANDS = ["generate", "chat", "ppl", "bench", "inspect", "quantize", "convert-bitllama", "finetune", "serve"];

/** A usage error: exit code 2, one line on stderr, nothing on stdout; returns that line. */
function usageError(r: CliResult): string {
  expect(r.status, r.stderr).toBe(2);
  expect(r.stdout).toBe("");
  const lines = r.stderr.trim().split("\n");
  expect(lines, r.stderr).toHaveLength(1);
  return lines[0]!;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "ternion-usage-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("ternion --version", () => {
  it("--version, -v and -V print the package's version", () => {
    for (const flag of ["--version", "-v", "-V"]) {
      const r = runCli([flag]);
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(`ternion ${VERSION}\n`);
    }
    expect(usageError(runCli(["--version", "extra"]))).toMatch(/unexpected argument "extra"/);
  });

  it("works from the installed package, run through its bin link from another folder, and under Deno", () => {
    // node_modules/ternion as npm lays it out: package.json and dist/ (the CLI alone is enough for --version), its
    // dependencies beside it, and .bin/ternion a link to dist/cli.js.
    const modules = join(dir, "app", "node_modules");
    mkdirSync(join(modules, "ternion", "dist"), { recursive: true });
    mkdirSync(join(modules, ".bin"));
    mkdirSync(join(modules, "@huggingface"));
    copyFileSync(cliPath, join(modules, "ternion", "dist", "cli.js"));
    writeFileSync(join(modules, "ternion", "package.json"), JSON.stringify({ name: "ternion", version: "9.8.7-installed", type: "module" }));
    symlinkSync(repoRoot + "node_modules/comlink", join(modules, "comlink"), "dir");
    symlinkSync(repoRoot + "node_modules/@huggingface/jinja", join(modules, "@huggingface", "jinja"), "dir");
    symlinkSync("../ternion/dist/cli.js", join(modules, ".bin", "ternion"));
    const elsewhere = join(dir, "elsewhere");
    mkdirSync(elsewhere);
    const r = spawnSync(process.execPath, [join(modules, ".bin", "ternion"), "--version"], { cwd: elsewhere, encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("ternion 9.8.7-installed\n");

    const deno = runCliDeno(["--version"]);
    expect(deno.stderr).toBe("");
    expect(deno.stdout).toBe(`ternion ${VERSION}\n`);
  });
});

describe("ternion help", () => {
  it("`help`, --help and -h print the overview with every command; no command prints it with exit code 1", () => {
    const help = runCli(["help"]);
    expect(help.status).toBe(0);
    for (const name of COMMANDS) expect(help.stdout).toMatch(new RegExp(`^  ${name}\\s+\\S`, "m"));
    expect(help.stdout).toContain("-v, --version");
    expect(help.stdout).toContain("-h, --help");
    for (const flag of ["--help", "-h"]) expect(runCli([flag]).stdout).toBe(help.stdout);
    const none = runCli([]);
    expect(none.status).toBe(1);
    expect(none.stdout).toBe(help.stdout);
  });

  it("`help <command>` prints the command's help, as --help and -h after it do", () => {
    for (const name of COMMANDS) {
      const help = runCli(["help", name]);
      expect(help.status).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^usage: ternion ${name} `));
      expect(help.stdout).toContain("options:");
      expect(runCli([name, "--help"]).stdout).toBe(help.stdout);
      expect(runCli([name, "-h"]).stdout).toBe(help.stdout);
      expect(runCli(["--help", name]).stdout).toBe(help.stdout);
    }
    // A help request next to a mistake still shows the help; -h as a flag's value is that value.
    expect(runCli(["generate", "--bogus", "--help"]).stdout).toMatch(/^usage: ternion generate /);
    const asValue = runCli(["generate", "--prompt", "-h", "--model", STORIES, "--max-tokens", "2", "--threads", "1"]);
    expect(asValue.status, asValue.stderr).toBe(0);
    expect(asValue.stdout.startsWith("-h")).toBe(true);
  });

  it("each command's help lists its short flags beside the long ones", () => {
    const shorts: Record<string, string[]> = {
      generate: ["-m, --model", "-p, --prompt", "-n, --max-tokens", "-t, --threads", "-h, --help"],
      chat: ["-m, --model", "-n, --max-tokens", "-t, --threads", "-h, --help"],
      ppl: ["-m, --model", "-t, --threads", "-h, --help"],
      bench: ["-m, --model", "-t, --threads", "-h, --help"],
      inspect: ["-h, --help"],
      quantize: ["-m, --model", "-h, --help"],
      "convert-bitllama": ["-m, --model", "-h, --help"],
      finetune: ["-t, --threads", "-h, --help"],
    };
    for (const [name, expected] of Object.entries(shorts)) {
      const help = runCli(["help", name]).stdout;
      for (const pair of expected) expect(help, `${name}: ${pair}`).toContain(pair);
      // Flags without a short form stay aligned under the long names.
      expect(help).toMatch(/^ {6}--json\s/m);
    }
  });

  it("an unknown command names the commands and the closest one, in one line with exit code 2", () => {
    const line = usageError(runCli(["genrate", "--model", STORIES]));
    expect(line).toMatch(/^ternion: unknown command "genrate" \(did you mean generate\?\); the commands are /);
    for (const name of COMMANDS) expect(line).toContain(name);
    expect(usageError(runCli(["help", "chta"]))).toMatch(/unknown command "chta" \(did you mean chat\?\)/);
    expect(usageError(runCli(["frobnicate"]))).not.toContain("did you mean");
    expect(usageError(runCli(["--verison"]))).toMatch(/unknown flag --verison \(did you mean --version\?\)/);
  });
});

describe("short flags", () => {
  it("-m -p -n -t run generate as --model --prompt --max-tokens --threads do, also as -n5", () => {
    const long = runCli([
      "generate",
      "--model",
      STORIES,
      "--prompt",
      "Once upon a time",
      "--max-tokens",
      "12",
      "--threads",
      "1",
      "--temperature",
      "0",
      "--json",
    ]);
    expect(long.status, long.stderr).toBe(0);
    const expected = JSON.parse(long.stdout);
    expect(expected.tokens).toHaveLength(12);
    for (const args of [
      ["-m", STORIES, "-p", "Once upon a time", "-n", "12", "-t", "1"],
      [`-m${STORIES}`, "-pOnce upon a time", "-n12", "-t1"],
    ]) {
      const short = runCli(["generate", ...args, "--temperature", "0", "--json"]);
      expect(short.status, short.stderr).toBe(0);
      const out = JSON.parse(short.stdout);
      expect(out.tokens).toEqual(expected.tokens);
      expect(out.stats.threads).toBe(1);
    }
  });

  it("-m, -n and -t reach chat, ppl and bench", () => {
    const chat = runCli(["chat", "-m", STORIES, "-n", "3", "-t", "1", "--temperature", "0", "--json"], { input: "Hello\n/exit\n" });
    expect(chat.status, chat.stderr).toBe(0);
    expect(JSON.parse(chat.stdout).usage.completion_tokens).toBe(3);
    const ppl = runCli(["ppl", "-m", STORIES, "--text", TEXT, "--ctx", "64", "-t", "1", "--json"]);
    expect(ppl.status, ppl.stderr).toBe(0);
    expect(JSON.parse(ppl.stdout).ctx).toBe(64);
    const bench = runCli(["bench", "-m", STORIES, "-t", "1", "--prompt-tokens", "4", "--gen-tokens", "2", "--repetitions", "1", "--json"]);
    expect(bench.status, bench.stderr).toBe(0);
    expect(JSON.parse(bench.stdout).map((row: { threads: number }) => row.threads)).toEqual([1, 1]);
  });
});

describe("did you mean", () => {
  it("names the closest flag for a misspelled one, a long flag typed with one dash, and a misspelled choice", () => {
    const base = ["generate", "--model", STORIES, "--prompt", "x"];
    for (const [args, message] of [
      [["--max-token", "5"], "unknown flag --max-token (did you mean --max-tokens?)"],
      [["--temprature", "0"], "unknown flag --temprature (did you mean --temperature?)"],
      [["--tpo-k", "5"], "unknown flag --tpo-k (did you mean --top-k?)"],
      [["-json"], "unknown flag -json (did you mean --json?)"],
      [["-seed", "3"], "unknown flag -seed (did you mean --seed?)"],
      [["-M", STORIES], "unknown flag -M (did you mean -m?)"],
      [["--backend", "wsam"], '--backend must be wasm, webgpu, auto, got "wsam" (did you mean wasm?)'],
    ] as [string[], string][]) {
      expect(usageError(runCli([...base, ...args]))).toBe(
        `ternion generate: ${message} [${message.startsWith("--backend") ? "BAD_FLAG_VALUE" : "UNKNOWN_FLAG"}]`,
      );
    }
    expect(usageError(runCli(["finetune", "--teacher", STORIES, "--data-fre"]))).toContain("(did you mean --data-free?)");
    // A word far from every flag gets no guess.
    expect(usageError(runCli([...base, "--frobnicate"]))).toBe("ternion generate: unknown flag --frobnicate [UNKNOWN_FLAG]");
    expect(usageError(runCli([...base, "-x"]))).toBe("ternion generate: unknown flag -x [UNKNOWN_FLAG]");
  });
});

describe("a wrong path", () => {
  it("a missing model is one line naming it (and a file of a close name), exit code 2, in every command", () => {
    const missing = join(MODELS, "stories260k.gguf"); // the K in lower case
    const runs: [string[], string][] = [
      [["generate", "-m", missing, "-p", "x"], "model"],
      [["chat", "-m", missing], "model"],
      [["ppl", "-m", missing, "--text", TEXT], "model"],
      [["bench", "-m", missing], "model"],
      [["inspect", missing], "model"],
      [["quantize", "-m", missing, "--out", join(dir, "q.gguf"), "--type", "tq2_0"], "model"],
      [["finetune", "--teacher", missing, "--data", TEXT, "--steps", "1", "--out", join(dir, "s.gguf")], "teacher"],
    ];
    for (const [args, what] of runs) {
      const line = usageError(runCli(args, { input: "Hello\n" }));
      expect(line).toBe(`ternion ${args[0]}: cannot open the ${what} ${missing}: no such file (did you mean ${STORIES}?) [MODEL_NOT_FOUND]`);
    }
    expect(usageError(runCli(["generate", "-m", "/nonexistent/model.gguf", "-p", "x"]))).toBe(
      "ternion generate: cannot open the model /nonexistent/model.gguf: no such file [MODEL_NOT_FOUND]",
    );
    expect(usageError(runCli(["ppl", "-m", STORIES, "--text", join(dir, "none.txt")]))).toMatch(
      /cannot open the text .*none\.txt: no such file \[FILE_NOT_FOUND\]$/,
    );
    expect(usageError(runCli(["convert-bitllama", "-m", join(dir, "m.bin"), "--tokenizer", "t.bin", "--out", join(dir, "x.gguf")]))).toMatch(
      /cannot open the checkpoint .*m\.bin: no such file \[FILE_NOT_FOUND\]$/,
    );
  });

  it("a directory as the model is one line naming the model files in it", () => {
    for (const args of [
      ["generate", "-m", MODELS, "-p", "x"],
      ["chat", "-m", MODELS],
      ["inspect", MODELS],
    ]) {
      const line = usageError(runCli(args, { input: "Hello\n" }));
      expect(line).toBe(
        `ternion ${args[0]}: cannot open the model ${MODELS}: it is a directory, not a file (it holds ${join(MODELS, "stories260K.gguf")}) [IS_A_DIRECTORY]`,
      );
    }
    const empty = join(dir, "empty");
    mkdirSync(empty);
    expect(usageError(runCli(["bench", "-m", empty]))).toBe(
      `ternion bench: cannot open the model ${empty}: it is a directory, not a file [IS_A_DIRECTORY]`,
    );
  });

  it("an --out in a folder that does not exist is one line before any work", () => {
    const out = join(dir, "no-such-folder", "x.gguf");
    expect(usageError(runCli(["quantize", "-m", STORIES, "--type", "tq2_0", "--out", out]))).toBe(
      `ternion quantize: cannot write --out ${out}: no folder ${join(dir, "no-such-folder")} [FOLDER_NOT_FOUND]`,
    );
  });
});
