// Paths named on the command line checked before any work starts, so that a wrong one is a friendly line, not
// the file system's "ENOENT: no such file or directory, open …": an input file (a model, a text, a tokenizer)
// that is missing names the closest file in its folder, a folder given instead names the files in it that fit;
// an output file's folder must exist.
import { readdir, stat } from "node:fs/promises";
import { basename, dirname, extname, join } from "node:path";
import { OptionError } from "../runtime/errors.ts";
import { closest } from "./suggest.ts";

export interface InputFileKind {
  /** What the file is, for the message: "the model", "the text". */
  what: string;
  /** The code of a missing file ("MODEL_NOT_FOUND" as the engine says for a model; "FILE_NOT_FOUND" otherwise). */
  notFound: string;
  /** The extension of the files that a folder given instead is searched for (".gguf"). */
  extension: string;
}

export const MODEL_FILE: InputFileKind = { what: "the model", notFound: "MODEL_NOT_FOUND", extension: ".gguf" };

/** A text to read (--text, --data, --eval): `what` it is for the message. */
export function textFile(what: string): InputFileKind {
  return { what, notFound: "FILE_NOT_FOUND", extension: ".txt" };
}

/** Throws an OptionError unless `path` is a file that exists (it may still be unreadable or malformed). */
export async function checkInputFile(path: string, kind: InputFileKind): Promise<void> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT" && (e as NodeJS.ErrnoException).code !== "ENOTDIR") throw e;
    const near = await nearestName(path);
    throw new OptionError(kind.notFound, `cannot open ${kind.what} ${path}: no such file${near ? ` (did you mean ${near}?)` : ""}`);
  }
  if (info.isDirectory()) {
    const inside = await filesWithExtension(path, kind.extension);
    const hint = inside.length ? ` (it holds ${listSome(inside.map((f) => join(path, f)))})` : "";
    throw new OptionError("IS_A_DIRECTORY", `cannot open ${kind.what} ${path}: it is a directory, not a file${hint}`);
  }
}

/** Throws an OptionError unless the folder that `path` (an --out file) is to be written in exists. */
export async function checkOutputFolder(path: string, flag: string): Promise<void> {
  const folder = dirname(path);
  const info = await stat(folder).catch(() => undefined);
  if (!info?.isDirectory()) throw new OptionError("FOLDER_NOT_FOUND", `cannot write ${flag} ${path}: no folder ${folder}`);
}

/** The file beside `path` whose name is closest to its name, as a path; undefined when none is close. */
async function nearestName(path: string): Promise<string | undefined> {
  const names = await readdir(dirname(path)).catch(() => [] as string[]);
  const match = closest(basename(path), names);
  return match === undefined ? undefined : join(dirname(path), match);
}

async function filesWithExtension(dir: string, extension: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile() && extname(e.name).toLowerCase() === extension)
    .map((e) => e.name)
    .sort();
}

/** "a", "a, b and c", "a, b, c and 4 more". */
function listSome(items: string[], most = 3): string {
  const shown = items.slice(0, most);
  const rest = items.length - shown.length;
  if (rest > 0) return `${shown.join(", ")} and ${rest} more`;
  return shown.length === 1 ? shown[0]! : `${shown.slice(0, -1).join(", ")} and ${shown.at(-1)}`;
}
