// --json-schema FILE and --grammar FILE of `ternion generate` and `ternion chat` as a user runs them (dist/cli.js:
// `npm run build` first), on the packaged model; ajv validates what comes out.
import Ajv from "ajv";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runCli } from "./helpers/cli.ts";

const dir = mkdtempSync(join(tmpdir(), "ternion-cli-structured-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SCHEMA = {
  type: "object",
  properties: { name: { enum: ["Tom", "Lily", "Ben"] }, age: { type: "integer" }, happy: { type: "boolean" } },
  required: ["name", "age", "happy"],
  additionalProperties: false,
};
const schemaFile = join(dir, "person.json");
writeFileSync(schemaFile, JSON.stringify(SCHEMA));
const grammarFile = join(dir, "answer.gbnf");
writeFileSync(grammarFile, 'root ::= "The " animal " is " ("big" | "small") "."\nanimal ::= "cat" | "dog"\n');
const ajv = new Ajv({ strict: true });

describe("ternion generate and chat with a constraint", () => {
  it("generate --json-schema: the text is JSON valid against the schema", () => {
    for (const seed of ["1", "2"]) {
      const r = runCli(["generate", "--prompt", "Once upon a time", "--json-schema", schemaFile, "--seed", seed, "--threads", "1", "--json"]);
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { text: string };
      expect(ajv.validate(SCHEMA, JSON.parse(out.text)), out.text).toBe(true);
    }
  });

  it("generate --grammar streams text that matches the grammar, and stops where it ends", () => {
    const r = runCli(["generate", "--prompt", "Once upon a time", "--grammar", grammarFile, "--seed", "3", "--threads", "1"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Once upon a timeThe (cat|dog) is (big|small)\.\n$/);
    expect(r.stderr).toMatch(/stopped: stop/);
  });

  it("chat --json-schema: every answer is valid JSON", () => {
    const r = runCli(["chat", "--json-schema", schemaFile, "--seed", "4", "--threads", "1", "--json"], { input: "Who are you?\nAnd now?\n" });
    expect(r.status, r.stderr).toBe(0);
    const turns = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { content: string; finish_reason: string });
    expect(turns).toHaveLength(2);
    for (const t of turns) {
      expect(t.finish_reason).toBe("stop");
      expect(ajv.validate(SCHEMA, JSON.parse(t.content)), t.content).toBe(true);
    }
  });

  it("chat --json-schema of the boolean schema true (any JSON value) answers with JSON, as generate does", () => {
    const anything = join(dir, "true.json");
    writeFileSync(anything, "true");
    const r = runCli(["chat", "--json-schema", anything, "--seed", "4", "--threads", "1", "--max-tokens", "24", "--json"], {
      input: "Who are you?\n",
    });
    expect(r.status, r.stderr).toBe(0);
    const turn = JSON.parse(r.stdout.trim()) as { content: string; finish_reason: string };
    if (turn.finish_reason === "stop") expect(() => JSON.parse(turn.content), turn.content).not.toThrow();
  });

  it("a missing file, bad JSON, an unsupported keyword, a bad grammar or both flags end with one line and exit 2", () => {
    const nothing = join(dir, "false.json");
    writeFileSync(nothing, "false");
    const bad = join(dir, "bad.json");
    writeFileSync(bad, "{ nope");
    const unsupported = join(dir, "pattern.json");
    writeFileSync(unsupported, JSON.stringify({ type: "string", pattern: "^a" }));
    const broken = join(dir, "broken.gbnf");
    writeFileSync(broken, "root ::= root");
    for (const [args, code] of [
      [["--json-schema", join(dir, "nothere.json")], "FILE_NOT_FOUND"],
      [["--json-schema", bad], "BAD_JSON_SCHEMA"],
      [["--json-schema", unsupported], "UNSUPPORTED_SCHEMA"],
      [["--json-schema", nothing], "BAD_SCHEMA"],
      [["--grammar", broken], "LEFT_RECURSION"],
      [["--grammar", grammarFile, "--json-schema", schemaFile], "CONFLICTING_FLAGS"],
    ] as const) {
      for (const command of ["generate", "chat"]) {
        const r = runCli([command, ...(command === "generate" ? ["--prompt", "Hi"] : []), ...args], { input: "Hi\n" });
        expect(r.status, r.stderr).toBe(2);
        expect(r.stderr.trim().split("\n")).toHaveLength(1);
        expect(r.stderr).toContain(`[${code}]`);
      }
    }
  });
});
