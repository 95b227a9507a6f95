// The hostile corpus (issue 15): every bad model file (./hostile/gguf-cases.ts) and hostile chat template
// (./hostile/template-cases.ts) through the library with the model in the calling thread, the worker engine and
// the CLI, each case under a memory cap and a time limit (./hostile/case.ts). Accepted: a result, or a typed
// error (a TernionError with a code; from the CLI one line on stderr, exit 2, no stack), or the one outcome a case
// names (its `expect`). A crash, a hang, a memory blow-up or an untyped error fails the case.
//
// The library paths run many cases per child process (./hostile/model-child.mjs), which measures each case's time
// itself and is killed by a watchdog past the limit; the memory cap holds over the whole child, so a case blamed
// for memory is the one that was running when the child's peak passed it. The CLI runs a process per case.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isControlCharacter } from "../src/runtime/quoted.ts";
import { boundedRun } from "./hostile/bounded-run.ts";
import { CASE_MEMORY_CAP_MIB, CASE_TIME_LIMIT_MS, type HostileModelCase } from "./hostile/case.ts";
import { templateCases } from "./hostile/template-cases.ts";
import { ggufCases } from "./hostile/gguf-cases.ts";

/** Every list of hostile model cases: adding one is a line here. */
const MODEL_CASE_LISTS: Array<() => HostileModelCase[] | Promise<HostileModelCase[]>> = [ggufCases, templateCases];

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CHILD = join(ROOT, "test/hostile/model-child.mjs");
const CLI = join(ROOT, "dist/cli.js");
const LIBRARY = pathToFileURL(join(ROOT, "dist/node.js")).href;
/** TERNION_HOSTILE_ONLY=<regular expression>: run only the cases whose names match (while fixing one). */
const ONLY = new RegExp(process.env.TERNION_HOSTILE_ONLY ?? "");
const TEXT = "Once upon a time there was a little girl. She liked to play in the park with her dog.\n";

interface CaseFile {
  name: string;
  action: HostileModelCase["action"];
  file: string;
  expect: HostileModelCase["expect"];
}

/** How one case ended on one path. */
interface Outcome {
  name: string;
  path: "local" | "worker" | "cli";
  accepted: boolean;
  /** "result", "typed", "untyped", "time", "memory", "crash", "cli-output". */
  kind: string;
  ms: number;
  peakRssMiB: number;
  detail: string;
}

let dir: string;
let manifestPath: string;
let cases: CaseFile[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ternion-hostile-"));
  const all = (await Promise.all(MODEL_CASE_LISTS.map((list) => list()))).flat().filter((c) => ONLY.test(c.name));
  const names = new Set<string>();
  cases = all.map((c, i) => {
    if (names.has(c.name)) throw new Error(`two hostile cases are named ${c.name}`);
    names.add(c.name);
    const file = join(dir, `${i}.gguf`);
    writeFileSync(file, c.model());
    return { name: c.name, action: c.action, file, expect: c.expect };
  });
  writeFileSync(join(dir, "text.txt"), TEXT);
  manifestPath = join(dir, "manifest.json");
  writeFileSync(manifestPath, JSON.stringify({ library: LIBRARY, caseTimeLimitMs: CASE_TIME_LIMIT_MS, cases }));
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

type ChildLine = { i: number; start?: true; timeout?: true; ms?: number; outcome?: string; peakRssMiB?: number } & Record<string, unknown>;

function parseLines(text: string): ChildLine[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as ChildLine);
}

/** Runs every case through one library path, a child process at a time, restarting after a case that kills one. */
async function runLibraryPath(path: "local" | "worker"): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  let from = 0;
  while (from < cases.length) {
    const r = await boundedRun(process.execPath, [CHILD, manifestPath, path, String(from)], {
      // the per-case limit is the child's watchdog; this only stops a child whose watchdog failed
      timeLimitMs: (cases.length - from) * CASE_TIME_LIMIT_MS + 30_000,
      memoryCapMiB: CASE_MEMORY_CAP_MIB,
      cwd: ROOT,
    });
    const lines = parseLines(r.stdout);
    let running: number | undefined;
    for (const l of lines) {
      if (l.start) {
        running = l.i;
        continue;
      }
      running = undefined;
      const c = cases[l.i]!;
      const inTime = (l.ms ?? 0) <= CASE_TIME_LIMIT_MS;
      const accepted = inTime && libraryOutcomeExpected(c, l);
      const detail =
        l.outcome === "result"
          ? JSON.stringify(l.result)
          : `${String(l.class)} ${String(l.code)}: ${String(l.message)}${l.stack ? `\n${String(l.stack)}` : ""}`;
      outcomes.push({
        name: c.name,
        path,
        accepted,
        kind: inTime ? String(l.outcome) : "time",
        ms: l.ms ?? 0,
        peakRssMiB: l.peakRssMiB ?? 0,
        detail,
      });
    }
    if (running === undefined) {
      if (r.exitCode !== 0) throw new Error(`the ${path} child exited ${r.exitCode ?? r.signal} between cases: ${r.stderr.slice(-2000)}`);
      break;
    }
    const timeout = parseLines(r.stderr).some((l) => l.timeout && l.i === running);
    const kind = timeout ? "time" : (r.killedFor ?? "crash");
    outcomes.push({
      name: cases[running]!.name,
      path,
      accepted: false,
      kind,
      ms: r.wallMs,
      peakRssMiB: r.peakRssMiB,
      detail: `child ${kind === "crash" ? `died (exit ${r.exitCode}, signal ${r.signal})` : `killed for ${kind}`}: ${r.stderr.slice(-1500)}`,
    });
    from = running + 1;
  }
  return outcomes;
}

/** A library child's outcome is what the case allows: a result or a typed error, or the one it names. */
function libraryOutcomeExpected(c: CaseFile, l: ChildLine): boolean {
  if (l.outcome !== "typed" && l.outcome !== "result") return false;
  if (!c.expect) return true;
  if ("answers" in c.expect) return l.outcome === "result";
  const { code, message } = c.expect.refused;
  return l.outcome === "typed" && code.test(String(l.code)) && (!message || message.test(String(l.message)));
}

/** The CLI command that runs a case's action. */
function cliArgs(c: CaseFile): { args: string[]; input?: string } {
  const common = ["--threads", "1"];
  switch (c.action) {
    case "load":
      return { args: ["generate", "--model", c.file, "--prompt", "Once", "--max-tokens", "1", ...common] };
    case "generate":
      return { args: ["generate", "--model", c.file, "--prompt", "Once upon a time", "--max-tokens", "4", "--seed", "1", ...common] };
    case "chat":
      return { args: ["chat", "--model", c.file, "--max-tokens", "4", "--seed", "1", ...common], input: "Hi\n/exit\n" };
    case "ppl":
      return { args: ["ppl", "--model", c.file, "--text", join(dir, "text.txt"), "--ctx", "16", ...common] };
    case "inspect":
      return { args: ["inspect", c.file] };
  }
}

async function runCliCase(c: CaseFile): Promise<Outcome> {
  const { args, input } = cliArgs(c);
  const r = await boundedRun(process.execPath, [CLI, ...args], {
    timeLimitMs: CASE_TIME_LIMIT_MS,
    memoryCapMiB: CASE_MEMORY_CAP_MIB,
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: "1" },
    ...(input === undefined ? {} : { input }),
  });
  const base = { name: c.name, path: "cli" as const, ms: r.wallMs, peakRssMiB: r.peakRssMiB };
  if (r.killedFor) return { ...base, accepted: false, kind: r.killedFor, detail: r.stderr.slice(-1500) };
  // What the file says (inspect's report, an error line) is checked; a generated text is the model's to choose.
  const shown = r.stderr + (c.action === "inspect" ? r.stdout : "");
  if (hasControlCharacters(shown)) return { ...base, accepted: false, kind: "control-characters", detail: JSON.stringify(shown.slice(0, 1500)) };
  if (c.expect && "refused" in c.expect) {
    // The chat REPL reports a refused turn as a note and goes on; other commands end with the one error line.
    const { code, message } = c.expect.refused;
    const named = [...r.stderr.matchAll(/\[([A-Z_0-9]+)\]/g)].some((m) => code.test(m[1]!)) && (!message || message.test(r.stderr));
    if (!named) return { ...base, accepted: false, kind: "not-refused", detail: `exit ${r.exitCode ?? r.signal}: ${r.stderr.slice(-1500)}` };
  }
  if (r.exitCode === 0) return { ...base, accepted: true, kind: "result", detail: r.stdout.slice(0, 200) };
  if (c.expect && "answers" in c.expect) return { ...base, accepted: false, kind: "no-answer", detail: r.stderr.slice(-1500) };
  const lines = r.stderr.trimEnd().split("\n");
  const oneLine = r.exitCode === 2 && lines.length === 1 && lines[0]!.length > 0 && !/^\s+at /m.test(r.stderr);
  return { ...base, accepted: oneLine, kind: oneLine ? "typed" : "cli-output", detail: `exit ${r.exitCode ?? r.signal}: ${r.stderr.slice(-1500)}` };
}

/** Escape sequences and other control characters (tab and newline aside) must not reach a terminal. */
function hasControlCharacters(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code !== 0x09 && code !== 0x0a && isControlCharacter(code)) return true;
  }
  return false;
}

async function runCliPath(): Promise<Outcome[]> {
  const outcomes: Outcome[] = new Array(cases.length);
  let next = 0;
  const lanes = Math.max(1, Math.min(2, availableParallelism()));
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < cases.length) {
        const i = next++;
        outcomes[i] = await runCliCase(cases[i]!);
      }
    }),
  );
  return outcomes;
}

function report(path: string, outcomes: Outcome[]): void {
  const worstTime = outcomes.reduce((a, o) => (o.ms > a.ms ? o : a), outcomes[0]!);
  const worstMemory = outcomes.reduce((a, o) => (o.peakRssMiB > a.peakRssMiB ? o : a), outcomes[0]!);
  const kinds = new Map<string, number>();
  for (const o of outcomes) kinds.set(o.kind, (kinds.get(o.kind) ?? 0) + 1);
  console.log(
    `hostile corpus, ${path}: ${outcomes.length} cases (${[...kinds].map(([k, n]) => `${k} ${n}`).join(", ")}); ` +
      `worst time ${Math.round(worstTime.ms)} ms (${worstTime.name}), worst peak RSS ${worstMemory.peakRssMiB.toFixed(0)} MiB (${worstMemory.name})`,
  );
}

function failures(outcomes: Outcome[]): string[] {
  return outcomes.filter((o) => !o.accepted).map((o) => `${o.name} [${o.path}, ${o.kind}]: ${o.detail}`);
}

describe("the hostile corpus", () => {
  it("is a few hundred distinct, deterministic cases", async () => {
    if (process.env.TERNION_HOSTILE_ONLY === undefined) expect(cases.length).toBeGreaterThan(300);
    const again = (await Promise.all(MODEL_CASE_LISTS.map((list) => list()))).flat().filter((c) => ONLY.test(c.name));
    expect(again.map((c) => c.name)).toEqual(cases.map((c) => c.name));
    const sample = [0, Math.floor(again.length / 2), again.length - 1];
    for (const i of sample) expect(Buffer.from(again[i]!.model()).equals(readFileSync(cases[i]!.file))).toBe(true);
  });

  for (const path of ["local", "worker"] as const) {
    it(`through the library (${path === "local" ? "createLocalEngine" : "createEngine, the worker"}): a result or a typed error for every case`, async () => {
      const outcomes = await runLibraryPath(path);
      report(path, outcomes);
      expect(outcomes.length).toBe(cases.length);
      expect(failures(outcomes)).toEqual([]);
    }, 900_000);
  }

  it("through the CLI: a result, or one line on stderr and exit 2, for every case", async () => {
    const outcomes = await runCliPath();
    report("cli", outcomes);
    expect(failures(outcomes)).toEqual([]);
  }, 1_800_000);
});
