// A JSON Schema (the subset below) compiled to GBNF text, which gbnf.ts turns into the same Grammar as a
// hand-written grammar. Output is compact JSON: at most one space where JSON allows whitespace, objects' keys in
// the schema's order (required ones always, optional ones when the model writes them), numbers of at most 16
// digits. Every output the grammar admits is valid against the schema; the schema's keywords that the grammar
// cannot honour are refused (UNSUPPORTED_SCHEMA, naming the keyword), never ignored.
//
// Supported: type (one or a list), enum, const, anyOf; object: properties, required, additionalProperties
// (true/false); array: items, minItems, maxItems; string: minLength, maxLength; $ref to #/$defs/… or
// #/definitions/… (recursive too: the matcher bounds the depth); annotations (title, description, …).
import { GrammarError } from "../errors.ts";
import { MAX_REPETITION } from "./gbnf.ts";

/** Deepest nesting of schema objects. */
export const MAX_SCHEMA_DEPTH = 64;
/** Most schema objects compiled (a $ref counts once). */
export const MAX_SCHEMA_NODES = 10_000;

const ANNOTATIONS = new Set([
  "title",
  "description",
  "$schema",
  "$id",
  "$comment",
  "default",
  "examples",
  "deprecated",
  "readOnly",
  "writeOnly",
  "$defs",
  "definitions",
]);
const KEYWORDS = new Set([
  "type",
  "enum",
  "const",
  "anyOf",
  "properties",
  "required",
  "additionalProperties",
  "items",
  "minItems",
  "maxItems",
  "minLength",
  "maxLength",
  "$ref",
]);
const TYPES = ["object", "array", "string", "number", "integer", "boolean", "null"] as const;
type JsonType = (typeof TYPES)[number];
/** The type a schema without "type" must have for its keywords to hold. */
const IMPLIED: [JsonType, string[]][] = [
  ["object", ["properties", "required", "additionalProperties"]],
  ["array", ["items", "minItems", "maxItems"]],
  ["string", ["minLength", "maxLength"]],
];

/** The rules every schema grammar shares. */
const COMMON = String.raw`
ws ::= | " "
string ::= "\"" char* "\""
char ::= [^"\\\x00-\x1F\x7F] | "\\" ["\\/bfnrt]
integer ::= "-"? ([0] | [1-9] [0-9]{0,15})
number ::= integer ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,2})?
boolean ::= "true" | "false"
null ::= "null"
value ::= object | array | string | number | boolean | null
object ::= "{" ws ( member ("," ws member)* )? "}"
member ::= string ws ":" ws value ws
array ::= "[" ws ( value ws ("," ws value ws)* )? "]"
`;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** GBNF text whose sentences are exactly JSON texts valid against `schema` (in the compact form above). */
export function jsonSchemaToGbnf(schema: unknown): string {
  return new SchemaCompiler(schema).compile();
}

/** A GBNF literal for `text` (quotes, backslashes and control characters escaped). */
export function gbnfLiteral(text: string): string {
  let out = '"';
  for (const c of text) {
    const cp = c.codePointAt(0)!;
    if (c === '"' || c === "\\") out += `\\${c}`;
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, "0")}`;
    else out += c;
  }
  return `${out}"`;
}

class SchemaCompiler {
  private readonly lines: string[] = [];
  private nodes = 0;
  private readonly refRules = new Map<string, string>();

  constructor(private readonly root: unknown) {}

  compile(): string {
    const body = this.schema(this.root, "#", 0);
    return `root ::= ${body}\n${COMMON}${this.lines.join("\n")}\n`;
  }

  /** A GBNF expression for `schema` at `path`, adding the rules it needs. */
  private schema(schema: unknown, path: string, depth: number): string {
    if (++this.nodes > MAX_SCHEMA_NODES) throw new GrammarError("GRAMMAR_TOO_LARGE", `the schema has more than ${MAX_SCHEMA_NODES} subschemas`);
    if (depth > MAX_SCHEMA_DEPTH) throw new GrammarError("GRAMMAR_TOO_LARGE", `the schema nests deeper than ${MAX_SCHEMA_DEPTH} at ${path}`);
    if (schema === true) return "value";
    if (schema === false) throw new GrammarError("BAD_SCHEMA", `the schema at ${path} is false: no value is valid`);
    if (!isObject(schema)) throw new GrammarError("BAD_SCHEMA", `the schema at ${path} must be an object or a boolean`);
    for (const key of Object.keys(schema)) {
      if (!KEYWORDS.has(key) && !ANNOTATIONS.has(key))
        throw new GrammarError("UNSUPPORTED_SCHEMA", `JSON Schema keyword "${key}" (at ${path}) is not supported by constrained generation`);
    }
    if (schema.$ref !== undefined) {
      if (Object.keys(schema).some((k) => KEYWORDS.has(k) && k !== "$ref"))
        throw new GrammarError("UNSUPPORTED_SCHEMA", `"$ref" beside other keywords (at ${path}) is not supported`);
      return this.ref(schema.$ref, path, depth);
    }
    if (schema.anyOf !== undefined) {
      if (Object.keys(schema).some((k) => KEYWORDS.has(k) && k !== "anyOf"))
        throw new GrammarError("UNSUPPORTED_SCHEMA", `"anyOf" beside other keywords (at ${path}) is not supported`);
      if (!Array.isArray(schema.anyOf) || schema.anyOf.length === 0)
        throw new GrammarError("BAD_SCHEMA", `anyOf at ${path} must be a non-empty array`);
      return `(${schema.anyOf.map((s, i) => this.schema(s, `${path}/anyOf/${i}`, depth + 1)).join(" | ")})`;
    }
    const types = this.types(schema, path);
    if (schema.const !== undefined || schema.enum !== undefined) return this.literals(schema, types, path);
    const alternatives = types.map((t) => this.typed(t, schema, path, depth));
    return alternatives.length === 1 ? alternatives[0]! : `(${alternatives.join(" | ")})`;
  }

  private types(schema: Record<string, unknown>, path: string): JsonType[] {
    const t = schema.type;
    if (t === undefined) {
      if (schema.const !== undefined || schema.enum !== undefined) return [...TYPES];
      // No type: the one its keywords imply (a keyword of another type would be ignored by a validator, but
      // the value must still satisfy the implied one's, so only one kind is allowed).
      const implied = IMPLIED.filter(([, keys]) => keys.some((k) => schema[k] !== undefined)).map(([type]) => type);
      if (implied.length > 1)
        throw new GrammarError(
          "UNSUPPORTED_SCHEMA",
          `a schema without "type" with keywords of ${implied.join(" and ")} (at ${path}) is not supported`,
        );
      return implied.length ? implied : ["value" as JsonType];
    }
    const list = Array.isArray(t) ? t : [t];
    if (list.length === 0) throw new GrammarError("BAD_SCHEMA", `type at ${path} is an empty list`);
    for (const x of list)
      if (!TYPES.includes(x)) throw new GrammarError("BAD_SCHEMA", `type at ${path} must be one of ${TYPES.join(", ")}, got ${JSON.stringify(x)}`);
    return list as JsonType[];
  }

  /** const / enum: the values themselves, those of an allowed type. */
  private literals(schema: Record<string, unknown>, types: JsonType[], path: string): string {
    if (schema.enum !== undefined && (!Array.isArray(schema.enum) || schema.enum.length === 0))
      throw new GrammarError("BAD_SCHEMA", `enum at ${path} must be a non-empty array`);
    const values = schema.const !== undefined ? [schema.const] : (schema.enum as unknown[]);
    const other = Object.keys(schema).filter((k) => KEYWORDS.has(k) && k !== "type" && k !== "enum" && k !== "const");
    if (other.length) throw new GrammarError("UNSUPPORTED_SCHEMA", `"${other[0]}" beside enum or const (at ${path}) is not supported`);
    const kept = values.filter((v) => types.some((t) => hasType(v, t)));
    if (
      schema.const !== undefined &&
      schema.enum !== undefined &&
      !(schema.enum as unknown[]).some((v) => JSON.stringify(v) === JSON.stringify(schema.const))
    )
      throw new GrammarError("BAD_SCHEMA", `const at ${path} is not among its enum`);
    if (kept.length === 0) throw new GrammarError("BAD_SCHEMA", `no value of enum/const at ${path} has the schema's type`);
    return `(${kept.map((v) => gbnfLiteral(JSON.stringify(v))).join(" | ")})`;
  }

  private typed(type: JsonType | "value", schema: Record<string, unknown>, path: string, depth: number): string {
    switch (type) {
      case "object":
        return this.object(schema, path, depth);
      case "array":
        return this.array(schema, path, depth);
      case "string":
        return this.string(schema, path);
      default:
        return type;
    }
  }

  private object(schema: Record<string, unknown>, path: string, depth: number): string {
    const props = schema.properties;
    const additional = schema.additionalProperties;
    if (additional !== undefined && typeof additional !== "boolean")
      throw new GrammarError("UNSUPPORTED_SCHEMA", `"additionalProperties" with a schema (at ${path}) is not supported: use true or false`);
    if (props !== undefined && !isObject(props)) throw new GrammarError("BAD_SCHEMA", `properties at ${path} must be an object`);
    const required = schema.required ?? [];
    if (!Array.isArray(required) || !required.every((r) => typeof r === "string"))
      throw new GrammarError("BAD_SCHEMA", `required at ${path} must be an array of strings`);
    const names = Object.keys(props ?? {});
    for (const r of required) {
      if (!names.includes(r)) throw new GrammarError("UNSUPPORTED_SCHEMA", `required property "${r}" (at ${path}) has no schema in properties`);
    }
    if (names.length === 0) return additional === false ? '"{" ws "}"' : "object";
    // Keys in the schema's order; A(i): after something was written (each member needs its comma), B(i): before.
    const kv = names.map(
      (n) =>
        `${gbnfLiteral(JSON.stringify(n))} ws ":" ws ${this.schema((props as Record<string, unknown>)[n], `${path}/properties/${n}`, depth + 1)} ws`,
    );
    const req = names.map((n) => required.includes(n));
    const base = this.ruleName(path);
    const a = (i: number) => `${base}-a${i}`;
    const b = (i: number) => `${base}-b${i}`;
    for (let i = 0; i < names.length; i++) {
      const rest = i + 1 < names.length ? ` ${a(i + 1)}` : "";
      this.lines.push(`${a(i)} ::= ${req[i] ? `"," ws ${kv[i]}${rest}` : `("," ws ${kv[i]})?${rest}`}`);
      const restB = i + 1 < names.length ? b(i + 1) : "";
      // The empty alternative first: GBNF reads a newline after a trailing "|" as part of the rule.
      this.lines.push(`${b(i)} ::= ${req[i] ? "" : `${restB} | `}${kv[i]}${rest}`);
    }
    return `"{" ws ${b(0)} "}"`;
  }

  private array(schema: Record<string, unknown>, path: string, depth: number): string {
    const min = this.count(schema, "minItems", path) ?? 0;
    const max = this.count(schema, "maxItems", path);
    if (max !== undefined && max < min) throw new GrammarError("BAD_SCHEMA", `maxItems below minItems at ${path}`);
    if (Array.isArray(schema.items))
      throw new GrammarError("UNSUPPORTED_SCHEMA", `"items" as an array (at ${path}) is not supported: use one schema`);
    const item = schema.items === undefined ? "value" : this.schema(schema.items, `${path}/items`, depth + 1);
    if (max === 0) return '"[" ws "]"';
    const name = `${this.ruleName(path)}-item`;
    this.lines.push(`${name} ::= ${item} ws`);
    const more = `("," ws ${name}){${Math.max(min - 1, 0)},${max === undefined ? "" : max - 1}}`;
    const list = `${name} ${more}`;
    return min === 0 ? `"[" ws (${list})? "]"` : `"[" ws ${list} "]"`;
  }

  private string(schema: Record<string, unknown>, path: string): string {
    const min = this.count(schema, "minLength", path) ?? 0;
    const max = this.count(schema, "maxLength", path);
    if (max !== undefined && max < min) throw new GrammarError("BAD_SCHEMA", `maxLength below minLength at ${path}`);
    if (min === 0 && max === undefined) return "string";
    return `"\\"" char{${min},${max ?? ""}} "\\""`;
  }

  private count(schema: Record<string, unknown>, key: string, path: string): number | undefined {
    const v = schema[key];
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw new GrammarError("BAD_SCHEMA", `${key} at ${path} must be an integer ≥ 0`);
    // The count becomes a GBNF repetition, whose parser bounds it; refused here so the error names the schema.
    if (v > MAX_REPETITION) throw new GrammarError("UNSUPPORTED_SCHEMA", `${key} ${v} (at ${path}) is not supported: at most ${MAX_REPETITION}`);
    return v;
  }

  private ref(ref: unknown, path: string, depth: number): string {
    if (typeof ref !== "string") throw new GrammarError("BAD_SCHEMA", `$ref at ${path} must be a string`);
    const m = /^#\/(\$defs|definitions)\/([^/]+)$/.exec(ref);
    if (!m)
      throw new GrammarError(
        "UNSUPPORTED_SCHEMA",
        `"$ref" ${JSON.stringify(ref)} (at ${path}) is not supported: only #/$defs/<name> and #/definitions/<name>`,
      );
    const known = this.refRules.get(ref);
    if (known) return known;
    const defs = isObject(this.root) ? this.root[m[1]!] : undefined;
    const name = m[2]!.replaceAll("~1", "/").replaceAll("~0", "~");
    if (!isObject(defs) || !Object.hasOwn(defs, name))
      throw new GrammarError("BAD_SCHEMA", `$ref ${JSON.stringify(ref)} (at ${path}) names no definition`);
    // The rule is named before its body is compiled, so a recursive reference refers to it.
    const rule = `ref-${this.refRules.size}`;
    this.refRules.set(ref, rule);
    this.lines.push(`${rule} ::= ${this.schema(defs[name], ref, depth + 1)}`);
    return rule;
  }

  private ruleName(path: string): string {
    return `s${this.lines.length}-${path.replace(/[^a-zA-Z0-9]+/g, "-").slice(0, 40)}`.replace(/-+$/, "");
  }
}

function hasType(v: unknown, t: JsonType): boolean {
  switch (t) {
    case "null":
      return v === null;
    case "boolean":
      return typeof v === "boolean";
    case "integer":
      return Number.isInteger(v);
    case "number":
      return typeof v === "number" && Number.isFinite(v);
    case "string":
      return typeof v === "string";
    case "array":
      return Array.isArray(v);
    case "object":
      return isObject(v);
  }
}
