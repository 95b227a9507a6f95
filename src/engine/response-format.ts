// OpenAI's `response_format` of a chat request (and llama.cpp's `grammar` extension) as the generate options that
// constrain the output:
// { type: "text" } (no constraint), { type: "json_object" } (any JSON object) and
// { type: "json_schema", json_schema: { name, schema, strict, description } } (a JSON text valid against schema).
import type { ConstraintOptions } from "../runtime/grammar/constraint-options.ts";

export type ResponseFormat =
  | { type: "text" }
  | { type: "json_object" }
  | { type: "json_schema"; json_schema: { name: string; schema?: Record<string, unknown>; strict?: boolean | null; description?: string } };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const JSON_SCHEMA_FIELDS = ["name", "schema", "strict", "description"];

/**
 * Says what `response_format` should have been (naming the part that is wrong), or undefined when it is right
 * (the schema itself compiles later).
 */
export function responseFormatCheck(v: unknown): string | { expected: string; at: string; value: unknown } | undefined {
  const shape = '{ type: "text" }, { type: "json_object" } or { type: "json_schema", json_schema: { name, schema, strict } }';
  if (!isObject(v)) return shape;
  const keys = Object.keys(v);
  if (v.type === "text" || v.type === "json_object") return keys.every((k) => k === "type") ? undefined : shape;
  if (v.type !== "json_schema" || !keys.every((k) => k === "type" || k === "json_schema")) return shape;
  const js = v.json_schema;
  if (!isObject(js) || typeof js.name !== "string" || !Object.keys(js).every((k) => JSON_SCHEMA_FIELDS.includes(k))) return shape;
  if (js.schema !== undefined && !isObject(js.schema))
    return { expected: `${shape}, its schema an object`, at: "json_schema.schema", value: js.schema };
  if (js.strict !== undefined && js.strict !== null && typeof js.strict !== "boolean")
    return { expected: `${shape}, its strict a boolean`, at: "json_schema.strict", value: js.strict };
  if (js.description !== undefined && typeof js.description !== "string")
    return { expected: `${shape}, its description a string`, at: "json_schema.description", value: js.description };
  return undefined;
}

/**
 * The constraint options a chat request asks for: its `response_format` (checked by responseFormatCheck), or
 * its `grammar` (llama.cpp's server extension: GBNF text).
 */
export function requestConstraint(request: { response_format?: ResponseFormat; grammar?: string }): ConstraintOptions {
  const format = request.response_format;
  const grammar = request.grammar === undefined ? {} : { grammar: request.grammar };
  if (format?.type === "json_object") return { jsonSchema: { type: "object" }, ...grammar };
  if (format?.type === "json_schema") return { jsonSchema: format.json_schema.schema ?? { type: "object" }, ...grammar };
  return grammar;
}
