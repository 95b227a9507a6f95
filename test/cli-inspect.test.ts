import { describe, expect, it } from "vitest";
import { statSync } from "node:fs";
import { runCli, runCliDeno } from "./helpers/cli.ts";
import { lacks } from "./helpers/optional-deps.ts";
import { sharedPath } from "./helpers/shared.ts";

const stories = sharedPath("models/stories260K.gguf");

describe("ternion inspect", () => {
  it("prints the architecture, hyper-parameters, tokenizer and every tensor", () => {
    const r = runCli(["inspect", stories]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("architecture: llama");
    expect(r.stdout).toMatch(/embedding_length\s+64/);
    expect(r.stdout).toMatch(/block_count\s+5/);
    expect(r.stdout).toMatch(/Tokenizer: llama, vocab 512, bos 1, eos 2/);
    expect(r.stdout).toMatch(/blk\.4\.ffn_down\.weight\s+F32\s+172 x 64/);
    expect(r.stdout).toContain("48 tensors");
    expect(r.stdout).toContain("No ternary tensors.");
  });

  it("--json gives the same data as one object", () => {
    const r = runCli(["inspect", stories, "--json"]);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.architecture).toBe("llama");
    expect(report.fileSize).toBe(statSync(stories).size);
    expect(report.hyperParameters).toMatchObject({
      context_length: 2048,
      embedding_length: 64,
      feed_forward_length: 172,
      "attention.head_count": 8,
      "attention.head_count_kv": 4,
      block_count: 5,
      "rope.dimension_count": 8,
    });
    expect(report.tokenizer).toMatchObject({ model: "llama", vocabSize: 512, bos: 1, eos: 2 });
    expect(report.tensors).toHaveLength(48);
    // F32 everywhere: bytes are 4 per element, and shapes multiply out to the element count.
    for (const t of report.tensors) {
      expect(t.type).toBe("F32");
      expect(t.elements).toBe(t.shape.reduce((a: number, b: number) => a * b, 1));
      expect(t.bytes).toBe(4 * t.elements);
    }
    expect(report.tensors.find((t: { name: string }) => t.name === "token_embd.weight").shape).toEqual([64, 512]);
    expect(report.ternaryZeroFraction).toBeUndefined();
  });

  it("gives one clear line and a non-zero exit for a missing file, a bad flag, a non-GGUF file", () => {
    const missing = runCli(["inspect", "/nonexistent/model.gguf"]);
    expect(missing.status).toBe(2);
    expect(missing.stderr.trim().split("\n")).toHaveLength(1);
    expect(missing.stderr).toContain("/nonexistent/model.gguf");

    const badFlag = runCli(["inspect", stories, "--bogus"]);
    expect(badFlag.status).toBe(2);
    expect(badFlag.stderr).toContain("unknown flag --bogus");

    const notGguf = runCli(["inspect", sharedPath("corpus/tinystories_sample.txt")]);
    expect(notGguf.status).toBe(2);
    expect(notGguf.stderr.trim().split("\n")).toHaveLength(1);
    expect(notGguf.stderr).toContain("BAD_MAGIC");
  });

  it.skipIf(lacks("deno"))("runs the same under Deno", () => {
    const node = runCli(["inspect", stories, "--json"]);
    const deno = runCliDeno(["inspect", stories, "--json"]);
    expect(deno.stderr).toBe("");
    expect(deno.status).toBe(0);
    expect(JSON.parse(deno.stdout)).toEqual(JSON.parse(node.stdout));
  });
});
