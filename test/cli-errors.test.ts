// The CLI's one error family: whatever ends a command — a typed error, a bug, a rejection nobody awaited, an
// exception thrown outside any command's handling — ends it with one line on stderr and exit code 2; a bug reads
// "internal error" with where to report it, and a stack trace appears only with --debug. Text from a model file
// (general.name, the architecture, tensor names, error messages quoting them) reaches the terminal with its
// control characters escaped. The bugs are injected with `node --import` of a small module (data: URL), so that
// the CLI itself carries no test hook.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { readGgufHeader } from "../src/runtime/gguf/reader.ts";
import { ggufInputFromSource } from "../src/runtime/gguf/writer.ts";
import { writeGgufFile } from "../src/runtime/gguf/writer-node.ts";
import { type GgufArray, GgufValueType } from "../src/runtime/gguf/types.ts";
import { cliPath, repoRoot } from "./helpers/cli.ts";
import { patchTensor } from "./helpers/patch-tensor.ts";

const MODEL = join(repoRoot, "models/stories260K-ternary.gguf");
const ISSUES = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")).bugs.url as string;
/** An OSC that sets the window title, a colour, a clear screen, a C1 CSI and a right-to-left override. */
const HOSTILE = "evil\u001b]0;pwned\u0007\u001b[31mred\u001b[2J\u009b1m\u202eright";
// biome-ignore lint/suspicious/noControlCharactersInRegex: what must not reach a terminal
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

let dir: string;
let hostileName: string;
let hostileArchitecture: string;
let hostileToken: string;
let nanOutput: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ternion-cli-errors-"));
  hostileName = join(dir, "name.gguf");
  hostileArchitecture = join(dir, "architecture.gguf");
  const source = await openFileSource(MODEL);
  try {
    const input = ggufInputFromSource(source, await readGgufHeader(source));
    const withKey = (key: string, value: string) => new Map([...input.metadata, [key, { type: GgufValueType.STRING, value }]]);
    await writeGgufFile(hostileName, { ...input, metadata: withKey("general.name", HOSTILE) });
    await writeGgufFile(hostileArchitecture, { ...input, metadata: withKey("general.architecture", HOSTILE) });
    // The token greedy decoding picks first after "Once upon a time" (383, "▁there") spelled as a screen clear.
    const tokens = input.metadata.get("tokenizer.ggml.tokens")!.value as GgufArray;
    const spelled = [...(tokens.values as string[])];
    spelled[383] = "\u001b[2J";
    const metadata = new Map(input.metadata).set("tokenizer.ggml.tokens", { type: GgufValueType.ARRAY, value: { ...tokens, values: spelled } });
    hostileToken = join(dir, "token.gguf");
    await writeGgufFile(hostileToken, { ...input, metadata });
    nanOutput = join(dir, "nan-output.gguf");
    const nan = new Uint8Array(new Float32Array(64 * 512).fill(Number.NaN).buffer);
    writeFileSync(nanOutput, await patchTensor(new Uint8Array(readFileSync(MODEL)), "output.weight", 0, nan));
  } finally {
    await source.close();
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The CLI, with `inject` (JavaScript) run first in its process. */
function run(args: string[], inject?: string) {
  const pre = inject ? ["--import", `data:text/javascript,${encodeURIComponent(inject)}`] : [];
  const r = spawnSync(process.execPath, [...pre, cliPath, ...args], { encoding: "utf8", cwd: repoRoot, input: "" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const STACK_LINE = /^\s+at /m;
// A bug inside a command: opening any file throws a TypeError (a stand-in for a mistake in ternion's code).
const OPEN_THROWS =
  'import fs from "node:fs/promises"; import { syncBuiltinESMExports } from "node:module";' +
  'fs.open = async () => { throw new TypeError("boom in open"); }; syncBuiltinESMExports();';

describe("ternion's failures", () => {
  it("a bug in a command: one line, internal error, where to report it, exit 2, no stack", () => {
    const r = run(["inspect", MODEL], OPEN_THROWS);
    expect(r.status).toBe(2);
    expect(r.stderr.trimEnd().split("\n")).toEqual([
      expect.stringMatching(/^ternion inspect: internal error: TypeError: boom in open \(a bug in ternion/),
    ]);
    expect(r.stderr).toContain(`please report it at ${ISSUES}`);
    expect(r.stderr).not.toMatch(STACK_LINE);
  });

  it("--debug adds the stack trace, wherever it stands before --", () => {
    for (const args of [
      ["--debug", "inspect", MODEL],
      ["inspect", MODEL, "--debug"],
    ]) {
      const r = run(args, OPEN_THROWS);
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^ternion inspect: internal error: TypeError: boom in open/);
      expect(r.stderr).toMatch(STACK_LINE);
    }
  });

  it("--debug changes nothing when all goes well, and the help lists it", () => {
    const r = run(["inspect", "--debug", MODEL, "--no-sparsity"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("architecture: llama");
    expect(run(["--help"]).stdout).toMatch(/--debug\s+on a failure, print the stack trace/);
  });

  it("a rejection nobody awaited and an uncaught exception end the process the same way", () => {
    // Both start inside the command (when it opens the model), once the CLI's handlers are in place.
    const during = (code: string) =>
      'import fs from "node:fs/promises"; import { syncBuiltinESMExports } from "node:module"; const open = fs.open;' +
      `fs.open = (...a) => { ${code}; return open(...a); }; syncBuiltinESMExports();`;
    const rejection = run(["inspect", MODEL], during('Promise.reject(new RangeError("late rejection"))'));
    expect(rejection.status).toBe(2);
    expect(rejection.stderr.trimEnd().split("\n")).toEqual([
      expect.stringMatching(/^ternion inspect: internal error: RangeError: late rejection \(a bug/),
    ]);
    const thrown = run(["inspect", MODEL], during('setTimeout(() => { throw new Error("thrown in a callback"); }, 0)'));
    expect(thrown.status).toBe(2);
    expect(thrown.stderr.trimEnd().split("\n")).toEqual([expect.stringMatching(/^ternion inspect: internal error: thrown in a callback \(a bug/)]);
    expect(thrown.stderr).not.toMatch(STACK_LINE);
    expect(run(["inspect", MODEL, "--debug"], during('setTimeout(() => { throw new Error("x"); }, 0)')).stderr).toMatch(STACK_LINE);
  });

  it("a typed error stays one line with its code and no stack, --debug or not", () => {
    const r = run(["generate", "--model", dir, "--prompt", "x"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^ternion generate: .*directory.* \[IS_A_DIRECTORY\]\n$/);
    expect(run(["generate", "--model", dir, "--prompt", "x", "--debug"]).stderr).toMatch(STACK_LINE);
  });
});

describe("a model that computes NaN", () => {
  it("generate and ppl fail with NON_FINITE_LOGITS instead of printing token 0 or NaN", () => {
    const generate = run(["generate", "--model", nanOutput, "--prompt", "Once upon a time", "--max-tokens", "8", "--json"]);
    expect(generate.status).toBe(2);
    expect(generate.stderr).toMatch(
      /^ternion generate: the model computed a non-finite logit for position 5: token 0 is NaN .*\[NON_FINITE_LOGITS\]\n$/,
    );
    const ppl = run(["ppl", "--model", nanOutput, "--text", join(repoRoot, "../shared/corpus/tinystories-valid-a.txt"), "--ctx", "32"]);
    expect(ppl.status).toBe(2);
    expect(ppl.stdout).not.toMatch(/NaN/);
    expect(ppl.stderr).toMatch(/^ternion ppl: .*\[NON_FINITE_LOGITS\]\n$/);
  });
});

describe("text from a model file reaches the terminal escaped", () => {
  it("inspect: general.name with escape sequences", () => {
    const r = run(["inspect", hostileName, "--no-sparsity"]);
    expect(r.status).toBe(0);
    expect(r.stdout).not.toMatch(UNSAFE);
    expect(r.stdout).toContain('"evil\\u001b]0;pwned\\u0007\\u001b[31mred\\u001b[2J\\u009b1m\\u202eright"');
  });

  it("inspect --json: still valid JSON, with the name's exact text", () => {
    const r = run(["inspect", hostileName, "--json", "--no-sparsity"]);
    expect(r.stdout).not.toMatch(UNSAFE);
    expect(JSON.parse(r.stdout).name).toBe(HOSTILE);
  });

  it("an error message that quotes the file", () => {
    for (const command of [
      ["inspect", hostileArchitecture, "--no-sparsity"],
      ["generate", "--model", hostileArchitecture, "--prompt", "x"],
    ]) {
      const r = run(command);
      expect(r.stderr + r.stdout).not.toMatch(UNSAFE);
      expect(r.stderr + r.stdout).toContain("evil\\u001b]0;pwned");
    }
  });
});

describe("generated text", () => {
  const args = () => ["generate", "--model", hostileToken, "--prompt", "Once upon a time", "--max-tokens", "3", "--temperature", "0"];

  it("goes to a pipe as the model wrote it", () => {
    const r = run(args());
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("Once upon a time\u001b[2J was a\n");
  });

  it.skipIf(!existsSync("/usr/bin/script"))("reaches a terminal with its control characters escaped", () => {
    // util-linux script(1) runs the CLI on a pseudo-terminal and copies what it writes there.
    const command = [process.execPath, cliPath, ...args()].map((a) => `'${a}'`).join(" ");
    const r = spawnSync("/usr/bin/script", ["-qec", command, "/dev/null"], { encoding: "utf8", cwd: repoRoot, input: "" });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("Once upon a time\\u001b[2J was a");
    expect(r.stdout).not.toContain("\u001b[2J");
  });
});
