// `npm run size`: what ternion adds to an app. The built bundles (run `npm run build` first) minified as an
// app's bundler would, then gzipped; the wasm builds raw and gzipped. The library entry is dist/index.js, the
// engine worker dist/engine-worker.js, ternion/inline dist/inline.js (both wasm builds as base64 and the worker
// inside).
import { transform } from "esbuild";
import { readFile } from "node:fs/promises";
import { gzipSync } from "node:zlib";

/** @param {number} n bytes */
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
/** @param {Buffer} bytes */
const gzip = (bytes) => gzipSync(bytes, { level: 9 }).length;

/**
 * The file's bytes; exits naming it when it is missing.
 * @param {string} file
 * @returns {Promise<Buffer>}
 */
async function read(file) {
  try {
    return await readFile(file);
  } catch {
    console.error(`${file} is missing: run \`npm run build\` first`);
    process.exit(1);
  }
}

/** @type {[name: string, file: string][]} */
const BUNDLES = [
  ["library (ternion)", "dist/index.js"],
  ["engine worker", "dist/engine-worker.js"],
  ["ternion/inline (wasm + worker inside)", "dist/inline.js"],
];

/** @type {[name: string, file: string, kind: "min" | "raw", size: number, gzip: number][]} */
const rows = [];
for (const [name, file] of BUNDLES) {
  // keepNames as the worker build has it: error class names cross the worker boundary.
  const min = Buffer.from((await transform(await read(file), { minify: true, keepNames: true, format: "esm", target: "es2022" })).code);
  rows.push([name, file, "min", min.length, gzip(min)]);
}
for (const file of ["dist/wasm/ternion-simd.wasm", "dist/wasm/ternion-relaxed.wasm"]) {
  const bytes = await read(file);
  rows.push([file.includes("relaxed") ? "wasm, relaxed SIMD build" : "wasm, SIMD build", file, "raw", bytes.length, gzip(bytes)]);
}

const w = Math.max(...rows.map((r) => r[0].length));
console.log(`${"".padEnd(w)}  ${"size".padStart(10)}  ${"gzip".padStart(10)}`);
for (const [name, file, kind, size, gz] of rows) {
  console.log(`${name.padEnd(w)}  ${kib(size).padStart(10)}  ${kib(gz).padStart(10)}   (${file}, ${kind})`);
}
