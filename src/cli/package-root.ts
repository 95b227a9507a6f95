// The installed ternion package's own folder, found at run time from the folders above this file (dist/cli.js
// in the installed package, whose package.json npm always ships; src/cli/ in the repository).
import { existsSync, readFileSync } from "node:fs";
import { TernionError } from "../runtime/errors.ts";

export interface PackageRoot {
  /** The folder holding ternion's package.json, with a trailing slash. */
  dir: URL;
  version: string;
}

export function packageRoot(): PackageRoot {
  for (let dir = new URL("./", import.meta.url); ; dir = new URL("../", dir)) {
    const file = new URL("package.json", dir);
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: unknown; version?: unknown };
      if (pkg.name === "ternion" && typeof pkg.version === "string") return { dir, version: pkg.version };
    }
    if (new URL("../", dir).href === dir.href) break; // the root of the file system
  }
  throw new TernionError("NO_PACKAGE_ROOT", `no package.json of ternion above ${new URL(import.meta.url).pathname}`);
}
