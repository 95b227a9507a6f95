// The one block structure (src/runtime/model/block.ts) the CPU engine, the GPU model and training build their
// blocks from: its tensor listing against llama.cpp's names and shapes, and the walk that fills each role.
import { describe, expect, it } from "vitest";
import { type BlockShape, type BlockTensor, blockMatrices, blockNorms, layerTensors, readBlock, readBlockAsync } from "../src/runtime/model/block.ts";

// dim 64, 4 heads of 16 over 2 KV heads, FFN 96: every dimension distinct, so a swapped one shows.
const llama: BlockShape = { dim: 64, heads: 4, kvHeads: 2, headDim: 16, ffnDim: 96, subNorms: false };
const bitnet: BlockShape = { ...llama, subNorms: true };

describe("layerTensors", () => {
  it("lists llama.cpp's block tensors in its converters' order, dims [in, out]", () => {
    expect(layerTensors(llama, 2).map((t) => `${t.name} ${t.role} ${t.dims.join("x")}`)).toEqual([
      "blk.2.attn_norm.weight norm 64",
      "blk.2.attn_q.weight matrix 64x64",
      "blk.2.attn_k.weight matrix 64x32",
      "blk.2.attn_v.weight matrix 64x32",
      "blk.2.attn_output.weight matrix 64x64",
      "blk.2.ffn_norm.weight norm 64",
      "blk.2.ffn_gate.weight matrix 64x96",
      "blk.2.ffn_up.weight matrix 64x96",
      "blk.2.ffn_down.weight matrix 96x64",
    ]);
  });

  it("adds the bitnet sub-norms before attn_output and ffn_down", () => {
    const names = layerTensors(bitnet, 0).map((t) => `${t.name} ${t.dims.join("x")}`);
    expect(names.slice(4, 6)).toEqual(["blk.0.attn_sub_norm.weight 64", "blk.0.attn_output.weight 64x64"]);
    expect(names.slice(9)).toEqual(["blk.0.ffn_sub_norm.weight 96", "blk.0.ffn_down.weight 96x64"]);
    // q is wider than the residual stream when heads·headDim ≠ dim: the sub-norm follows q, not dim.
    const wide = layerTensors({ ...bitnet, heads: 8 }, 0);
    expect(wide.find((t) => t.block === "attnSubNorm")!.dims).toEqual([128]);
    expect(wide.find((t) => t.block === "o")!.dims).toEqual([128, 64]);
  });
});

describe("readBlock", () => {
  const read = { norm: (t: BlockTensor) => `norm ${t.name}`, matrix: (t: BlockTensor) => `matrix ${t.name}` };

  it("fills every role with its own tensor, of its kind", () => {
    expect(readBlock(bitnet, 1, read)).toEqual({
      attnNorm: "norm blk.1.attn_norm.weight",
      q: "matrix blk.1.attn_q.weight",
      k: "matrix blk.1.attn_k.weight",
      v: "matrix blk.1.attn_v.weight",
      attnSubNorm: "norm blk.1.attn_sub_norm.weight",
      o: "matrix blk.1.attn_output.weight",
      ffnNorm: "norm blk.1.ffn_norm.weight",
      gate: "matrix blk.1.ffn_gate.weight",
      up: "matrix blk.1.ffn_up.weight",
      ffnSubNorm: "norm blk.1.ffn_sub_norm.weight",
      down: "matrix blk.1.ffn_down.weight",
    });
  });

  it("leaves the sub-norms null where the architecture has none, and never reads them", () => {
    const names: string[] = [];
    const b = readBlock(llama, 0, { norm: (t) => (names.push(t.name), t.name), matrix: (t) => (names.push(t.name), t.name) });
    expect(b.attnSubNorm).toBeNull();
    expect(b.ffnSubNorm).toBeNull();
    expect(names).toEqual(layerTensors(llama, 0).map((t) => t.name));
  });

  it("lists norms and matrices in file order (the order training walks its parameters in)", () => {
    const b = readBlock(bitnet, 0, { norm: (t) => t.block, matrix: (t) => t.block });
    expect(blockNorms(b)).toEqual(["attnNorm", "attnSubNorm", "ffnNorm", "ffnSubNorm"]);
    expect(blockMatrices(b)).toEqual(["q", "k", "v", "o", "gate", "up", "down"]);
    expect(blockNorms(readBlock(llama, 0, { norm: (t) => t.block, matrix: (t) => t.block }))).toEqual(["attnNorm", "ffnNorm"]);
  });

  it("async: one tensor at a time, each read finished before the next starts", async () => {
    const log: string[] = [];
    const load = async (t: BlockTensor) => {
      log.push(`start ${t.block}`);
      await new Promise((r) => setTimeout(r, 1));
      log.push(`end ${t.block}`);
      return t.name;
    };
    const b = await readBlockAsync(bitnet, 3, { norm: load, matrix: load });
    expect(b).toEqual(readBlock(bitnet, 3, { norm: (t) => t.name, matrix: (t) => t.name }));
    expect(log).toEqual(layerTensors(bitnet, 3).flatMap((t) => [`start ${t.block}`, `end ${t.block}`]));
  });
});
