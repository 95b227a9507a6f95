// A request body read with bounds: never more than `limit` bytes held (a larger Content-Length is refused before
// any byte is read, a chunked body once it passes the limit), strict UTF-8, and JSON no deeper than a request
// needs, so that a hostile body can neither exhaust memory nor overflow a stack further on (the worker's
// structured clone and every later walk of the value recurse).
import type { IncomingMessage } from "node:http";
import { HttpError } from "./http-error.ts";

/** How deep objects and arrays may nest in a request (chat content parts need 4). */
const MAX_JSON_DEPTH = 32;

export async function readJsonBody(req: IncomingMessage, limit: number): Promise<Record<string, unknown>> {
  const bytes = await readBody(req, limit);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new HttpError(400, "INVALID_UTF8", "the request body is not valid UTF-8");
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, "INVALID_JSON", `the request body is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new HttpError(400, "INVALID_JSON", "the request body must be a JSON object");
  }
  checkDepth(value, MAX_JSON_DEPTH);
  return value as Record<string, unknown>;
}

async function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const tooLarge = () => new HttpError(413, "REQUEST_TOO_LARGE", `the request body is larger than ${limit} bytes`);
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) throw tooLarge();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > limit) throw tooLarge();
    chunks.push(chunk);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.byteLength;
  }
  return body;
}

/** Walks the value without recursion; an HttpError 400 once objects or arrays nest deeper than `max`. */
function checkDepth(root: object, max: number): void {
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (typeof value !== "object" || value === null) continue;
    if (depth > max) throw new HttpError(400, "INVALID_JSON", `the request body nests objects and arrays deeper than ${max} levels`);
    for (const child of Object.values(value)) if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
  }
}
