// --json-schema FILE and --grammar FILE (generate, chat): the output follows a JSON schema or a GBNF grammar.
// The file is read and compiled before the model loads, so a missing file, bad JSON or a schema keyword that
// constrained generation does not support fails at once with one line.
import { readFile } from "node:fs/promises";
import { OptionError } from "../runtime/errors.ts";
import { type ConstraintOptions, constraintGrammar } from "../runtime/grammar/constraint-options.ts";
import type { FlagSpec } from "./args.ts";
import { checkInputFile } from "./file-checks.ts";
import { optionalString } from "./flags.ts";

export const constraintFlags: Record<string, FlagSpec> = {
  "json-schema": { type: "string", description: "a JSON Schema file: the output is JSON valid against it, and ends where the value ends" },
  grammar: { type: "string", description: "a GBNF grammar file (llama.cpp's syntax, from rule root): the output matches it" },
};

/** The constraint the flags ask for (checked and compiled), or {} when none. */
export async function constraintOptions(flags: Map<string, string | true>): Promise<ConstraintOptions> {
  const schemaPath = optionalString(flags, "json-schema");
  const grammarPath = optionalString(flags, "grammar");
  if (schemaPath !== undefined && grammarPath !== undefined) throw new OptionError("CONFLICTING_FLAGS", "give --json-schema or --grammar, not both");
  let options: ConstraintOptions = {};
  if (schemaPath !== undefined) {
    await checkInputFile(schemaPath, { what: "the JSON schema", notFound: "FILE_NOT_FOUND", extension: ".json" });
    const text = await readFile(schemaPath, "utf8");
    try {
      options = { jsonSchema: JSON.parse(text) as unknown };
    } catch (e) {
      throw new OptionError("BAD_JSON_SCHEMA", `--json-schema ${schemaPath} is not JSON: ${(e as Error).message}`);
    }
  } else if (grammarPath !== undefined) {
    await checkInputFile(grammarPath, { what: "the grammar", notFound: "FILE_NOT_FOUND", extension: ".gbnf" });
    options = { grammar: await readFile(grammarPath, "utf8") };
  }
  constraintGrammar(options);
  return options;
}
