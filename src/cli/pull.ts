// `ternion pull <ref> [--json]`: downloads an hf: reference or an http(s) URL into the model cache (resuming a
// download that was interrupted) and prints where the file is.
import { OptionError } from "../runtime/errors.ts";
import { parseModelReference } from "../runtime/hub/reference.ts";
import { helpFlag, parseArgs, type FlagSpec } from "./args.ts";
import type { Command } from "./command.ts";
import { formatSize } from "./format.ts";
import { pullWithBar } from "./model-reference.ts";

const flags: Record<string, FlagSpec> = {
  json: { type: "boolean", description: "print the cache entry as one JSON object" },
  help: helpFlag,
};

export const pullCommand: Command = {
  name: "pull",
  summary: "download a model (hf:<owner>/<repo>/<file>[@rev] or an http(s) URL) into the cache",
  usage: "ternion pull <hf:owner/repo/file.gguf[@revision] | https://…> [--json]   (hub: TERNION_HF_ENDPOINT, HF_TOKEN; cache: TERNION_CACHE)",
  flags,
  async run(argv, out) {
    const args = parseArgs(argv, flags);
    const [ref, ...extra] = args.positionals;
    if (!ref) throw new OptionError("MISSING_ARGUMENT", "pull needs a model reference: ternion pull hf:<owner>/<repo>/<file.gguf>[@revision]");
    if (extra.length) throw new OptionError("UNEXPECTED_ARGUMENT", `unexpected argument ${JSON.stringify(extra[0])}`);
    const parsed = parseModelReference(ref);
    if (parsed.kind === "path") {
      throw new OptionError(
        "BAD_MODEL_REFERENCE",
        `${JSON.stringify(ref)} is a path; pull takes hf:<owner>/<repo>/<file.gguf>[@revision] or an http(s) URL`,
      );
    }
    const entry = await pullWithBar(parsed);
    if (args.flags.has("json")) out(JSON.stringify(entry));
    else
      out(
        `${entry.reference}: ${entry.path} (${formatSize(entry.size)}${entry.verified ? ", sha256 verified" : ""}${entry.cached ? ", already cached" : ""})`,
      );
  },
};
