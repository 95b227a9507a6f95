// Checkpoint files (Node): written atomically — bytes to a temporary file beside the target, fsync, rename —
// so that a run killed at any moment (SIGKILL included) leaves either the previous checkpoint or the new
// one, never a torn file.
import { readFile } from "node:fs/promises";
import { writeFileAtomic } from "../runtime/atomic-file-node.ts";
import { type Checkpoint, decodeCheckpoint, encodeCheckpoint } from "./checkpoint.ts";

export async function writeCheckpointFile(path: string, c: Checkpoint): Promise<void> {
  const bytes = encodeCheckpoint(c);
  await writeFileAtomic(path, (sink) => sink(bytes));
}

export async function readCheckpointFile(path: string): Promise<Checkpoint> {
  return decodeCheckpoint(new Uint8Array(await readFile(path)));
}
