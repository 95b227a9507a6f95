// quantize: absmean ternarization of a float model's linear weights into TQ2_0 / TQ1_0 / I2_S, with the
// grouped ternary (DLT) layout for rows the type cannot hold. The expected values are computed here from the
// rule itself.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Llama } from "node-llama-cpp";
import { planQuantize, type QuantizeType } from "../src/runtime/convert/quantize.ts";
import { readGgufHeader, readTensorData } from "../src/runtime/gguf/reader.ts";
import type { ByteSource } from "../src/runtime/gguf/source.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { bytesSource } from "../src/runtime/gguf/sources.ts";
import { writeGgufFile } from "../src/runtime/gguf/writer-node.ts";
import { type GgufHeader, type GgufValue, GgufValueType as T } from "../src/runtime/gguf/types.ts";
import { modelConfigFromGguf } from "../src/runtime/model/config.ts";
import { dltMatrixInfo, readDltMatrix } from "../src/runtime/model/dlt-file.ts";
import { f16BitsToF32 } from "../src/runtime/tensor-types/half.ts";
import { GgmlType, tensorTypeTraits } from "../src/runtime/tensor-types/table.ts";
import { runCli } from "./helpers/cli.ts";
import { cpuLlama, lacks } from "./helpers/optional-deps.ts";
import { sharedPath } from "./helpers/shared.ts";
import { rng } from "./helpers/random.ts";

const STORIES = sharedPath("models/stories260K.gguf");
const TYPES: [QuantizeType, GgmlType, number][] = [
  ["tq2_0", GgmlType.TQ2_0, 37],
  ["tq1_0", GgmlType.TQ1_0, 36],
  ["i2_s", GgmlType.I2_S, 40],
];

let dir: string;
let llama: Llama;
let synthetic: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ternion-quantize-"));
  synthetic = join(dir, "synthetic-f32.gguf");
  await writeSyntheticLlama(synthetic);
  // One llama.cpp instance for the whole file: loading the native addon takes ~20 s.
  if (!lacks("node-llama-cpp")) llama = await cpuLlama("error");
}, 180_000);

afterAll(async () => {
  await llama?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ---- The rule, written out here: γ = mean|W|, T = round(clip(W/γ, −1, 1)) (half to even), W' = T·γ. ----

function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  return d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
}

function absmean(w: Float32Array): { gamma: number; t: Int8Array } {
  let sum = 0;
  for (const v of w) sum += Math.abs(v);
  // The 1e-5 floor (BitNet's clamp) only matters for an all-zero tensor; γ is stored as an f32.
  const gamma = Math.fround(Math.max(sum / w.length, 1e-5));
  return { gamma, t: Int8Array.from(w, (v) => roundHalfEven(Math.min(1, Math.max(-1, v / gamma)))) };
}

/**
 * Checks a dequantized tensor against the rule: zero where T = 0, else sign T and one common magnitude that
 * is γ exactly (I2_S, f32 scale) or γ rounded to f16 (TQ types: 11 significant bits).
 */
function expectTernarized(actual: Float32Array, source: Float32Array, exact: boolean, name: string): void {
  const { gamma, t } = absmean(source);
  let magnitude: number | undefined;
  for (let i = 0; i < actual.length; i++) {
    const v = actual[i]!;
    if (t[i] === 0) {
      if (v !== 0) throw new Error(`${name}[${i}] = ${v}, expected 0 (w = ${source[i]}, γ = ${gamma})`);
      continue;
    }
    if (Math.sign(v) !== t[i]!) throw new Error(`${name}[${i}] = ${v}, expected sign ${t[i]!} (w = ${source[i]!}, γ = ${gamma})`);
    magnitude ??= Math.abs(v);
    if (Math.abs(v) !== magnitude) throw new Error(`${name}[${i}]: magnitude ${Math.abs(v)} differs from ${magnitude}`);
  }
  if (magnitude === undefined) return;
  if (exact) expect(magnitude, name).toBe(gamma);
  else expect(Math.abs(magnitude - gamma) / gamma, name).toBeLessThanOrEqual(2 ** -11);
}

async function tensorF32(source: ByteSource, header: GgufHeader, name: string): Promise<Float32Array> {
  const info = header.tensors.find((t) => t.name === name)!;
  const out = new Float32Array(info.dims.reduce((a, b) => a * b, 1));
  tensorTypeTraits(info.type).dequantize(await readTensorData(source, header, info), out);
  return out;
}

async function readHeader(path: string): Promise<{ bytes: Uint8Array; source: ByteSource; header: GgufHeader }> {
  const bytes = new Uint8Array(readFileSync(path));
  const source = bytesSource(bytes);
  return { bytes, source, header: await readGgufHeader(source) };
}

async function quantizeFile(input: string, output: string, type: QuantizeType, includeOutput = false) {
  const source = await openFileSource(input);
  try {
    const header = await readGgufHeader(source);
    const plan = planQuantize(source, header, { type, includeOutput });
    await writeGgufFile(output, plan.input);
    return plan;
  } finally {
    await source.close();
  }
}

/**
 * A grouped ternary matrix [cols, rows] read back as the runtime reads it, checked group by group against the
 * absmean rule: each group of GROUP values along a row is its own tensor with γ = mean|W|, and the shift is 0.
 */
const GROUP = 64;
async function expectGroupedTernarized(file: { source: ByteSource; header: GgufHeader }, source: Float32Array, name: string, dims: number[]) {
  const [cols, rows] = dims as [number, number];
  const byName = new Map(file.header.tensors.map((t) => [t.name, t]));
  const info = dltMatrixInfo(file.header, byName, byName.get(name)!, cols);
  expect(info, `${name} is a DLT matrix`).toMatchObject({ group: GROUP, rows, cols });
  const m = await readDltMatrix(file.source, file.header, info!);
  const G = Math.ceil(cols / GROUP);
  expect(
    m.gamma.every((g) => g === 0),
    `${name}: γ = 0`,
  ).toBe(true);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < G; g++) {
      const from = g * GROUP;
      const to = Math.min(cols, from + GROUP);
      const part = `${name} row ${r} group ${g}`;
      const alpha = f16BitsToF32(m.alpha[r * G + g]!);
      // T2 rows: 2-bit codes 0/1/2 for −1/0/+1 in chunks of 128 values (32 bytes), value e of a chunk at
      // byte e mod 32, bits 2·floor(e/32).
      const rowBytes = Math.ceil(cols / 128) * 32;
      const actual = Float32Array.from({ length: to - from }, (_, i) => {
        const e = from + i;
        const code = (m.codes[r * rowBytes + 32 * (e >> 7) + (e & 31)]! >> (2 * ((e & 127) >> 5))) & 3;
        return (code - 1) * alpha;
      });
      expectTernarized(actual, source.subarray(r * cols + from, r * cols + to), false, part);
    }
  }
}

/** Compares a quantized file with its source tensor by tensor. */
async function checkQuantized(
  inPath: string,
  outPath: string,
  type: GgmlType,
  fileType: number,
  ternarize: (name: string, dims: number[]) => boolean,
) {
  const a = await readHeader(inPath);
  const b = await readHeader(outPath);
  expect(b.header.metadata.get("general.file_type")).toEqual({ type: T.UINT32, value: fileType });
  const blockSize = tensorTypeTraits(type).blockSize;
  const byName = new Map(b.header.tensors.map((t) => [t.name, t]));
  const expectedNames: string[] = [];
  for (const info of a.header.tensors) {
    const out = byName.get(info.name)!;
    expectedNames.push(info.name);
    if (!ternarize(info.name, info.dims)) {
      expect([out.type, out.dims], info.name).toEqual([info.type, info.dims]);
      const same = Buffer.from(await readTensorData(a.source, a.header, info)).equals(Buffer.from(await readTensorData(b.source, b.header, out)));
      expect(same, `${info.name} bytes unchanged`).toBe(true);
      continue;
    }
    const source = await tensorF32(a.source, a.header, info.name);
    if (info.dims[0]! % blockSize === 0) {
      expect([out.type, out.dims], info.name).toEqual([type, info.dims]);
      expectTernarized(await tensorF32(b.source, b.header, out.name), source, type === GgmlType.I2_S, info.name);
      continue;
    }
    const base = info.name.slice(0, -".weight".length);
    expectedNames.push(`${base}.dlt_alpha`, `${base}.dlt_gamma`);
    await expectGroupedTernarized(b, source, info.name, info.dims);
  }
  expect(b.header.tensors.map((t) => t.name)).toEqual(expectedNames);
  return b.header;
}

const isBlockMatrix = (name: string, dims: number[]) => name.startsWith("blk.") && dims.length === 2;

// ---- A float llama model with rows of 256 and 512, so that every linear weight fits every type. ----

async function writeSyntheticLlama(path: string): Promise<void> {
  const [dim, ffn, layers, heads, kvHeads, vocab] = [256, 512, 2, 4, 2, 512];
  const src = await openFileSource(STORIES);
  let tokenizer: [string, GgufValue][];
  try {
    tokenizer = [...(await readGgufHeader(src)).metadata].filter(([k]) => k.startsWith("tokenizer."));
  } finally {
    await src.close();
  }
  const u32 = (value: number): GgufValue => ({ type: T.UINT32, value });
  const metadata = new Map<string, GgufValue>([
    ["general.architecture", { type: T.STRING, value: "llama" }],
    ["general.name", { type: T.STRING, value: "synthetic" }],
    ["general.file_type", u32(0)],
    ["llama.context_length", u32(256)],
    ["llama.embedding_length", u32(dim)],
    ["llama.feed_forward_length", u32(ffn)],
    ["llama.block_count", u32(layers)],
    ["llama.attention.head_count", u32(heads)],
    ["llama.attention.head_count_kv", u32(kvHeads)],
    ["llama.rope.dimension_count", u32(dim / heads)],
    ["llama.attention.layer_norm_rms_epsilon", { type: T.FLOAT32, value: 1e-5 }],
    ...tokenizer,
  ]);
  const rand = rng(2024);
  // Roughly Gaussian weights (sum of uniforms), with a few outliers as real models have.
  const weights = (n: number, scale: number) =>
    Float32Array.from({ length: n }, () => {
      const g = (rand() + rand() + rand() + rand() - 2) * scale;
      return rand() < 0.001 ? g * 20 : g;
    });
  const f32 = (name: string, dims: number[], values: Float32Array) => ({
    name,
    dims,
    type: GgmlType.F32,
    data: new Uint8Array(values.buffer),
  });
  const kv = (dim / heads) * kvHeads;
  const tensors = [f32("token_embd.weight", [dim, vocab], weights(dim * vocab, 1))];
  for (let l = 0; l < layers; l++) {
    const p = `blk.${l}.`;
    tensors.push(
      f32(p + "attn_norm.weight", [dim], new Float32Array(dim).fill(1)),
      f32(p + "attn_q.weight", [dim, dim], weights(dim * dim, 0.05)),
      f32(p + "attn_k.weight", [dim, kv], weights(dim * kv, 0.05)),
      f32(p + "attn_v.weight", [dim, kv], weights(dim * kv, 0.05)),
      f32(p + "attn_output.weight", [dim, dim], weights(dim * dim, 0.05)),
      f32(p + "ffn_norm.weight", [dim], new Float32Array(dim).fill(1)),
      f32(p + "ffn_gate.weight", [dim, ffn], weights(dim * ffn, 0.05)),
      f32(p + "ffn_up.weight", [dim, ffn], weights(dim * ffn, 0.05)),
      f32(p + "ffn_down.weight", [ffn, dim], weights(ffn * dim, 0.05)),
    );
  }
  tensors.push(f32("output_norm.weight", [dim], new Float32Array(dim).fill(1)), f32("output.weight", [dim, vocab], weights(dim * vocab, 0.05)));
  await writeGgufFile(path, { metadata, tensors });
}

describe("quantize", () => {
  it.each(TYPES)(
    "stories260K → %s: every linear weight ternarized, all in the grouped ternary layout (rows of 64 and 172)",
    async (name, type, fileType) => {
      const out = join(dir, `stories-${name}.gguf`);
      const plan = await quantizeFile(STORIES, out, name);
      expect(plan.tensors).toHaveLength(48);
      expect(plan.tensors.filter((t) => t.ternarized)).toHaveLength(5 * 7);
      expect(plan.grouped).toHaveLength(5 * 7);
      for (const f of plan.grouped) expect(f.grouped).toMatch(/row length (64|172) is not a multiple of (256|128)/);
      const header = await checkQuantized(STORIES, out, type, fileType, isBlockMatrix);
      expect(header.metadata.get("ternion.dlt.group_size")).toEqual({ type: T.UINT32, value: GROUP });
      // Still a valid llama model for our loader.
      expect(modelConfigFromGguf(header.metadata, header.tensors).layers).toBe(5);
    },
  );

  it.each(TYPES)(
    "synthetic llama (rows of 256/512) → %s: every linear weight in the ternary type, values by the absmean rule",
    async (name, type, fileType) => {
      const out = join(dir, `synthetic-${name}.gguf`);
      const plan = await quantizeFile(synthetic, out, name);
      expect(plan.grouped).toEqual([]);
      expect(plan.tensors.filter((t) => t.ternarized)).toHaveLength(2 * 7);
      await checkQuantized(synthetic, out, type, fileType, isBlockMatrix);
    },
  );

  it("ternarizes output.weight only when asked", async () => {
    const out = join(dir, "synthetic-output.gguf");
    const plan = await quantizeFile(synthetic, out, "tq2_0", true);
    expect(plan.tensors.find((t) => t.name === "output.weight")).toMatchObject({ ternarized: true, type: "TQ2_0" });
    expect(plan.tensors.find((t) => t.name === "token_embd.weight")).toMatchObject({ ternarized: false, type: "F32" });
    await checkQuantized(synthetic, out, GgmlType.TQ2_0, 37, (n, dims) => isBlockMatrix(n, dims) || n === "output.weight");
  });

  it("plans from the header alone and reads each tensor only when the writer asks for it", async () => {
    const bytes = new Uint8Array(readFileSync(synthetic));
    const reads: number[] = [];
    const inner = bytesSource(bytes);
    const counting: ByteSource = { size: inner.size, read: (offset, length) => (reads.push(length), inner.read(offset, length)) };
    const header = await readGgufHeader(counting);
    reads.length = 0;
    const plan = planQuantize(counting, header, { type: "i2_s" });
    expect(reads).toEqual([]);
    expect(plan.input.tensors.every((t) => typeof t.data === "function")).toBe(true);
    const first = plan.input.tensors.find((t) => t.name === "blk.0.attn_q.weight")!;
    await (first.data as () => Promise<Uint8Array>)();
    expect(reads).toEqual([256 * 256 * 4]); // that one tensor, nothing else
  });

  it.skipIf(lacks("node-llama-cpp")).each([
    ["tq2_0", "TQ2_0"],
    ["tq1_0", "TQ1_0"],
  ])(
    "llama.cpp loads the synthetic model quantized to %s and completes greedily",
    async (name) => {
      const path = join(dir, `synthetic-${name}.gguf`);
      await quantizeFile(synthetic, path, name as QuantizeType);
      const { LlamaCompletion } = await import("node-llama-cpp");
      const model = await llama.loadModel({ modelPath: path });
      try {
        const context = await model.createContext({ contextSize: 128 });
        try {
          const completion = new LlamaCompletion({ contextSequence: context.getSequence() });
          const text = await completion.generateCompletion("Once upon a time", { maxTokens: 8, temperature: 0 });
          expect(typeof text).toBe("string");
        } finally {
          await context.dispose();
        }
      } finally {
        await model.dispose();
      }
    },
    120_000,
  );
});

describe("ternion quantize (CLI)", () => {
  it("says in one stderr line which tensors went to the grouped ternary layout, and lists them in --json", () => {
    const out = join(dir, "cli-tq2.gguf");
    const r = runCli(["quantize", "--model", STORIES, "--out", out, "--type", "tq2_0", "--json"]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(
      "ternion quantize: 35 tensors with rows of 64, 172 (not a multiple of 256, which TQ2_0 needs) stored as DLT, " +
        "ternion's grouped ternary layout (absmean per group of 64): ternion runs the file, llama.cpp does not\n",
    );
    const report = JSON.parse(r.stdout);
    expect(report.tensors).toHaveLength(48);
    expect(report.grouped).toHaveLength(35);
    expect(report.grouped[0]).toMatchObject({ name: "blk.0.attn_q.weight", type: "DLT", reason: "row length 64 is not a multiple of 256 (TQ2_0)" });
    expect(report.tensorBytes.out).toBeLessThan(report.tensorBytes.in / 2);

    const text = runCli(["quantize", "--model", synthetic, "--out", join(dir, "cli-i2s.gguf"), "--type", "I2_S"]);
    expect(text.stderr).toBe("");
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/14 of 21 tensors ternarized \(14 as I2_S, 0 as DLT\)/);
  });

  it("refuses a model that is already grouped ternary, in one line with exit 2", () => {
    const once = join(dir, "cli-once.gguf");
    expect(runCli(["quantize", "--model", STORIES, "--out", once, "--type", "tq1_0"]).status).toBe(0);
    const r = runCli(["quantize", "--model", once, "--out", join(dir, "cli-twice.gguf"), "--type", "tq1_0"]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("quantize the float model it came from");
  });

  /** Quantizes stories260K and scores `text` on `backend`: the model loads there and its perplexity is finite. */
  function quantizedPerplexity(backend: "wasm" | "webgpu", text: string, ctx = 512): number {
    const out = join(dir, `ppl-${backend}.gguf`);
    expect(runCli(["quantize", "--model", STORIES, "--out", out, "--type", "tq2_0"]).status).toBe(0);
    const r = runCli(["ppl", "--model", out, "--text", text, "--ctx", String(ctx), "--backend", backend, "--threads", "1", "--json"]);
    expect(r.status, r.stderr).toBe(0);
    const { ppl, scored } = JSON.parse(r.stdout);
    console.log(`quantized stories260K (TQ2_0 target, all grouped ternary) on ${backend}: ppl ${ppl.toFixed(2)} over ${scored} tokens`);
    expect(scored).toBeGreaterThan(0);
    expect(Number.isFinite(ppl)).toBe(true);
    return ppl;
  }

  it("the quantized stories260K runs on the wasm backend, with a perplexity between the float model's and the per-tensor rule's", () => {
    // On this text (765 tokens scored) the float model scores 8.44 and the per-tensor absmean rule, one scale
    // per tensor (what quantize wrote before the grouped layout, as F16), 2300.
    const ppl = quantizedPerplexity("wasm", sharedPath("corpus/tinystories_sample.txt"));
    expect(ppl).toBeGreaterThan(8.44);
    expect(ppl).toBeLessThan(2300 * 0.6);
  });

  it.skipIf(lacks("webgpu"))(
    "the quantized stories260K runs on the WebGPU backend (SwiftShader here) with the wasm backend's perplexity",
    () => {
      // SwiftShader runs at a few tokens/s: a short text in short windows.
      const text = join(dir, "short.txt");
      writeFileSync(text, readFileSync(sharedPath("corpus/tinystories_sample.txt"), "utf8").slice(0, 300));
      const gpu = quantizedPerplexity("webgpu", text, 64);
      expect(Math.abs(gpu - quantizedPerplexity("wasm", text, 64)) / gpu).toBeLessThan(0.02);
    },
    180_000,
  );

  it("--help, and one clear line with exit 2 for a bad type, a missing flag, the same in/out path or a missing file", () => {
    const help = runCli(["quantize", "--help"]);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain("--include-output");
    for (const [args, message] of [
      [["--model", STORIES, "--out", join(dir, "x.gguf"), "--type", "q4_0"], "--type q4_0 must be one of tq2_0, tq1_0, i2_s"],
      [["--model", STORIES, "--out", join(dir, "x.gguf")], "--type <value> is required"],
      [["--model", STORIES, "--out", STORIES, "--type", "tq2_0"], "--out must differ from --model"],
      [["--model", "/nonexistent.gguf", "--out", join(dir, "x.gguf"), "--type", "tq2_0"], "/nonexistent.gguf"],
      [["--model", STORIES, "--out", join(dir, "x.gguf"), "--type", "tq2_0", "--frobnicate"], "unknown flag --frobnicate"],
    ] as [string[], string][]) {
      const r = runCli(["quantize", ...args]);
      expect(r.status, args.join(" ")).toBe(2);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain(message);
    }
  });
});
