// The command line on a model with salient side matrices (a synthetic TQ2_0 llama with a random 1 % side matrix
// beside every block matrix): `inspect` lists the side tensors with their integer types, and `generate` runs the
// model, its greedy tokens those of the engine's generation loop in this process — and not those of the same model without
// its side matrices.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generate } from "../src/engine/generate.ts";
import { CpuLanguageModel } from "../src/runtime/cpu/language-model.ts";
import { CpuModel } from "../src/runtime/cpu/model.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { writeGgufFile } from "../src/runtime/gguf/writer-node.ts";
import { runCli } from "./helpers/cli.ts";
import { SALIENT_SHAPES, withRandomSalient } from "./helpers/salient.ts";
import { syntheticModel } from "./helpers/synthetic-model.ts";

const dir = mkdtempSync(join(tmpdir(), "ternion-cli-salient-"));
const path = join(dir, "salient.gguf");
const plainPath = join(dir, "plain.gguf");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The greedy tokens after `prompt` from the engine's generation loop on the CPU backend, in this process. */
async function greedy(file: string, prompt: string, maxTokens: number): Promise<number[]> {
  const source = await openFileSource(file);
  const model = await CpuModel.load(source, { threads: 1, contextLength: 32 });
  await source.close();
  try {
    return (await generate(new CpuLanguageModel(model), prompt, { temperature: 0, maxTokens })).tokens;
  } finally {
    model.dispose();
  }
}

describe("ternion on a model with salient side matrices", () => {
  beforeAll(async () => {
    const plain = syntheticModel(SALIENT_SHAPES["llama TQ2_0"]!);
    await writeGgufFile(path, withRandomSalient(plain, 0.01, 7, 0.5).model);
    await writeGgufFile(plainPath, plain);
  });

  it("inspect lists the side tensors", () => {
    const r = runCli(["inspect", path, "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const tensors = JSON.parse(r.stdout).tensors as { name: string; type: string; shape: number[] }[];
    const side = tensors.filter((t) => t.name.startsWith("blk.0.attn_q.salient_"));
    expect(side.map((t) => [t.name.slice("blk.0.attn_q.".length), t.type])).toEqual([
      ["salient_rows", "I32"],
      ["salient_idx", "I16"],
      ["salient_val", "I8"],
      ["salient_scale", "F32"],
    ]);
    expect(side[0]!.shape).toEqual([257]);
  });

  it("generate gives the engine's greedy tokens, which the model without side matrices does not", async () => {
    const r = runCli(["generate", "--model", path, "--prompt", "hello", "--temperature", "0", "--max-tokens", "12", "--threads", "2", "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { tokens: number[] };
    expect(out.tokens).toHaveLength(12);
    expect(out.tokens).toEqual(await greedy(path, "hello", 12));
    expect(out.tokens).not.toEqual(await greedy(plainPath, "hello", 12));
  });
});
