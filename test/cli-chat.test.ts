// `ternion chat` as a user runs it (dist/cli.js, stdin piped line by line), and the conversation behind it
// (src/cli/chat-repl.ts) driven directly where a test must interrupt an answer at a known point.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CHAT_TEMPLATE_KEY } from "../src/engine/chat-template.ts";
import { readGgufHeader } from "../src/runtime/gguf/reader.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { GgufValueType } from "../src/runtime/gguf/types.ts";
import { ggufInputFromSource } from "../src/runtime/gguf/writer.ts";
import { writeGgufFile } from "../src/runtime/gguf/writer-node.ts";
import { ChatRepl, type ChatTurn } from "../src/cli/chat-repl.ts";
import type { Engine } from "../src/engine/engine.ts";
import { createLocalEngine } from "../src/engine/local-engine.ts";
import { cliPath, repoRoot, runCli } from "./helpers/cli.ts";
import { sharedPath } from "./helpers/shared.ts";

const STORIES = sharedPath("models/stories260K.gguf");
const GREEDY = ["--temperature", "0", "--max-tokens", "12", "--threads", "1"];

function jsonLines(stdout: string): ChatTurn[] {
  return stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as ChatTurn);
}

describe("ternion chat (piped)", () => {
  it("keeps the history across turns with the KV cache reused, /reset starts over, /exit ends", () => {
    const input = "Hello there\nWhat is your name?\n/reset\nHello there\n/exit\nnever answered\n";
    const r = runCli(["chat", "--model", STORIES, ...GREEDY, "--json"], { input });
    expect(r.status, r.stderr).toBe(0);
    const turns = jsonLines(r.stdout);
    expect(turns).toHaveLength(3);
    const [first, second, afterReset] = turns as [ChatTurn, ChatTurn, ChatTurn];
    expect(first.usage!.completion_tokens).toBe(12);
    expect(first.finish_reason).toBe("length");
    expect(first.content.length).toBeGreaterThan(0);
    // The second prompt holds the first turn (question and answer): longer than both, and mostly in the cache.
    expect(second.usage!.prompt_tokens).toBeGreaterThan(first.usage!.prompt_tokens + 12);
    expect(second.stats!.cachedTokens).toBeGreaterThan(first.usage!.prompt_tokens);
    // After /reset the same question is the same prompt, and greedy decoding gives the same answer.
    expect(afterReset.usage!.prompt_tokens).toBe(first.usage!.prompt_tokens);
    expect(afterReset.content).toBe(first.content);
    expect(r.stderr).toContain("(history cleared)");
  });

  it("streams plain text answers, one per line, until stdin ends; --system starts the conversation", () => {
    const json = jsonLines(runCli(["chat", "--model", STORIES, ...GREEDY, "--json"], { input: "Hello there\n" }).stdout);
    const r = runCli(["chat", "--model", STORIES, ...GREEDY], { input: "Hello there\n" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(json[0]!.content + "\n");
    const sys = jsonLines(
      runCli(["chat", "--model", STORIES, ...GREEDY, "--json", "--system", "You tell short stories."], { input: "Hello there\n" }).stdout,
    );
    expect(sys[0]!.usage!.prompt_tokens).toBeGreaterThan(json[0]!.usage!.prompt_tokens + 3);
  });

  it("--head-type q8_0 answers with the int8 head; another value is one line and exit 2 before loading", () => {
    const r = runCli(["chat", "--model", STORIES, ...GREEDY, "--head-type", "q8_0", "--json"], { input: "Hello there\n" });
    expect(r.status, r.stderr).toBe(0);
    expect(jsonLines(r.stdout)[0]!.content.length).toBeGreaterThan(0);
    const bad = runCli(["chat", "--model", STORIES, ...GREEDY, "--head-type", "q4"], { input: "Hello there\n" });
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim().split("\n")).toEqual([expect.stringMatching(/--head-type must be stored or q8_0/)]);
  });

  it("answers unknown slash commands with a note, not a turn", () => {
    const r = runCli(["chat", "--model", STORIES, ...GREEDY, "--json"], { input: "/bogus\n/help\n" });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/unknown command \/bogus/);
    expect(r.stderr).toMatch(/\/reset clears the history/);
  });

  it("two Ctrl-C (SIGINT) at the prompt end the session with exit code 0", async () => {
    const child = spawn(process.execPath, [cliPath, "chat", "--model", STORIES, ...GREEDY, "--json"], { cwd: repoRoot });
    let stdout = "";
    let stderr = "";
    const waitFor = (test: () => boolean) =>
      new Promise<void>((resolve) => {
        const check = () => test() && resolve();
        child.stdout.on("data", (d) => ((stdout += d), check()));
        child.stderr.on("data", (d) => ((stderr += d), check()));
      });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    child.stdin.write("Hello there\n");
    await waitFor(() => stdout.includes("\n")); // the answer is out: the session waits at the prompt
    child.kill("SIGINT");
    await waitFor(() => stderr.includes("Ctrl-C again"));
    child.kill("SIGINT");
    expect(await exited).toBe(0);
    expect(jsonLines(stdout)).toHaveLength(1);
  });

  it("--ctx 64 never fails a turn for length: the oldest turns are left out (with a note) and every turn is answered", () => {
    const questions = [
      "Hello there, how are you today?",
      "Tell me a story about a dog.",
      "What happened next?",
      "And then?",
      "Why?",
      "Tell me more.",
    ];
    const r = runCli(["chat", "--model", STORIES, "--temperature", "0", "--max-tokens", "30", "--threads", "1", "--ctx", "64", "--json"], {
      input: questions.join("\n") + "\n",
    });
    expect(r.status, r.stderr).toBe(0);
    const turns = jsonLines(r.stdout);
    expect(turns).toHaveLength(questions.length);
    for (const t of turns) expect(t.usage!.prompt_tokens).toBeLessThanOrEqual(64);
    expect(turns.at(-1)!.stats!.droppedMessages).toBeGreaterThan(0);
    expect(r.stderr).toMatch(/the context is full: the oldest \d+ messages are left out/);
    expect(r.stderr).not.toMatch(/PROMPT_TOO_LONG|\[[A-Z_]+\]/);
  });

  it("exits 2 when the input ends on a failed turn, and 0 when a turn after the failure is answered", () => {
    const tooLong = "once ".repeat(2100);
    const failed = runCli(["chat", "--model", STORIES, ...GREEDY, "--json"], { input: `Hello\n${tooLong}\n` });
    expect(failed.status).toBe(2);
    expect(failed.stderr).toMatch(/MESSAGE_TOO_LONG/);
    expect(failed.stderr).toMatch(/the input ended on a turn that failed .*\[CHAT_FAILED\]/);
    expect(jsonLines(failed.stdout)).toHaveLength(1);
    const recovered = runCli(["chat", "--model", STORIES, ...GREEDY, "--json"], { input: `${tooLong}\nHello\n` });
    expect(recovered.status, recovered.stderr).toBe(0);
    expect(jsonLines(recovered.stdout)).toHaveLength(1);
    // /exit after a failure is the user's choice to end: exit code 0.
    expect(runCli(["chat", "--model", STORIES, ...GREEDY, "--json"], { input: `${tooLong}\n/exit\n` }).status).toBe(0);
  });

  it("bad input is one line on stderr and exit code 2; --help lists the flags", () => {
    for (const [args, pattern] of [
      [["--model", "", "--max-tokens", "5"], /--model <path> needs a value/],
      [["--model", "/nonexistent/model.gguf"], /cannot open the model \/nonexistent\/model\.gguf: no such file \[MODEL_NOT_FOUND\]/],
      [["--model", STORIES, "--bogus"], /unknown flag --bogus/],
      [["--model", STORIES, "--backend", "cuda"], /--backend must be wasm, webgpu, auto, got "cuda"/],
      [["--model", STORIES, "--max-tokens", "0"], /--max-tokens must be an integer ≥ 1/],
      [["--model", STORIES, "--temperature", "-1"], /temperature must be a finite number ≥ 0/],
      [["--model", STORIES, "stray"], /unexpected argument "stray"/],
    ] as const) {
      const r = runCli(["chat", ...args], { input: "Hello\n" });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(pattern);
    }
    const help = runCli(["chat", "--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/usage: ternion chat \[--model/);
    for (const flag of ["--system", "--max-tokens", "--temperature", "--top-p", "--seed", "--threads", "--backend", "--json"])
      expect(help.stdout).toContain(flag);
  });
});

describe("the chat session (ChatRepl)", () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await createLocalEngine({ model: STORIES, backend: "wasm", threads: 1 });
  });
  afterAll(() => engine?.dispose());

  function session() {
    const out: string[] = [];
    const notes: string[] = [];
    const repl = new ChatRepl({
      engine,
      request: { temperature: 0, max_tokens: 200 },
      json: true,
      write: (t) => out.push(t),
      note: (t) => notes.push(t),
    });
    return { repl, out, notes };
  }

  it("Ctrl-C during an answer stops it (finish_reason abort), keeps what was said, and a second Ctrl-C exits", async () => {
    const notes: string[] = [];
    let streamed = 0;
    const repl: ChatRepl = new ChatRepl({
      engine,
      request: { temperature: 0, max_tokens: 200 },
      write: (t) => {
        if (t !== "\n" && ++streamed === 3) expect(repl.interrupt()).toBe("cancelled");
      },
      note: (t) => notes.push(t),
    });
    expect(await repl.line("Hello there")).toBe(true);
    expect(notes).toContain("(cancelled)");
    const said = repl.history.at(-1)!;
    expect(said.role).toBe("assistant");
    expect(String(said.content).length).toBeGreaterThan(0);
    expect(streamed).toBeLessThan(10); // stopped a token or two after the interrupt, far from 200 tokens
    expect(repl.interrupt()).toBe("exit");
    // The next turn builds on the cancelled one, and runs to its end.
    expect(await repl.line("Tell me more")).toBe(true);
    expect(repl.history.map((m) => m.role)).toEqual(["user", "assistant", "user", "assistant"]);
    expect(notes.filter((n) => n === "(cancelled)")).toHaveLength(1);
  });

  it("at the prompt, one Ctrl-C warns and a line in between disarms it; /exit ends the session", async () => {
    const { repl, notes } = session();
    expect(repl.interrupt()).toBe("armed");
    expect(notes).toEqual(["(Ctrl-C again or /exit to quit)"]);
    expect(await repl.line("")).toBe(true);
    expect(repl.interrupt()).toBe("armed");
    expect(repl.interrupt()).toBe("exit");
    expect(await repl.line("/exit")).toBe(false);
  });

  it("a failed turn (a message longer than the context) is a note and leaves the history as it was", async () => {
    const { repl, notes, out } = session();
    expect(await repl.line("once ".repeat(2100))).toBe(true);
    expect(notes.at(-1)).toMatch(/needs \d+ tokens, more than the context of 2048.*\[MESSAGE_TOO_LONG\] \(send a shorter message\)/);
    expect(repl.lastFailure).toMatchObject({ name: "ContextError", code: "MESSAGE_TOO_LONG" });
    expect(repl.history).toEqual([]);
    expect(out).toEqual([]);
  });
});

describe("ternion chat with a hostile chat template", () => {
  let dir: string;
  /** Fails with an escape sequence in its message on "Hi", runs to its step or time budget on anything else. */
  const HOSTILE =
    "{% if messages[-1].content == 'Hi' %}{{ raise_exception('no \\x1b[2J\\x1b[31mred') }}{% endif %}" +
    "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}";
  let model: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "ternion-cli-chat-"));
    model = join(dir, "hostile-template.gguf");
    const source = await openFileSource(STORIES);
    try {
      const input = ggufInputFromSource(source, await readGgufHeader(source));
      const metadata = new Map(input.metadata);
      metadata.set(CHAT_TEMPLATE_KEY, { type: GgufValueType.STRING, value: HOSTILE });
      await writeGgufFile(model, { ...input, metadata });
    } finally {
      await source.close();
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("each refused turn is a note (control characters escaped), and the session goes on", () => {
    const started = performance.now();
    const r = runCli(["chat", "--model", model, ...GREEDY, "--json"], { input: "Hi\nHello\n/help\n/exit\n" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe("");
    const notes = r.stderr.trim().split("\n");
    expect(notes[0]).toBe("the chat template raised an exception: no \\x1b[2J\\x1b[31mred [BAD_CHAT_TEMPLATE]");
    expect(notes[1]).toMatch(/exceeded its (step|time) budget.*\[BAD_CHAT_TEMPLATE\]$/);
    expect(notes[2]).toMatch(/\/reset clears the history/);
    expect(r.stderr).not.toContain("\x1b");
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});
