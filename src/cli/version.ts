// `ternion --version`: the version in the package's own package.json, read at run time (package-root.ts).
import { packageRoot } from "./package-root.ts";

export function packageVersion(): string {
  return packageRoot().version;
}
