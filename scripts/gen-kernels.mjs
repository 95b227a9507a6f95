// Writes the generated sources (scripts/generated-files.mjs), which are committed: build:wasm and the bundler read
// them as they are, so nothing else regenerates them.
//
//   npm run gen:kernels                     rewrites every generated file that differs from its generator's output
//   npm run gen:kernels -- --check          writes nothing; exits 1 naming the first differing line of every stale
//                                           or missing file (.ci/run runs this before the build)
//   npm run gen:kernels -- --root DIR       reads and writes the files under DIR instead of the repository
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { GENERATED_FILES } from "./generated-files.mjs";

const USAGE = "usage: node scripts/gen-kernels.mjs [--check] [--root DIR]";

/**
 * The first line (1-based) where `found` and `wanted`, two different texts, differ, with both versions of it
 * (undefined: past the end).
 * @param {string} found
 * @param {string} wanted
 * @returns {{ line: number; found: string | undefined; wanted: string | undefined }}
 */
function firstDifference(found, wanted) {
  const a = found.split("\n");
  const b = wanted.split("\n");
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] !== b[i]) return { line: i + 1, found: a[i], wanted: b[i] };
  }
  // unreachable for different texts: split("\n") loses only the separators, so different texts split differently
  throw new Error("gen:kernels: firstDifference called on equal texts");
}

/** @param {string | undefined} line */
const shown = (line) => (line === undefined ? "(end of file)" : JSON.stringify(line));

/**
 * @param {string[]} argv the arguments after the script's path
 * @returns {{ check: boolean; root: string }}
 */
function parseArgs(argv) {
  const opts = { check: false, root: resolve(dirname(fileURLToPath(import.meta.url)), "..") };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = argv[i + 1];
    if (arg === "--check") opts.check = true;
    else if (arg === "--root" && value !== undefined) {
      opts.root = resolve(value);
      i++;
    } else {
      console.error(`gen:kernels: unknown argument ${JSON.stringify(arg)}; ${USAGE}`);
      process.exit(2);
    }
  }
  return opts;
}

const { check, root } = parseArgs(process.argv.slice(2));
let stale = 0;
for (const { path, generate } of GENERATED_FILES) {
  const file = join(root, path);
  const wanted = generate();
  const found = existsSync(file) ? readFileSync(file, "utf8") : undefined;
  if (found === wanted) {
    if (!check) console.log(`${path} unchanged`);
    continue;
  }
  if (!check) {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, wanted);
    console.log(`wrote ${path}`);
    continue;
  }
  stale++;
  if (found === undefined) {
    console.error(`${path} is missing (${file})`);
    continue;
  }
  const d = firstDifference(found, wanted);
  console.error(`${path} differs from what its generator writes, first at line ${d.line}:`);
  console.error(`  file:      ${shown(d.found)}`);
  console.error(`  generated: ${shown(d.wanted)}`);
}
if (stale) {
  console.error(
    `gen:kernels --check: ${stale} of ${GENERATED_FILES.length} generated files stale; generated files are never edited ` +
      "by hand: change the generator (scripts/generated-files.mjs lists them), run `npm run gen:kernels` and commit the result",
  );
  process.exit(1);
}
if (check) console.log(`gen:kernels --check: all ${GENERATED_FILES.length} generated files are current`);
