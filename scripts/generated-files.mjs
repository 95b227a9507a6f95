// The checked-in files that scripts generate, each with its generator (a function returning the file's text).
// `npm run gen:kernels` (scripts/gen-kernels.mjs) writes them, `npm run gen:kernels -- --check` fails when one is
// stale, and .gitattributes marks every one of them linguist-generated (test/generated-code.test.ts checks both).
import { abiAssemblyScript, abiTypeScript } from "./gen-abi.mjs";
import { ternaryTiles } from "./gen-ternary-kernels.mjs";

/** @type {{ path: string; generate: () => string }[]} paths relative to the repository root, with "/" */
export const GENERATED_FILES = [
  { path: "assembly/kernels/abi.ts", generate: abiAssemblyScript },
  { path: "src/runtime/cpu/abi.ts", generate: abiTypeScript },
  { path: "assembly/kernels/ternary_tiles.ts", generate: ternaryTiles },
];
