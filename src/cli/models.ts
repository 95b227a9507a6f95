// `ternion models [--json]` lists the model cache (reference, size, path, last used); `ternion models rm <ref>`
// removes one entry.
import { OptionError } from "../runtime/errors.ts";
import { cacheDirectory, listCachedModels, removeCachedModel } from "../runtime/hub/cache-node.ts";
import { helpFlag, parseArgs, type FlagSpec } from "./args.ts";
import type { Command } from "./command.ts";
import { formatSize } from "./format.ts";
import { formatTable } from "./format.ts";

const flags: Record<string, FlagSpec> = {
  json: { type: "boolean", description: "print the entries as one JSON array" },
  help: helpFlag,
};

export const modelsCommand: Command = {
  name: "models",
  summary: "list the cached models (reference, size, path, last used); `models rm <ref>` removes one",
  usage: "ternion models [--json] | ternion models rm <ref>   (cache: TERNION_CACHE, default ~/.cache/ternion)",
  flags,
  async run(argv, out) {
    const args = parseArgs(argv, flags);
    const [action, ...rest] = args.positionals;
    if (action === "rm") {
      if (rest.length !== 1) throw new OptionError(rest.length ? "UNEXPECTED_ARGUMENT" : "MISSING_ARGUMENT", "usage: ternion models rm <ref>");
      if (!(await removeCachedModel(rest[0]!))) throw new OptionError("NOT_CACHED", `${rest[0]} is not in the cache ${await cacheDirectory()}`);
      out(`removed ${rest[0]}`);
      return;
    }
    if (action !== undefined)
      throw new OptionError("UNEXPECTED_ARGUMENT", `unexpected argument ${JSON.stringify(action)} (did you mean models rm ${action}?)`);
    const entries = await listCachedModels();
    if (args.flags.has("json")) {
      out(JSON.stringify(entries));
      return;
    }
    if (entries.length === 0) {
      out(`no models in the cache ${await cacheDirectory()}`);
      return;
    }
    out(
      formatTable(
        ["reference", "size", "path", "last used"],
        entries.map((e) => [e.reference, formatSize(e.size), e.path, e.lastUsed.replace("T", " ").replace(/\.\d+Z$/, "Z")]),
        ["left", "right", "left", "left"],
      ),
    );
  },
};
