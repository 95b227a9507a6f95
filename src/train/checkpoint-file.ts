// Checkpoint files (Node): written atomically — bytes to a temporary file beside the target, fsync, rename —
// so that a run killed at any moment (SIGKILL included) leaves either the previous checkpoint or the new
// one, never a torn file. The store of a run keeps the previous good checkpoint too (`<path>.prev`), which a
// resume falls back to when the latest fails verification.
import { existsSync } from "node:fs";
import { readFile, rename } from "node:fs/promises";
import { writeFileAtomic } from "../runtime/atomic-file-node.ts";
import { type Checkpoint, decodeCheckpoint, encodeCheckpoint } from "./checkpoint.ts";
import type { CheckpointStore } from "./finetune-run.ts";

export async function writeCheckpointFile(path: string, c: Checkpoint): Promise<void> {
  const bytes = encodeCheckpoint(c);
  await writeFileAtomic(path, (sink) => sink(bytes));
}

export async function readCheckpointFile(path: string): Promise<Checkpoint> {
  return decodeCheckpoint(new Uint8Array(await readFile(path)));
}

/** Where the store at `path` keeps the checkpoint before the latest. */
export const previousCheckpointPath = (path: string) => `${path}.prev`;

/**
 * The checkpoints of a run in files: the latest at `path`, the one before it at `<path>.prev`. A save moves the
 * latest to `.prev` (a rename: atomic) only when this process wrote it, so that `.prev` only ever holds a
 * checkpoint known good — never one that a resume found damaged — and then writes the new one atomically.
 */
export function fileCheckpointStore(path: string): CheckpointStore {
  const previous = previousCheckpointPath(path);
  let latestIsOurs = false;
  const kept = (p: string) => ({ name: p, bytes: async () => new Uint8Array(await readFile(p)) });
  return {
    name: path,
    load: async () => [path, previous].filter((p) => existsSync(p)).map(kept),
    save: async (c) => {
      const bytes = encodeCheckpoint(c);
      if (latestIsOurs) await rename(path, previous);
      await writeFileAtomic(path, (sink) => sink(bytes));
      latestIsOurs = true;
    },
  };
}
