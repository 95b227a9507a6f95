// Model references (src/runtime/hub/reference.ts): paths, URLs and hf: references parsed strictly, resolved to
// the hub's resolve URL, with the token sent to the hub only.
import { afterEach, describe, expect, it } from "vitest";
import { OptionError } from "../src/runtime/errors.ts";
import { formatModelReference, hubHeaders, modelUrl, parseModelReference, resolveHubOptions } from "../src/runtime/hub/reference.ts";

const saved = { endpoint: process.env.TERNION_HF_ENDPOINT, token: process.env.HF_TOKEN };
afterEach(() => {
  for (const [key, value] of [
    ["TERNION_HF_ENDPOINT", saved.endpoint],
    ["HF_TOKEN", saved.token],
  ] as const) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
});

describe("model references", () => {
  it("a path stays a path; http(s) URLs are URLs", () => {
    expect(parseModelReference("models/x.gguf")).toEqual({ kind: "path", path: "models/x.gguf" });
    expect(parseModelReference("/abs/x.gguf")).toEqual({ kind: "path", path: "/abs/x.gguf" });
    expect(parseModelReference("http://127.0.0.1:8080/m.gguf")).toEqual({ kind: "url", url: "http://127.0.0.1:8080/m.gguf" });
    expect(parseModelReference("HTTPS://example.org/a b.gguf")).toEqual({ kind: "url", url: "https://example.org/a%20b.gguf" });
  });

  it("hf: references name owner, repository, file and revision (main by default)", () => {
    expect(parseModelReference("hf:microsoft/bitnet-b1.58-2B-4T-gguf/ggml-model-i2_s.gguf")).toEqual({
      kind: "hf",
      owner: "microsoft",
      repo: "bitnet-b1.58-2B-4T-gguf",
      file: "ggml-model-i2_s.gguf",
      revision: "main",
    });
    const r = parseModelReference("hf:o/r/sub/dir/m.gguf@v1.0");
    expect(r).toEqual({ kind: "hf", owner: "o", repo: "r", file: "sub/dir/m.gguf", revision: "v1.0" });
    expect(formatModelReference(r)).toBe("hf:o/r/sub/dir/m.gguf@v1.0");
    expect(formatModelReference(parseModelReference("hf:o/r/m.gguf"))).toBe("hf:o/r/m.gguf@main");
  });

  it.each([
    ["", "empty"],
    ["hf:", "no owner"],
    ["hf:owner", "no repository"],
    ["hf:owner/repo", "no file"],
    ["hf:owner/repo/", "an empty file name"],
    ["hf:owner/repo/../../etc/passwd", "a path that leaves the repository"],
    ["hf:owner/repo/a//b.gguf", "an empty segment"],
    ["hf:owner/repo/a\\b.gguf", "a backslash"],
    ["hf:own er/repo/m.gguf", "a space in the owner"],
    ["hf:owner/../m.gguf", "a repository named .."],
    ["hf:owner/repo/m.gguf@", "an empty revision"],
    ["hf:owner/repo/m.gguf@../x", "a revision that climbs"],
    ["hf:owner/repo/m\u0000.gguf", "a control character"],
    ["http://", "a URL without a host"],
  ])("refuses %j (%s) with OptionError BAD_MODEL_REFERENCE", (ref) => {
    expect(() => parseModelReference(ref)).toThrow(OptionError);
    try {
      parseModelReference(ref);
    } catch (e) {
      expect((e as OptionError).code).toBe("BAD_MODEL_REFERENCE");
    }
  });

  it("resolves hf: to the hub's resolve URL, each part encoded", () => {
    delete process.env.TERNION_HF_ENDPOINT;
    const ref = parseModelReference("hf:o/r/dir/m e.gguf@feature/x");
    if (ref.kind === "path") throw new Error("not a path");
    expect(modelUrl(ref)).toBe("https://huggingface.co/o/r/resolve/feature%2Fx/dir/m%20e.gguf");
    expect(modelUrl(ref, { endpoint: "http://127.0.0.1:9999/" })).toBe("http://127.0.0.1:9999/o/r/resolve/feature%2Fx/dir/m%20e.gguf");
    process.env.TERNION_HF_ENDPOINT = "http://127.0.0.1:7777";
    expect(modelUrl(ref)).toBe("http://127.0.0.1:7777/o/r/resolve/feature%2Fx/dir/m%20e.gguf");
    expect(() => resolveHubOptions({ endpoint: "ftp://x" })).toThrow(OptionError);
  });

  it("sends the token as a bearer header to the hub's origin only", () => {
    process.env.TERNION_HF_ENDPOINT = "http://127.0.0.1:7777";
    process.env.HF_TOKEN = "secret";
    expect(hubHeaders("http://127.0.0.1:7777/o/r/resolve/main/m.gguf")).toEqual({ authorization: "Bearer secret" });
    expect(hubHeaders("http://127.0.0.2:7777/o/r/resolve/main/m.gguf")).toEqual({});
    expect(hubHeaders("http://127.0.0.1:7777/x", { token: "other" })).toEqual({ authorization: "Bearer other" });
    delete process.env.HF_TOKEN;
    expect(hubHeaders("http://127.0.0.1:7777/x")).toEqual({});
  });
});
