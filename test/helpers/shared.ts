// Paths to the real test data in ../shared (beside the checkout). Tests read it from there; it is never
// copied into the project.
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";

const sharedRoot = fileURLToPath(new URL("../../../shared/", import.meta.url));

export function sharedPath(relative: string): string {
  const p = sharedRoot + relative;
  if (!existsSync(p)) throw new Error(`test data missing: ${p} (../shared must sit beside the checkout)`);
  return p;
}

/**
 * stories260K's greedy continuation of "Once upon a time" (docs/ARCHITECTURE.md section 5: what llama.cpp generates), which
 * every backend and every way of running the engine must reproduce.
 */
export const STORIES_CONTINUATION =
  ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.";

/**
 * The default model's (models/stories260K-ternary.gguf, what the CLI runs without --model) greedy continuation
 * of "Once upon a time" on the CPU backend.
 */
export const DEFAULT_MODEL_CONTINUATION = " there was a little girl named Lily. She loved to play with her toys.";
