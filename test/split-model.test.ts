// Split models (gguf/split.ts, engine/model-source.ts openModel): stories260K written in 3 parts as llama.cpp's
// gguf-split names them loads as one model from disk and from a URL and generates the reference text; a missing
// or foreign part is a typed error naming the part.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalEngine } from "../src/engine/local-engine.ts";
import { openModel } from "../src/engine/model-source.ts";
import { ModelError } from "../src/runtime/errors.ts";
import { readGgufHeader } from "../src/runtime/gguf/reader.ts";
import { bytesSource } from "../src/runtime/gguf/sources.ts";
import { splitPartName } from "../src/runtime/gguf/split.ts";
import { startTestServer } from "./helpers/test-server.ts";
import { STORIES_CONTINUATION, sharedPath } from "./helpers/shared.ts";
import { splitGguf } from "./helpers/split-model.ts";

const stories = new Uint8Array(readFileSync(sharedPath("models/stories260K.gguf")));
let dir: string;
let parts: { name: string; bytes: Uint8Array }[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ternion-split-"));
  parts = await splitGguf(stories, "stories", 3);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Writes the parts into a fresh folder (optionally changed) and returns the first part's path. */
function writeParts(sub: string, change?: (files: string[]) => void): string {
  const at = join(dir, sub);
  mkdirSync(at);
  const files = parts.map((p) => join(at, p.name));
  parts.forEach((p, k) => writeFileSync(files[k]!, p.bytes));
  change?.(files);
  return files[0]!;
}

async function greedyText(model: string): Promise<string> {
  const engine = await createLocalEngine({ model, backend: "wasm", threads: 1 });
  try {
    return (await engine.complete("Once upon a time", { temperature: 0, maxTokens: 60 })).text;
  } finally {
    await engine.dispose();
  }
}

describe("split models", () => {
  it("names parts as gguf-split does", () => {
    expect(splitPartName("/m/stories-00001-of-00003.gguf", 2, 3)).toBe("/m/stories-00003-of-00003.gguf");
    expect(splitPartName("https://h.test/m/s-00001-of-00003.gguf?download=1", 1, 3)).toBe("https://h.test/m/s-00002-of-00003.gguf?download=1");
    expect(splitPartName("hf:o/r/s-00001-of-00003.gguf@v1", 1, 3)).toBe("hf:o/r/s-00002-of-00003.gguf@v1");
    expect(() => splitPartName("/m/stories.gguf", 1, 3)).toThrow(ModelError);
    expect(parts.map((p) => p.name)).toEqual(["stories-00001-of-00003.gguf", "stories-00002-of-00003.gguf", "stories-00003-of-00003.gguf"]);
  });

  it("loads the first part's path as the whole model: same tensors, and the reference text", async () => {
    const first = writeParts("ok");
    const opened = await openModel(first);
    try {
      const whole = await readGgufHeader(bytesSource(stories));
      expect(opened.header.tensors.map((t) => t.name)).toEqual(whole.tensors.map((t) => t.name));
      for (const t of whole.tensors) {
        const merged = opened.header.tensors.find((m) => m.name === t.name)!;
        const at = whole.dataOffset + t.offset;
        const got = await opened.source.read(opened.header.dataOffset + merged.offset, merged.byteLength);
        expect(Buffer.compare(got, stories.subarray(at, at + t.byteLength)), t.name).toBe(0);
      }
    } finally {
      await opened.close();
    }
    const text = await greedyText(first);
    expect(text.startsWith(STORIES_CONTINUATION), text).toBe(true);
  });

  it("loads from a URL: the other parts found by name, one request per part", async () => {
    const server = await startTestServer({ files: Object.fromEntries(parts.map((p) => [`/models/${p.name}`, p.bytes])) });
    try {
      const text = await greedyText(`${server.url}models/${parts[0]!.name}?download=true`);
      expect(text.startsWith(STORIES_CONTINUATION), text).toBe(true);
      expect(server.requests.map((r) => r.path)).toEqual(parts.map((p) => `/models/${p.name}`));
    } finally {
      await server.close();
    }
  });

  it("a missing part is a ModelError naming it", async () => {
    const first = writeParts("missing", (files) => unlinkSync(files[1]!));
    const err = await createLocalEngine({ model: first, backend: "wasm", threads: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelError);
    expect(err).toMatchObject({ code: "SPLIT_PART_MISSING", message: expect.stringContaining("stories-00002-of-00003.gguf") });
    expect((err as Error).message).toMatch(/^part 2 of 3 of .*stories-00001-of-00003\.gguf cannot be opened/);

    const server = await startTestServer({ files: { [`/${parts[0]!.name}`]: parts[0]!.bytes, [`/${parts[1]!.name}`]: parts[1]!.bytes } });
    try {
      const viaUrl = await openModel(`${server.url}${parts[0]!.name}`, { cache: false }).catch((e: unknown) => e);
      expect(viaUrl).toMatchObject({ code: "SPLIT_PART_MISSING", message: expect.stringMatching(/stories-00003-of-00003\.gguf: HTTP 404/) });
    } finally {
      await server.close();
    }
  });

  it("a part that does not belong is a ModelError naming it", async () => {
    const swapped = writeParts("swapped", (files) => copyFileSync(files[2]!, files[1]!));
    await expect(openModel(swapped)).rejects.toMatchObject({
      name: "ModelError",
      code: "SPLIT_PART_MISMATCH",
      message: expect.stringMatching(/stories-00002-of-00003\.gguf should be part 2 of 3 but is part 3 of 3/),
    });
    const second = writeParts("second");
    await expect(openModel(second.replace("00001-of", "00002-of"))).rejects.toMatchObject({
      code: "SPLIT_PART_MISMATCH",
      message: /load it by its first part/,
    });
    // Bytes have no name to find the other parts by.
    await expect(openModel(parts[0]!.bytes)).rejects.toMatchObject({ code: "SPLIT_PART_MISSING", message: /pass it by path or URL/ });
  });
});
