import { beforeAll, describe, expect, it } from "vitest";
import { GgufError, ModelError } from "../src/runtime/errors.ts";
import { readGgufHeader } from "../src/runtime/gguf/reader.ts";
import { openFileSource } from "../src/runtime/gguf/source-node.ts";
import { type GgufHeader, type GgufValue, GgufValueType as T } from "../src/runtime/gguf/types.ts";
import { modelConfigFromGguf, type TensorShape } from "../src/runtime/model/config.ts";
import { FFN_ACTIVATION_KEY, OUTPUT_NORM_EPS_KEY } from "../src/runtime/model/keys.ts";
import { expectedTensors, layerTensors } from "../src/runtime/model/tensors.ts";
import { GgmlType } from "../src/runtime/tensor-types/table.ts";
import { sharedPath } from "./helpers/shared.ts";

let stories: GgufHeader;

beforeAll(async () => {
  const source = await openFileSource(sharedPath("models/stories260K.gguf"));
  try {
    stories = await readGgufHeader(source);
  } finally {
    await source.close();
  }
});

const num = (meta: ReadonlyMap<string, GgufValue>, key: string) => Number(meta.get(key)!.value);

/** stories260K's metadata with some keys replaced (undefined deletes). */
function withMeta(changes: Record<string, GgufValue | undefined>): Map<string, GgufValue> {
  const meta = new Map(stories.metadata);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined) meta.delete(k);
    else meta.set(k, v);
  }
  return meta;
}

/** A BitNet-style tensor list for the given sizes (what a bitnet file holds). */
function bitnetTensors(dim: number, ffn: number, layers: number, heads: number, kvHeads: number, vocab: number): TensorShape[] {
  const hd = dim / heads;
  const list: TensorShape[] = [{ name: "token_embd.weight", dims: [dim, vocab], type: GgmlType.F16 }];
  for (let l = 0; l < layers; l++) {
    const p = `blk.${l}.`;
    list.push(
      { name: p + "attn_norm.weight", dims: [dim], type: GgmlType.F32 },
      { name: p + "attn_q.weight", dims: [dim, heads * hd], type: GgmlType.I2_S },
      { name: p + "attn_k.weight", dims: [dim, kvHeads * hd], type: GgmlType.I2_S },
      { name: p + "attn_v.weight", dims: [dim, kvHeads * hd], type: GgmlType.I2_S },
      { name: p + "attn_sub_norm.weight", dims: [dim], type: GgmlType.F32 },
      { name: p + "attn_output.weight", dims: [dim, dim], type: GgmlType.I2_S },
      { name: p + "ffn_norm.weight", dims: [dim], type: GgmlType.F32 },
      { name: p + "ffn_gate.weight", dims: [dim, ffn], type: GgmlType.I2_S },
      { name: p + "ffn_up.weight", dims: [dim, ffn], type: GgmlType.I2_S },
      { name: p + "ffn_sub_norm.weight", dims: [ffn], type: GgmlType.F32 },
      { name: p + "ffn_down.weight", dims: [ffn, dim], type: GgmlType.I2_S },
    );
  }
  list.push({ name: "output_norm.weight", dims: [dim], type: GgmlType.F32 });
  return list;
}

function bitnetMeta(arch: string, extra: Record<string, GgufValue> = {}): Map<string, GgufValue> {
  const u32 = (value: number): GgufValue => ({ type: T.UINT32, value });
  return new Map<string, GgufValue>([
    ["general.architecture", { type: T.STRING, value: arch }],
    [`${arch}.context_length`, u32(4096)],
    [`${arch}.embedding_length`, u32(2560)],
    [`${arch}.feed_forward_length`, u32(6912)],
    [`${arch}.block_count`, u32(2)],
    [`${arch}.attention.head_count`, u32(20)],
    [`${arch}.attention.head_count_kv`, u32(5)],
    [`${arch}.rope.freq_base`, { type: T.FLOAT32, value: 500000 }],
    [`${arch}.attention.layer_norm_rms_epsilon`, { type: T.FLOAT32, value: 1e-5 }],
    [`${arch}.vocab_size`, u32(128256)],
    ...Object.entries(extra),
  ]);
}

describe("modelConfigFromGguf", () => {
  it("reads stories260K (llama) as its metadata says", () => {
    const m = stories.metadata;
    const c = modelConfigFromGguf(m, stories.tensors);
    expect(c).toMatchObject({
      architecture: "llama",
      vocabSize: (m.get("tokenizer.ggml.tokens")!.value as { values: string[] }).values.length,
      dim: num(m, "llama.embedding_length"),
      layers: num(m, "llama.block_count"),
      heads: num(m, "llama.attention.head_count"),
      kvHeads: num(m, "llama.attention.head_count_kv"),
      headDim: num(m, "llama.embedding_length") / num(m, "llama.attention.head_count"),
      ffnDim: num(m, "llama.feed_forward_length"),
      contextLength: num(m, "llama.context_length"),
      rmsEps: num(m, "llama.attention.layer_norm_rms_epsilon"),
      outputNormEps: num(m, "llama.attention.layer_norm_rms_epsilon"),
      rope: { base: 10000, freqScale: 1, dims: num(m, "llama.rope.dimension_count"), layout: "adjacent" },
      ffnActivation: "silu",
      subNorms: false,
      tiedOutput: false, // stories260K has its own output.weight
      activationQuant: "none",
      bos: 1,
      eos: 2,
    });
  });

  it("expects exactly the tensors stories260K holds, with their shapes", () => {
    const c = modelConfigFromGguf(stories.metadata, stories.tensors);
    const expected = expectedTensors(c)
      .map((t) => `${t.name} ${t.dims.join("x")}`)
      .sort();
    const actual = stories.tensors.map((t) => `${t.name} ${t.dims.join("x")}`).sort();
    expect(expected).toEqual(actual);
    expect(layerTensors(c, 3).map((t) => t.name)).toContain("blk.3.ffn_down.weight");
  });

  it("reads the bitnet family with their defaults: sub-norms, tied output, int8 activations", () => {
    for (const [arch, activation, layout] of [
      ["bitnet", "silu", "neox"],
      ["bitnet-b1.58", "relu2", "neox"],
      ["bitnet-25", "relu2", "neox"],
    ] as const) {
      const c = modelConfigFromGguf(bitnetMeta(arch), bitnetTensors(2560, 6912, 2, 20, 5, 128256));
      expect(c).toMatchObject({
        architecture: arch,
        dim: 2560,
        heads: 20,
        kvHeads: 5,
        headDim: 128,
        ffnDim: 6912,
        vocabSize: 128256,
        subNorms: true,
        tiedOutput: true,
        activationQuant: "int8-per-token",
        ffnActivation: activation,
        rope: { base: 500000, dims: 128, layout },
      });
    }
  });

  it("honours ternion's keys for the gate activation and the final norm's epsilon", () => {
    const meta = bitnetMeta("bitnet-b1.58", {
      [FFN_ACTIVATION_KEY]: { type: T.STRING, value: "silu" },
      [OUTPUT_NORM_EPS_KEY]: { type: T.FLOAT32, value: 1e-6 },
    });
    const c = modelConfigFromGguf(meta, bitnetTensors(2560, 6912, 2, 20, 5, 128256));
    expect(c.ffnActivation).toBe("silu");
    expect(c.outputNormEps).toBe(1e-6);
    expect(c.rmsEps).toBe(1e-5);
    const bad = bitnetMeta("bitnet", { [FFN_ACTIVATION_KEY]: { type: T.STRING, value: "gelu" } });
    expect(() => modelConfigFromGguf(bad, bitnetTensors(2560, 6912, 2, 20, 5, 128256))).toThrow(FFN_ACTIVATION_KEY);
  });

  it("reads linear RoPE scaling as llama.cpp: freq scale = 1 / factor", () => {
    const c = modelConfigFromGguf(withMeta({ "llama.rope.scaling.factor": { type: T.FLOAT32, value: 4 } }), stories.tensors);
    expect(c.rope.freqScale).toBe(0.25);
    expect(() => modelConfigFromGguf(withMeta({ "llama.rope.scaling.type": { type: T.STRING, value: "yarn" } }), stories.tensors)).toThrow(
      /rope\.scaling\.type/,
    );
  });

  it.each([
    ["llama.block_count", undefined, "MISSING_KEY"],
    ["llama.embedding_length", undefined, "MISSING_KEY"],
    ["llama.attention.layer_norm_rms_epsilon", undefined, "MISSING_KEY"],
    ["llama.attention.head_count_kv", { type: T.UINT32, value: 3 }, "INCONSISTENT_METADATA"],
    ["llama.attention.head_count", { type: T.UINT32, value: 0 }, "BAD_VALUE"],
    ["llama.rope.dimension_count", { type: T.UINT32, value: 9 }, "INCONSISTENT_METADATA"],
    ["llama.vocab_size", { type: T.UINT32, value: 500 }, "INCONSISTENT_METADATA"],
    ["tokenizer.ggml.bos_token_id", { type: T.UINT32, value: 512 }, "BAD_VALUE"],
    ["general.architecture", { type: T.STRING, value: "gpt2" }, "UNSUPPORTED_ARCHITECTURE"],
  ] as [string, GgufValue | undefined, string][])("%s = %o → ModelError %s naming the key", (key, value, code) => {
    const meta = withMeta({ [key]: value });
    let err: unknown;
    try {
      modelConfigFromGguf(meta, stories.tensors);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ModelError);
    expect((err as ModelError).code).toBe(code);
    expect((err as Error).message).toContain(key);
  });

  it("a value of the wrong type is a GgufError naming the key", () => {
    const meta = withMeta({ "llama.block_count": { type: T.STRING, value: "five" } });
    expect(() => modelConfigFromGguf(meta, stories.tensors)).toThrow(GgufError);
    expect(() => modelConfigFromGguf(meta, stories.tensors)).toThrow("llama.block_count");
  });

  it("a missing tensor, a wrong shape or a quantized norm is a ModelError naming the tensor", () => {
    const without = stories.tensors.filter((t) => t.name !== "blk.2.ffn_up.weight");
    expect(() => modelConfigFromGguf(stories.metadata, without)).toThrow(/blk\.2\.ffn_up\.weight.*missing/);

    const reshaped = stories.tensors.map((t) => (t.name === "blk.1.attn_k.weight" ? { ...t, dims: [64, 64] } : t));
    expect(() => modelConfigFromGguf(stories.metadata, reshaped)).toThrow(/blk\.1\.attn_k\.weight has shape \[64, 64\], expected \[64, 32\]/);

    const quantNorm = stories.tensors.map((t) => (t.name === "output_norm.weight" ? { ...t, type: GgmlType.Q8_0 } : t));
    expect(() => modelConfigFromGguf(stories.metadata, quantNorm)).toThrow(/output_norm\.weight is Q8_0/);

    // A bitnet file without its sub-norms is not a bitnet file.
    const noSub = bitnetTensors(2560, 6912, 2, 20, 5, 128256).filter((t) => t.name !== "blk.1.ffn_sub_norm.weight");
    expect(() => modelConfigFromGguf(bitnetMeta("bitnet-25"), noSub)).toThrow(/blk\.1\.ffn_sub_norm\.weight/);
  });
});

describe("structure numbers against the file", () => {
  it("a block_count beyond the file's blocks is refused before the expected-tensor list is built", () => {
    for (const layers of [6, 1e6, 2147483647, 4294967295]) {
      const meta = withMeta({ "llama.block_count": { type: T.UINT32, value: layers } });
      const started = performance.now();
      expect(() => modelConfigFromGguf(meta, stories.tensors)).toThrow(
        expect.objectContaining({ code: "STRUCTURE_EXCEEDS_FILE", message: expect.stringContaining(`block_count ${layers} exceeds the 5 blocks`) }),
      );
      expect(performance.now() - started).toBeLessThan(100);
    }
  });
});
