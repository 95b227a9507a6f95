// The layers of src/ and the one direction their imports may take (docs/ARCHITECTURE.md):
//   foundations ← cpu, gpu ← train ← engine ← server ← cli, and the package entries on top (beside server).
// Every relative import in src/ (static, `export … from`, dynamic `import()`) is read and checked against the
// table below, so an import against the direction fails here instead of slowly tangling the tree.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const SRC = resolve(import.meta.dirname, "../src");

/** Layer of a file, by path under src/ (the first matching prefix wins). */
const LAYER_OF: [prefix: string, layer: Layer][] = [
  ["runtime/cpu/", "cpu"],
  ["runtime/", "foundation"],
  ["gpu/", "gpu"],
  ["train/", "train"],
  ["engine/", "engine"],
  ["server/", "server"],
  ["cli/", "cli"],
  ["", "entry"], // index.ts, node.ts, inline.ts: the package's entry points
];

type Layer = "foundation" | "cpu" | "gpu" | "train" | "engine" | "server" | "cli" | "entry";

/** What each layer may import (itself included). cpu and gpu are siblings: neither sees the other. */
const MAY_IMPORT: Record<Layer, readonly Layer[]> = {
  foundation: ["foundation"],
  cpu: ["foundation", "cpu"],
  gpu: ["foundation", "gpu"],
  train: ["foundation", "cpu", "gpu", "train"],
  engine: ["foundation", "cpu", "gpu", "train", "engine"],
  server: ["foundation", "cpu", "gpu", "train", "engine", "server"],
  cli: ["foundation", "cpu", "gpu", "train", "engine", "server", "cli"],
  entry: ["foundation", "cpu", "gpu", "train", "engine", "entry"],
};

function layerOf(file: string): Layer {
  const rel = relative(SRC, file).split("\\").join("/");
  for (const [prefix, layer] of LAYER_OF) if (rel.startsWith(prefix)) return layer;
  throw new Error(`no layer for ${rel}`);
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith(".ts") ? [path] : [];
  });
}

/** Relative specifiers of a file's imports and re-exports, static and dynamic. */
function relativeImports(text: string): string[] {
  const found: string[] = [];
  const patterns = [
    /\bfrom\s*["'](\.{1,2}\/[^"']+)["']/g,
    /\bimport\s*\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g,
    /^\s*import\s*["'](\.{1,2}\/[^"']+)["']/gm,
  ];
  for (const re of patterns) for (const m of text.matchAll(re)) found.push(m[1]!);
  return found;
}

describe("architecture", () => {
  const files = sourceFiles(SRC);

  it("finds the imports it checks", () => {
    expect(files.length).toBeGreaterThan(100);
    expect(relativeImports(`import { a } from "./a.ts";\nexport * from "../b.ts";\nawait import("./c.ts");\nimport "./d.ts";`)).toEqual([
      "./a.ts",
      "../b.ts",
      "./c.ts",
      "./d.ts",
    ]);
  });

  it("every layer of the table has files", () => {
    const seen = new Set(files.map(layerOf));
    expect([...seen].sort()).toEqual(Object.keys(MAY_IMPORT).sort());
  });

  it("imports flow one way: foundations ← cpu, gpu ← train ← engine ← server ← cli", () => {
    const wrong: string[] = [];
    for (const file of files) {
      const from = layerOf(file);
      for (const spec of relativeImports(readFileSync(file, "utf8"))) {
        const target = resolve(dirname(file), spec);
        if (!target.startsWith(SRC)) {
          wrong.push(`${relative(SRC, file)} imports ${spec}, outside src/`);
          continue;
        }
        const to = layerOf(target);
        if (!MAY_IMPORT[from].includes(to)) wrong.push(`${relative(SRC, file)} (${from}) imports ${relative(SRC, target)} (${to})`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
