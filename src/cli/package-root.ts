// The installed ternion package's own folder, found at run time from the folders above this file (dist/cli.js
// in the installed package, whose package.json npm always ships; src/cli/ in the repository).
import { existsSync, readFileSync } from "node:fs";
import { TernionError } from "../runtime/errors.ts";

export interface PackageRoot {
  /** The folder holding ternion's package.json, with a trailing slash. */
  dir: URL;
  version: string;
  /** Where to report bugs (package.json `bugs`), when it says. */
  bugs: string | undefined;
}

export function packageRoot(): PackageRoot {
  for (let dir = new URL("./", import.meta.url); ; dir = new URL("../", dir)) {
    const file = new URL("package.json", dir);
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: unknown; version?: unknown; bugs?: unknown };
      if (pkg.name === "ternion" && typeof pkg.version === "string") return { dir, version: pkg.version, bugs: bugsUrl(pkg.bugs) };
    }
    if (new URL("../", dir).href === dir.href) break; // the root of the file system
  }
  throw new TernionError("NO_PACKAGE_ROOT", `no package.json of ternion above ${new URL(import.meta.url).pathname}`);
}

/** package.json's `bugs`: a URL, or { url, email }. */
function bugsUrl(bugs: unknown): string | undefined {
  if (typeof bugs === "string") return bugs;
  const url = (bugs as { url?: unknown } | null | undefined)?.url;
  return typeof url === "string" ? url : undefined;
}
