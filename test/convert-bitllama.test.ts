// convert-bitllama: the real ternary checkpoint → GGUF ("bitnet", I2_S), checked against the checkpoint
// decoded independently here, following docs/ARCHITECTURE.md section 3 to the letter.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { convertBitllama } from "../src/runtime/convert/bitllama.ts";
import { decodeBitllamaCodes } from "../src/runtime/convert/bitllama-checkpoint.ts";
import { ModelError } from "../src/runtime/errors.ts";
import { readGgufHeader, readTensorData } from "../src/runtime/gguf/reader.ts";
import { bytesSource } from "../src/runtime/gguf/sources.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { writeGgufFile } from "../src/runtime/gguf/writer-node.ts";
import type { GgufHeader } from "../src/runtime/gguf/types.ts";
import { modelConfigFromGguf } from "../src/runtime/model/config.ts";
import { GgmlType, tensorTypeTraits } from "../src/runtime/tensor-types/table.ts";
import { tokenizerFromGguf } from "../src/runtime/tokenizer/index.ts";
import { runCli } from "./helpers/cli.ts";
import { greedyTokens, loadWeights, referenceLogits } from "./helpers/reference-forward.ts";
import { sharedPath } from "./helpers/shared.ts";

const MODEL = sharedPath("models/bitllama-1M.bin");
const TOKENIZER = sharedPath("models/tok512.bin");
const STORIES = sharedPath("models/stories260K.gguf");

// ---- The checkpoint, decoded here without the code under test. ----
interface Checkpoint {
  dim: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  seqLen: number;
  finalNorm: Float32Array;
  embedding: Uint8Array;
  /** kind → per layer: scale, trits (−1/0/1, row-major [out][in]), rows, cols. */
  matrices: Map<string, { scale: number; trits: number[]; rows: number; cols: number }[]>;
}

function decodeCheckpoint(file: Uint8Array): Checkpoint {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const int = (i: number) => dv.getInt32(4 * i, true);
  const [dim, hidden, layers, heads, kvHeads, vocab, seqLen] = [int(2), int(3), int(4), int(5), int(6), int(7), int(8)];
  let at = 256;
  const finalNorm = new Float32Array(file.slice(at, at + dim * 4).buffer);
  at += dim * 4;
  const embedding = file.slice(at, at + vocab * dim * 4);
  at += vocab * dim * 4;
  const kv = (dim / heads) * kvHeads;
  const shapes: [string, number, number][] = [
    ["wq", dim, dim],
    ["wk", kv, dim],
    ["wv", kv, dim],
    ["wo", dim, dim],
    ["w1", hidden, dim],
    ["w2", dim, hidden],
    ["w3", hidden, dim],
  ];
  const matrices = new Map<string, { scale: number; trits: number[]; rows: number; cols: number }[]>();
  for (const [kind, rows, cols] of shapes) {
    const list = [];
    for (let l = 0; l < layers; l++) {
      const scale = dv.getFloat32(at, true);
      at += 4;
      const trits: number[] = [];
      for (let i = 0; i < rows * cols; i++) {
        const code = (file[at + Math.floor(i / 4)]! >> (6 - 2 * (i % 4))) & 3;
        trits.push({ 0: 0, 1: 1, 3: -1 }[code as 0 | 1 | 3]);
      }
      at += Math.ceil((rows * cols) / 4);
      list.push({ scale, trits, rows, cols });
    }
    matrices.set(kind, list);
  }
  expect(at).toBe(file.length);
  return { dim, hidden, layers, heads, kvHeads, vocab, seqLen, finalNorm, embedding, matrices };
}

/** tok512.bin parsed directly: [text, score] per token. */
function parseTok512(file: Uint8Array, n: number): [string, number][] {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const out: [string, number][] = [];
  let at = 4;
  for (let i = 0; i < n; i++) {
    const score = dv.getFloat32(at, true);
    const len = dv.getInt32(at + 4, true);
    out.push([new TextDecoder().decode(file.subarray(at + 8, at + 8 + len)), score]);
    at += 8 + len;
  }
  return out;
}

let dir: string;
let outPath: string;
let ckpt: Checkpoint;
let header: GgufHeader;
let gguf: Uint8Array;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ternion-bitllama-"));
  outPath = join(dir, "bitllama.gguf");
  ckpt = decodeCheckpoint(new Uint8Array(readFileSync(MODEL)));
  const source = await openFileSource(MODEL);
  try {
    const { input } = await convertBitllama(source, readFileSync(TOKENIZER));
    await writeGgufFile(outPath, input);
  } finally {
    await source.close();
  }
  gguf = new Uint8Array(readFileSync(outPath));
  header = await readGgufHeader(bytesSource(gguf));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const tensor = (name: string) => {
  const t = header.tensors.find((x) => x.name === name);
  if (!t) throw new Error(`no tensor ${name}`);
  return t;
};
/** Bit-exact comparison (toEqual on large typed arrays is slow); reports the first difference. */
function expectSameF32(actual: Float32Array, expected: Float32Array, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const b = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  const i = a.findIndex((x, j) => x !== b[j]);
  expect(i < 0 ? "identical" : `${what}[${i}] = ${actual[i]}, expected ${expected[i]}`).toBe("identical");
}
const f32 = async (name: string) => {
  const t = tensor(name);
  const out = new Float32Array(t.dims.reduce((a, b) => a * b, 1));
  tensorTypeTraits(t.type).dequantize(await readTensorData(bytesSource(gguf), header, t), out);
  return out;
};

describe("convert-bitllama", () => {
  it("writes llama.cpp's bitnet architecture with the checkpoint's hyper-parameters", () => {
    const c = modelConfigFromGguf(header.metadata, header.tensors);
    expect(c).toMatchObject({
      architecture: "bitnet",
      dim: ckpt.dim,
      ffnDim: ckpt.hidden,
      layers: ckpt.layers,
      heads: ckpt.heads,
      kvHeads: ckpt.kvHeads,
      vocabSize: ckpt.vocab,
      contextLength: ckpt.seqLen,
      rmsEps: 0,
      outputNormEps: Math.fround(1e-5),
      ffnActivation: "silu",
      subNorms: true,
      tiedOutput: true,
      activationQuant: "int8-per-token",
      rope: { base: 10000, freqScale: 1, dims: ckpt.dim / ckpt.heads, layout: "neox" },
      bos: 1,
      eos: 2,
    });
    expect(header.tensors).toHaveLength(1 + 11 * ckpt.layers + 1);
    expect(header.tensors.some((t) => t.name === "output.weight")).toBe(false);
  });

  it("stores every ternary matrix as I2_S dequantizing to exactly s·t (Q/K rows in NEOX order)", async () => {
    const names: Record<string, string> = {
      wq: "attn_q",
      wk: "attn_k",
      wv: "attn_v",
      wo: "attn_output",
      w1: "ffn_gate",
      w2: "ffn_down",
      w3: "ffn_up",
    };
    const hd = ckpt.dim / ckpt.heads;
    for (const [kind, list] of ckpt.matrices) {
      for (const [layer, m] of list.entries()) {
        const name = `blk.${layer}.${names[kind]}.weight`;
        expect(tensor(name).type).toBe(GgmlType.I2_S);
        expect(tensor(name).dims).toEqual([m.cols, m.rows]);
        // NEOX: row i of a head holds the old row 2i, row i + hd/2 the old row 2i + 1.
        const source = (r: number) => {
          if (kind !== "wq" && kind !== "wk") return r;
          const j = r % hd;
          return r - j + (j < hd / 2 ? 2 * j : 2 * (j - hd / 2) + 1);
        };
        const expected = new Float32Array(m.rows * m.cols);
        for (let r = 0; r < m.rows; r++) {
          for (let c = 0; c < m.cols; c++) expected[r * m.cols + c] = m.scale * m.trits[source(r) * m.cols + c]!;
        }
        expectSameF32(await f32(name), expected, name);
      }
    }
  });

  it("expresses x / (rms(x)·n) as RMSNorm weights 1/n, and keeps the final norm and the embedding", async () => {
    for (let l = 0; l < ckpt.layers; l++) {
      for (const [norm, n] of [
        ["attn_norm", ckpt.dim],
        ["attn_sub_norm", ckpt.dim],
        ["ffn_norm", ckpt.dim],
        ["ffn_sub_norm", ckpt.hidden],
      ] as const) {
        expectSameF32(await f32(`blk.${l}.${norm}.weight`), new Float32Array(n).fill(1 / n), norm);
      }
    }
    expectSameF32(await f32("output_norm.weight"), ckpt.finalNorm, "output_norm");
    const embd = await readTensorData(bytesSource(gguf), header, tensor("token_embd.weight"));
    expect(Buffer.from(embd).equals(Buffer.from(ckpt.embedding))).toBe(true);
  });

  it("carries tok512.bin as a SentencePiece vocabulary identical to stories260K's", async () => {
    const raw = parseTok512(new Uint8Array(readFileSync(TOKENIZER)), ckpt.vocab);
    const tokens = header.metadata.get("tokenizer.ggml.tokens")!.value as { values: string[] };
    const scores = header.metadata.get("tokenizer.ggml.scores")!.value as { values: Float32Array };
    expect(tokens.values).toEqual(raw.map(([t], i) => (i === 1 ? "<s>" : i === 2 ? "</s>" : t.replaceAll(" ", "▁"))));
    expect(Array.from(scores.values)).toEqual(raw.map(([, s]) => s));
    // llama2.c's export spelled BOS/EOS with newlines around them; the GGUF has the SentencePiece names.
    expect(raw[1]![0]).toBe("\n<s>\n");

    const src = await openFileSource(STORIES);
    try {
      const stories = await readGgufHeader(src);
      for (const key of [
        "tokenizer.ggml.model",
        "tokenizer.ggml.tokens",
        "tokenizer.ggml.scores",
        "tokenizer.ggml.token_type",
        "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id",
        "tokenizer.ggml.unknown_token_id",
      ]) {
        expect(header.metadata.get(key), key).toEqual(stories.metadata.get(key));
      }
      const ours = tokenizerFromGguf(header.metadata);
      const theirs = tokenizerFromGguf(stories.metadata);
      for (const text of ["Once upon a time", "Lily saw a big, red ball.\nShe smiled!", "über 42 ☃"]) {
        expect(ours.encode(text)).toEqual(theirs.encode(text));
      }
      expect(ours.encode("Once upon a time")[0]).toBe(1);
    } finally {
      await src.close();
    }
  });

  it("means what the checkpoint means: greedy from BOS gives the reference story", async () => {
    const c = modelConfigFromGguf(header.metadata, header.tensors);
    const weights = await loadWeights(bytesSource(gguf), header);
    const tok = tokenizerFromGguf(header.metadata);
    const text = tok.decode(greedyTokens(c, weights, [1], 30));
    expect(text.startsWith("Once upon a time, there was a little girl named Lily. She loved to play with her toys"), text).toBe(true);
  }, 60_000);

  it("gives the logits of the checkpoint's own forward pass (adjacent-pair RoPE on the unpermuted weights)", async () => {
    const c = modelConfigFromGguf(header.metadata, header.tensors);
    const converted = await loadWeights(bytesSource(gguf), header);
    // The checkpoint as docs/ARCHITECTURE.md (section 3, the bitllama checkpoint) describes it, from the independent decode: x/(rms(x)·n) is the reference
    // forward's RMSNorm with weight 1/n and no epsilon; RoPE on (2i, 2i+1).
    const names: Record<string, string> = {
      wq: "attn_q",
      wk: "attn_k",
      wv: "attn_v",
      wo: "attn_output",
      w1: "ffn_gate",
      w2: "ffn_down",
      w3: "ffn_up",
    };
    const original = new Map<string, Float32Array>([
      ["token_embd.weight", new Float32Array(ckpt.embedding.slice().buffer)],
      ["output_norm.weight", ckpt.finalNorm],
    ]);
    for (const [kind, list] of ckpt.matrices) {
      list.forEach((m, l) =>
        original.set(
          `blk.${l}.${names[kind]}.weight`,
          Float32Array.from(m.trits, (t) => t * m.scale),
        ),
      );
    }
    for (let l = 0; l < ckpt.layers; l++) {
      for (const [norm, n] of [
        ["attn_norm", ckpt.dim],
        ["attn_sub_norm", ckpt.dim],
        ["ffn_norm", ckpt.dim],
        ["ffn_sub_norm", ckpt.hidden],
      ] as const) {
        original.set(`blk.${l}.${norm}.weight`, new Float32Array(n).fill(1 / n));
      }
    }
    const tokens = [1, 403, 407, 261, 378, 263, 288, 300, 450];
    const ours = referenceLogits(c, converted, tokens);
    const theirs = referenceLogits({ ...c, rope: { ...c.rope, layout: "adjacent" } }, original, tokens);
    for (const [pos, l] of ours.entries()) {
      let worst = 0;
      for (let t = 0; t < l.length; t++) worst = Math.max(worst, Math.abs(l[t]! - theirs[pos]![t]!));
      expect(worst, `position ${pos}: ${l.slice(0, 3)} vs ${theirs[pos]!.slice(0, 3)}`).toBeLessThan(1e-6);
    }
  }, 60_000);

  describe("rejects a broken checkpoint with a typed error and writes nothing", () => {
    const original = () => new Uint8Array(readFileSync(MODEL));
    const attempt = async (bytes: Uint8Array, tokenizer: Uint8Array = readFileSync(TOKENIZER)) => {
      const out = join(dir, "broken.gguf");
      let error: unknown;
      try {
        const { input } = await convertBitllama(bytesSource(bytes), tokenizer);
        await writeGgufFile(out, input);
      } catch (e) {
        error = e;
      }
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
      return error as ModelError;
    };

    it("truncated or padded file", async () => {
      const short = await attempt(original().subarray(0, 500_000));
      expect(short).toBeInstanceOf(ModelError);
      expect(short.code).toBe("SIZE_MISMATCH");
      expect(short.message).toMatch(/500000 bytes .* needs 558048/);
      const long = new Uint8Array(558_049);
      long.set(original());
      expect((await attempt(long)).code).toBe("SIZE_MISMATCH");
      expect((await attempt(original().subarray(0, 100))).code).toBe("TRUNCATED");
    });

    it("wrong magic, version or header field", async () => {
      const bad = original();
      bad[0]! ^= 0xff;
      expect((await attempt(bad)).code).toBe("BAD_MAGIC");
      const v2 = original();
      v2[4] = 2;
      expect((await attempt(v2)).code).toBe("UNSUPPORTED_VERSION");
      const heads = original();
      new DataView(heads.buffer).setInt32(20, 3, true); // n_heads 3 does not divide dim 128
      expect((await attempt(heads)).message).toMatch(/n_heads 3/);
    });

    it("the unused 2-bit code 10, or a non-finite scale, found while writing", async () => {
      const code = original();
      const firstWq = 256 + 128 * 4 + 512 * 128 * 4;
      code[firstWq + 4] = 0b1000_0000;
      const e = await attempt(code);
      expect(e.code).toBe("BAD_CODE");
      expect(e.message).toContain("wq[0]");
      const scale = original();
      new DataView(scale.buffer).setFloat32(firstWq, Number.NaN, true);
      expect((await attempt(scale)).code).toBe("BAD_VALUE");
    });

    it("a code buffer shorter than the weight count", () => {
      expect(Array.from(decodeBitllamaCodes(Uint8Array.of(0b0001_1100), 4))).toEqual([0, 1, -1, 0]);
      expect(() => decodeBitllamaCodes(Uint8Array.of(0b0001_1100), 5, "wq[0]")).toThrow(
        expect.objectContaining({ code: "TRUNCATED", message: expect.stringContaining("wq[0]") }),
      );
    });

    it("a tokenizer file for another vocabulary", async () => {
      const tok = readFileSync(TOKENIZER);
      expect((await attempt(original(), tok.subarray(0, 3000))).code).toBe("TRUNCATED");
      const longer = new Uint8Array(tok.length + 12);
      longer.set(tok);
      expect((await attempt(original(), longer)).code).toBe("SIZE_MISMATCH");
    });
  });
});

describe("ternion convert-bitllama (CLI)", () => {
  it("converts, and --json describes what it wrote", async () => {
    const out = join(dir, "cli.gguf");
    const r = runCli(["convert-bitllama", "--model", MODEL, "--tokenizer", TOKENIZER, "--out", out, "--json"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ out, architecture: "bitnet", header: { dim: 128, layers: 8, vocabSize: 512 } });
    expect(report.tensors).toHaveLength(header.tensors.length);
    // The CLI writes the same bytes as the API.
    expect(readFileSync(out).equals(Buffer.from(gguf))).toBe(true);

    const text = runCli(["convert-bitllama", "--model", MODEL, "--tokenizer", TOKENIZER, "--out", out]);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/wrote .*cli\.gguf: bitnet, 8 layers, dim 128/);
  });

  it("--help, and one clear line with exit 2 for a bad flag, a missing flag or a missing file", () => {
    const help = runCli(["convert-bitllama", "--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("--tokenizer");

    for (const [args, message] of [
      [["--model", MODEL, "--tokenizer", TOKENIZER, "--out", join(dir, "x.gguf"), "--bogus"], "unknown flag --bogus"],
      [["--model", MODEL, "--out", join(dir, "x.gguf")], "--tokenizer <path> is required"],
      [["--model", "/nonexistent/m.bin", "--tokenizer", TOKENIZER, "--out", join(dir, "x.gguf")], "/nonexistent/m.bin"],
      [["--model", STORIES, "--tokenizer", TOKENIZER, "--out", join(dir, "x.gguf")], "BAD_MAGIC"],
    ] as [string[], string][]) {
      const r = runCli(["convert-bitllama", ...args]);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain(message);
    }
    expect(existsSync(join(dir, "x.gguf"))).toBe(false);
  });
});
