// llama.cpp (through node-llama-cpp, prebuilt, CPU) must accept files that our writer produced — not a byte
// copy: stories260K rewritten with an extra metadata key, the tensors in reverse order and alignment 64.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Llama, LlamaModel } from "node-llama-cpp";
import { cpuLlama, lacks } from "./helpers/optional-deps.ts";
import { sharedPath } from "./helpers/shared.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { readGgufHeader } from "../src/runtime/gguf/reader.ts";
import { ggufInputFromSource } from "../src/runtime/gguf/writer.ts";
import { writeGgufFile } from "../src/runtime/gguf/writer-node.ts";
import { type GgufValue, GgufValueType as T } from "../src/runtime/gguf/types.ts";

const STORIES = sharedPath("models/stories260K.gguf");
const EXPECTED = ", there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball.";

let llama: Llama;
let dir: string;

beforeAll(async () => {
  // One llama instance for the whole file: loading the native addon takes ~20 s.
  llama = await cpuLlama("error");
  dir = mkdtempSync(join(tmpdir(), "ternion-llama-"));
}, 180_000);

afterAll(async () => {
  await llama?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function greedy(model: LlamaModel, prompt: string, maxTokens: number): Promise<string> {
  const { LlamaCompletion } = await import("node-llama-cpp");
  // One thread: llama.cpp's worker threads spin at their barriers, so on a busy 2-core machine (vitest runs two files at
  // once) a thread per core turns a 40-token generation into minutes.
  const context = await model.createContext({ contextSize: 256, threads: 1 });
  try {
    const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
    return await completion.generateCompletion(prompt, { maxTokens, temperature: 0 });
  } finally {
    await context.dispose();
  }
}

describe.skipIf(lacks("node-llama-cpp"))("llama.cpp accepts files we write", () => {
  it("loads stories260K rewritten (extra key, reversed tensors, alignment 64) and greedy-generates the reference text", async () => {
    const source = await openFileSource(STORIES);
    const path = join(dir, "stories260K-rewritten.gguf");
    try {
      const header = await readGgufHeader(source);
      const base = ggufInputFromSource(source, header);
      const metadata = new Map<string, GgufValue>(header.metadata);
      metadata.set("general.alignment", { type: T.UINT32, value: 64 });
      metadata.set("ternion.note", { type: T.STRING, value: "rewritten by ternion" });
      const layout = await writeGgufFile(path, { ...base, metadata, tensors: [...base.tensors].reverse() });
      expect(layout.alignment).toBe(64);
    } finally {
      await source.close();
    }

    // Our own reader sees what we meant to write.
    const check = await openFileSource(path);
    try {
      const h = await readGgufHeader(check);
      expect(h.alignment).toBe(64);
      expect(h.tensors[0]!.name).toBe("blk.4.ffn_norm.weight");
      expect(h.metadata.get("ternion.note")?.value).toBe("rewritten by ternion");
    } finally {
      await check.close();
    }

    const model = await llama.loadModel({ modelPath: path });
    try {
      const text = await greedy(model, "Once upon a time", 40);
      expect(text.startsWith(EXPECTED), `llama.cpp generated: ${JSON.stringify(text)}`).toBe(true);
    } finally {
      await model.dispose();
    }
  }, 180_000);
});
