// The model cache the tests use (vitest.config.ts hands it to every test process as TERNION_CACHE), removed when
// the run ends, so that no test writes into the user's ~/.cache/ternion or leaves models behind in /tmp.
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** One folder per test run (the vitest process's pid). */
export const TEST_CACHE = join(tmpdir(), `ternion-test-cache-${process.pid}`);

/** vitest globalSetup: nothing to set up; the teardown removes the run's cache. */
export default function setup(): () => void {
  return () => rmSync(TEST_CACHE, { recursive: true, force: true });
}
