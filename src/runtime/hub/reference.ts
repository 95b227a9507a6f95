// Model references, the one way every entry point names a model: a path, an http(s) URL, or
// `hf:<owner>/<repo>/<path/in/repo.gguf>[@<revision>]`, which resolves to the Hugging Face hub's `resolve` URL
// (revision `main` unless named). The hub's base URL and token come from options or the environment
// (TERNION_HF_ENDPOINT, HF_TOKEN), so that tests point it at a local server. Parsing is strict: a reference that
// could escape the repository (`..`, a backslash, an empty segment) or name no file is an OptionError, never a
// request.
import { OptionError } from "../errors.ts";

export const DEFAULT_HF_ENDPOINT = "https://huggingface.co";

export type ModelReference =
  | { kind: "path"; path: string }
  | { kind: "url"; url: string }
  | { kind: "hf"; owner: string; repo: string; file: string; revision: string };

/** Where the hub is and who asks: options first, then TERNION_HF_ENDPOINT / HF_TOKEN. */
export interface HubOptions {
  /** The hub's base URL (default TERNION_HF_ENDPOINT, else https://huggingface.co). */
  endpoint?: string;
  /** Sent as `Authorization: Bearer <token>` (default HF_TOKEN). */
  token?: string;
}

/** Hub owner and repository names: letters, digits, `.`, `_` and `-` (the hub's own rule), not `.`/`..`. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;
/** A revision: a branch, tag or commit; branch names may hold `/`. */
const REVISION = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

function hasControlCharacter(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function bad(ref: string, why: string): never {
  throw new OptionError("BAD_MODEL_REFERENCE", `bad model reference ${JSON.stringify(ref)}: ${why}`);
}

/** Parses a model reference. Anything that is neither `hf:` nor `http(s)://` is a path. */
export function parseModelReference(ref: string): ModelReference {
  if (typeof ref !== "string" || ref.length === 0) bad(String(ref), "it is empty");
  if (/^https?:\/\//i.test(ref)) {
    let url: URL;
    try {
      url = new URL(ref);
    } catch {
      bad(ref, "not a valid URL");
    }
    return { kind: "url", url: url.href };
  }
  if (!/^hf:/i.test(ref)) return { kind: "path", path: ref };
  const body = ref.slice(3).replace(/^\/\//, "");
  const at = body.lastIndexOf("@");
  const location = at < 0 ? body : body.slice(0, at);
  const revision = at < 0 ? "main" : body.slice(at + 1);
  if (!REVISION.test(revision) || revision.split("/").some((s) => s === "." || s === "..")) bad(ref, `revision ${JSON.stringify(revision)}`);
  const parts = location.split("/");
  const [owner, repo, ...file] = parts;
  if (owner === undefined || repo === undefined || file.length === 0) bad(ref, "expected hf:<owner>/<repo>/<path/in/repo.gguf>[@<revision>]");
  if (!NAME.test(owner) || owner.endsWith(".")) bad(ref, `owner ${JSON.stringify(owner)}`);
  if (!NAME.test(repo) || repo.endsWith(".")) bad(ref, `repository ${JSON.stringify(repo)}`);
  for (const segment of file) {
    if (segment === "" || segment === "." || segment === ".." || segment.includes("\\") || hasControlCharacter(segment)) {
      bad(ref, `file path ${JSON.stringify(file.join("/"))}`);
    }
  }
  return { kind: "hf", owner, repo, file: file.join("/"), revision };
}

/** The reference written canonically (the cache's key): `hf:owner/repo/file@revision`, the URL, or the path. */
export function formatModelReference(ref: ModelReference): string {
  switch (ref.kind) {
    case "path":
      return ref.path;
    case "url":
      return ref.url;
    case "hf":
      return `hf:${ref.owner}/${ref.repo}/${ref.file}@${ref.revision}`;
  }
}

/** The environment's value of `name`, where there is one (Node, Deno with --allow-env; never in a browser). */
function envVar(name: string): string | undefined {
  const g = globalThis as { process?: { env?: Record<string, string | undefined> }; Deno?: { env?: { get(k: string): string | undefined } } };
  try {
    return g.process?.env?.[name] ?? g.Deno?.env?.get(name);
  } catch {
    return undefined; // Deno without --allow-env
  }
}

/** The hub options in force: the given ones, else the environment's, else the public hub without a token. */
export function resolveHubOptions(options: HubOptions = {}): { endpoint: string; token: string | undefined } {
  const endpoint = (options.endpoint ?? envVar("TERNION_HF_ENDPOINT") ?? DEFAULT_HF_ENDPOINT).replace(/\/+$/, "");
  if (!/^https?:\/\//i.test(endpoint))
    throw new OptionError("BAD_OPTION_VALUE", `the hub endpoint must be an http(s) URL, got ${JSON.stringify(endpoint)}`);
  const token = options.token ?? envVar("HF_TOKEN");
  return { endpoint, token: token === "" ? undefined : token };
}

/** The URL an `hf:` or URL reference is downloaded from. */
export function modelUrl(ref: Exclude<ModelReference, { kind: "path" }>, options: HubOptions = {}): string {
  if (ref.kind === "url") return ref.url;
  const { endpoint } = resolveHubOptions(options);
  const file = ref.file.split("/").map(encodeURIComponent).join("/");
  return `${endpoint}/${encodeURIComponent(ref.owner)}/${encodeURIComponent(ref.repo)}/resolve/${encodeURIComponent(ref.revision)}/${file}`;
}

/**
 * Headers for a request to `url`: the bearer token, but only to the hub itself (a token is never sent to
 * another host, e.g. after a redirect to a CDN or for a plain URL reference).
 */
export function hubHeaders(url: string, options: HubOptions = {}): Record<string, string> {
  const { endpoint, token } = resolveHubOptions(options);
  if (token === undefined || new URL(url).origin !== new URL(endpoint).origin) return {};
  return { authorization: `Bearer ${token}` };
}
