// The generation options that constrain the output — a GBNF grammar or a JSON schema — compiled to a Grammar.
import { GrammarError, OptionError } from "../errors.ts";
import { parseGbnf } from "./gbnf.ts";
import type { Grammar } from "./grammar.ts";
import { jsonSchemaToGbnf } from "./json-schema.ts";
import { TokenConstraint } from "./token-constraint.ts";
import { TokenVocabulary } from "./token-vocabulary.ts";
import type { Tokenizer } from "../tokenizer/types.ts";

export interface ConstraintOptions {
  /** A GBNF grammar (llama.cpp's syntax) the output must match, from its rule "root". */
  grammar?: string;
  /** A JSON schema (runtime/grammar/json-schema.ts lists the subset) the output must be a valid JSON text of. */
  jsonSchema?: unknown;
}

/** The GBNF text the options ask for (a schema compiled to it), or undefined when they ask for none. */
function grammarText(options: ConstraintOptions): string | undefined {
  const { grammar, jsonSchema } = options;
  if (grammar !== undefined && jsonSchema !== undefined) throw new OptionError("BAD_OPTION", "give grammar or jsonSchema, not both");
  if (grammar !== undefined) {
    if (typeof grammar !== "string") throw new OptionError("BAD_OPTION_VALUE", "grammar must be a string of GBNF rules", "grammar");
    return grammar;
  }
  if (jsonSchema !== undefined) {
    if (typeof jsonSchema !== "boolean" && (typeof jsonSchema !== "object" || jsonSchema === null || Array.isArray(jsonSchema)))
      throw new GrammarError("BAD_SCHEMA", "jsonSchema must be a JSON Schema object");
    return jsonSchemaToGbnf(jsonSchema);
  }
  return undefined;
}

/** The grammar the options ask for, or undefined when they ask for none; a GrammarError when it does not compile. */
export function constraintGrammar(options: ConstraintOptions): Grammar | undefined {
  const text = grammarText(options);
  return text === undefined ? undefined : parseGbnf(text);
}

/**
 * The constraint the options ask for on `tokenizer`'s vocabulary, or undefined when they ask for none. The same
 * grammar (or a schema compiling to it) reuses the matcher and masks kept with the vocabulary.
 */
export function tokenConstraint(
  tokenizer: Pick<Tokenizer, "vocabSize" | "tokenToPiece" | "isEog">,
  options: ConstraintOptions,
): TokenConstraint | undefined {
  const text = grammarText(options);
  if (text === undefined) return undefined;
  return new TokenConstraint(TokenVocabulary.of(tokenizer).grammar(text, () => parseGbnf(text)));
}
