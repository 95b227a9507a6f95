// The model that generate, chat, ppl and bench run when no --model is given: the small ternary model the
// package ships (models/README.md; made by scripts/make-default-model.mjs), found beside the installed
// package's dist/ so that it works from an installed tarball as from the repository.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { OptionError } from "../runtime/errors.ts";
import { packageRoot } from "./package-root.ts";

/** Where the default model lies in the package. */
const DEFAULT_MODEL_FILE = "models/stories260K-ternary.gguf";

/** How the --model flag's help names the default. */
export const DEFAULT_MODEL_HELP = `default: ${DEFAULT_MODEL_FILE}, a ternary TinyStories model shipped with ternion`;

function defaultModelPath(): string {
  return fileURLToPath(new URL(DEFAULT_MODEL_FILE, packageRoot().dir));
}

/** The --model flag's value, or the default model's path when the flag is absent. */
export function modelOrDefault(flags: Map<string, string | true>): string {
  const v = flags.get("model");
  if (typeof v === "string" && v !== "") return v;
  if (v !== undefined) throw new OptionError("MISSING_FLAG", "--model <path> needs a value");
  const path = defaultModelPath();
  if (!existsSync(path)) {
    throw new OptionError("MISSING_FLAG", `--model <path> is required: the default model ${path} is missing (npm run make:default-model makes it)`);
  }
  return path;
}
