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
