// Generated sources stay honest: the checked-in files equal their generators' output (`npm run gen:kernels --
// --check`, scripts/gen-kernels.mjs), the check fails on a copy edited by hand, naming the file and the first
// differing line, and `npm run gen:kernels` repairs it; .gitattributes marks every generated file.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { ABI_CONSTANTS, ABI_GROUPS } from "../scripts/abi.mjs";
import { GENERATED_FILES } from "../scripts/generated-files.mjs";
import * as abi from "../src/runtime/cpu/abi.ts";

const ROOT = resolve(import.meta.dirname, "..");
const GEN = join(ROOT, "scripts/gen-kernels.mjs");

function gen(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [GEN, ...args], { encoding: "utf8" });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("generated sources", () => {
  it("lists at least the ternary tiles", () => {
    expect(GENERATED_FILES.map((f) => f.path)).toContain("assembly/kernels/ternary_tiles.ts");
  });

  it("the checked-in files are what their generators write", () => {
    const r = gen("--check");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it(".gitattributes marks every generated file linguist-generated", () => {
    const paths = GENERATED_FILES.map((f) => f.path);
    const r = spawnSync("git", ["check-attr", "linguist-generated", "--", ...paths], { cwd: ROOT, encoding: "utf8" });
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual(paths.map((p) => `${p}: linguist-generated: true`));
  });

  it("rejects an unknown argument with exit code 2", () => {
    const r = gen("--chek");
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown argument "--chek"');
  });

  describe("the wasm ABI ids (scripts/abi.mjs)", () => {
    it("reach TypeScript as the table says (wasm-only groups excepted)", () => {
      const expected: Record<string, unknown> = {};
      for (const g of ABI_GROUPS) if (!g.wasmOnly) expected[g.prefix] = Object.fromEntries(g.ids.map(([name, id]) => [name, id]));
      for (const c of ABI_CONSTANTS) expected[c.name] = c.value;
      expect({ ...abi }).toEqual(expected);
    });

    it("are defined nowhere else in assembly/ or src/runtime/cpu/", () => {
      const names = [...ABI_GROUPS.flatMap((g) => [g.prefix, ...g.ids.map(([name]) => `${g.prefix}_${name}`)]), ...ABI_CONSTANTS.map((c) => c.name)];
      const definition = new RegExp(`\\b(?:const|let|var|enum)\\s+(${names.join("|")})\\b`);
      const generated = new Set(GENERATED_FILES.map((f) => f.path));
      const found: string[] = [];
      for (const dir of ["assembly", "src/runtime/cpu"]) {
        for (const rel of readdirSync(join(ROOT, dir), { recursive: true, encoding: "utf8" })) {
          const path = `${dir}/${rel.split("\\").join("/")}`;
          if (!path.endsWith(".ts") || generated.has(path)) continue;
          readFileSync(join(ROOT, path), "utf8")
            .split("\n")
            .forEach((line, i) => {
              const m = definition.exec(line);
              if (m) found.push(`${path}:${i + 1} defines ${m[1]}`);
            });
        }
      }
      expect(found).toEqual([]);
    });
  });

  describe("on a copy of the generated files (--root)", () => {
    let dir = "";
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), "ternion-gen-"));
      for (const { path } of GENERATED_FILES) {
        mkdirSync(dirname(join(dir, path)), { recursive: true });
        writeFileSync(join(dir, path), readFileSync(join(ROOT, path)));
      }
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it("passes on an untouched copy", () => {
      expect(gen("--check", "--root", dir).status).toBe(0);
    });

    it.each(GENERATED_FILES.map((f) => f.path))("fails on a hand edit of %s, naming its first differing line, and gen:kernels repairs it", (path) => {
      const file = join(dir, path);
      const lines = readFileSync(file, "utf8").split("\n");
      const at = Math.floor(lines.length / 2); // 0-based: reported as line at + 1
      const original = lines[at]!;
      lines[at] = `${original} // edited by hand`;
      writeFileSync(file, lines.join("\n"));

      const r = gen("--check", "--root", dir);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`${path} differs from what its generator writes, first at line ${at + 1}:`);
      expect(r.stderr).toContain(`file:      ${JSON.stringify(lines[at])}`);
      expect(r.stderr).toContain(`generated: ${JSON.stringify(original)}`);
      expect(r.stderr).toContain("1 of");
      // --check writes nothing
      expect(readFileSync(file, "utf8")).toBe(lines.join("\n"));

      const w = gen("--root", dir);
      expect(w.status).toBe(0);
      expect(w.stdout).toContain(`wrote ${path}`);
      expect(readFileSync(file, "utf8")).toBe(readFileSync(join(ROOT, path), "utf8"));
      expect(gen("--check", "--root", dir).status).toBe(0);
    });

    it("fails on a missing file and on one without its final newline", () => {
      const [first, second] = GENERATED_FILES.map((f) => f.path);
      rmSync(join(dir, first!));
      let r = gen("--check", "--root", dir);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`${first} is missing`);
      expect(gen("--root", dir).status).toBe(0);

      const path = second ?? first!;
      const text = readFileSync(join(dir, path), "utf8");
      writeFileSync(join(dir, path), text.slice(0, -1));
      r = gen("--check", "--root", dir);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`${path} differs from what its generator writes, first at line ${text.split("\n").length}:`);
      expect(r.stderr).toContain("file:      (end of file)");
    });
  });
});
