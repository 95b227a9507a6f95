// The GPU forward pass of the llama / bitnet graphs (ModelConfig), built once at load: every weight, scratch
// buffer, KV cache, uniform, pipeline and bind group is created in `load`; a step writes two small uniforms
// (position and token count, the token ids), records one compute pass into one command buffer and reads
// back one u32 (greedy) or the logits. A step of n tokens is a prefill (tiled matmuls, causal attention
// over the cache); n = 1 is a decode step. Only the last token's logits are computed.
//
// Activations follow the CPU path's convention per weight type (src/runtime/cpu/layout.ts): TQ1_0/TQ2_0
// take Q8_K activations, I2_S int8 per token (absmax), float weights f32 activations.
import { GpuError } from "../runtime/errors.ts";
import { readGgufHeader, readTensorData } from "../runtime/gguf/reader.ts";
import type { ByteSource } from "../runtime/gguf/source.ts";
import type { GgufHeader, GgufTensorInfo } from "../runtime/gguf/types.ts";
import { type ModelConfig, modelConfigFromGguf } from "../runtime/model/config.ts";
import { f16BitsToF32 } from "../runtime/tensor-types/half.ts";
import { tensorTypeTraits } from "../runtime/tensor-types/table.ts";
import type { GpuContext } from "./device.ts";
import { floatMatmulOps, type OpEnv, type OutputPlacement, type QuantScratch, quantizeOp, quantScratch, ternaryMatmulOp } from "./linear.ts";
import { bindGroup, GpuArena, type GpuOp, mapRead, PipelineCache, simpleOp, fold } from "./resources.ts";
import { ropeTable } from "./rope-table.ts";
import { type ActivationQuant, type GpuFloat, type GpuMatrix, hostDlt, hostMatrix, uploadMatrix } from "./weights.ts";
import { dltMatrixInfo, readDltMatrix } from "../runtime/model/dlt-file.ts";
import { expectedTensors } from "../runtime/model/tensors.ts";
import { argmaxShader } from "./wgsl/argmax.ts";
import { attentionShader } from "./wgsl/attention.ts";
import { embedShader } from "./wgsl/embed.ts";
import { gluShader } from "./wgsl/glu.ts";
import { rmsNormShader } from "./wgsl/rmsnorm.ts";
import { ropeStoreShader } from "./wgsl/rope.ts";
import type { ShaderSource } from "./wgsl/shader.ts";

export interface GpuModelOptions {
  /** The parsed header, if the caller has it already. */
  header?: GgufHeader;
  /** Most tokens one step processes; longer prompts run in several steps. Default 64. */
  maxBatch?: number;
  /** KV-cache positions. Default: the model's context length, at most 2048. */
  contextLength?: number;
  /** Tokens per thread of the prefill matmuls. Default 8. */
  prefillTile?: number;
  /** Largest float-matrix chunk (bytes); default the device's binding limit. Tests lower it. */
  maxChunkBytes?: number;
}

export interface GpuModelStats {
  adapter: string;
  weightBytes: number;
  kvCacheBytes: number;
  /** Activations, quantization scratch, uniforms, readback. */
  scratchBytes: number;
  totalBytes: number;
  pipelines: number;
  /** Dispatches recorded per decode step. */
  dispatchesPerToken: number;
  contextLength: number;
  maxBatch: number;
}

const actKey = (a: ActivationQuant, k: number) => `${a.mode}:${a.sums ? "sums" : ""}:${a.group === k && a.mode === "absmax" && !a.sums ? "token" : a.group}`;

export class GpuModel {
  private busy = false;
  private disposed = false;
  private readonly stepData = new Uint32Array(4);
  private readonly ids: Uint32Array;

  /** @internal Use GpuModel.load. */
  constructor(
    readonly ctx: GpuContext,
    readonly config: ModelConfig,
    private readonly arena: GpuArena,
    private readonly stepBuf: GPUBuffer,
    private readonly tokenBuf: GPUBuffer,
    private readonly blockOps: GpuOp[],
    private readonly headOps: GpuOp[],
    private readonly argmaxOp: GpuOp,
    private readonly logits: GPUBuffer,
    private readonly result: GPUBuffer,
    private readonly readback: GPUBuffer,
    private readonly info: Omit<GpuModelStats, "totalBytes" | "adapter">,
  ) {
    this.ids = new Uint32Array(info.maxBatch);
  }

  /**
   * Reads the model (header, then one tensor at a time) and builds everything a step needs. Throws
   * ModelError for a file that is not a model, GpuError UNSUPPORTED_TENSOR / TOO_LARGE / SHADER_ERROR /
   * OUT_OF_MEMORY for one this device cannot run.
   */
  static async load(ctx: GpuContext, source: ByteSource, options: GpuModelOptions = {}): Promise<GpuModel> {
    const header = options.header ?? (await readGgufHeader(source));
    const c = modelConfigFromGguf(header.metadata, header.tensors);
    const device = ctx.device;
    const arena = new GpuArena(ctx);
    device.pushErrorScope("out-of-memory");
    device.pushErrorScope("validation");
    try {
      const model = await build(ctx, arena, source, header, c, options);
      const validation = await device.popErrorScope();
      const oom = await device.popErrorScope();
      if (oom) throw new GpuError("OUT_OF_MEMORY", `loading the model: ${oom.message}`);
      if (validation) throw new GpuError("VALIDATION", `loading the model: ${validation.message}`);
      ctx.check();
      return model;
    } catch (e) {
      arena.destroy();
      throw e;
    }
  }

  stats(): GpuModelStats {
    return { ...this.info, adapter: this.ctx.adapterName, totalBytes: this.arena.bytes };
  }

  /** Runs `tokens` at positions pos, pos + 1, … and returns the logits after the last one. */
  async forward(tokens: ArrayLike<number>, pos: number, out = new Float32Array(this.config.vocabSize)): Promise<Float32Array> {
    await this.run(tokens, pos, "logits");
    out.set(new Float32Array(this.readback.getMappedRange(0, this.config.vocabSize * 4)));
    this.readback.unmap();
    return out;
  }

  /** As forward, but picks the greedy next token on the GPU and reads back only its id. */
  async forwardArgmax(tokens: ArrayLike<number>, pos: number): Promise<number> {
    await this.run(tokens, pos, "argmax");
    const id = new Uint32Array(this.readback.getMappedRange(0, 4))[0]!;
    this.readback.unmap();
    return id;
  }

  /** Greedy generation: `steps` tokens after `prompt` (fed from position 0). */
  async greedy(prompt: ArrayLike<number>, steps: number, onToken?: (id: number) => boolean | void): Promise<number[]> {
    const out: number[] = [];
    let next = await this.forwardArgmax(prompt, 0);
    let pos = prompt.length;
    const one = new Uint32Array(1);
    for (let i = 0; i < steps; i++) {
      out.push(next);
      if (onToken?.(next) === false || i === steps - 1) break;
      one[0] = next;
      next = await this.forwardArgmax(one, pos++);
    }
    return out;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.arena.destroy();
  }

  private async run(tokens: ArrayLike<number>, pos: number, want: "logits" | "argmax"): Promise<void> {
    if (this.disposed) throw new GpuError("DISPOSED", "the GPU model was disposed");
    if (this.busy) throw new GpuError("BUSY", "a forward step is already running on this model");
    this.ctx.check();
    const n = tokens.length;
    if (n < 1 || !Number.isInteger(pos) || pos < 0 || pos + n > this.info.contextLength) {
      throw new GpuError("BAD_ARGUMENT", `tokens ${n} at position ${pos} do not fit the context of ${this.info.contextLength}`);
    }
    for (let i = 0; i < n; i++) {
      const t = tokens[i]!;
      if (!Number.isInteger(t) || t < 0 || t >= this.config.vocabSize) throw new GpuError("BAD_ARGUMENT", `token ${t} is not in the vocabulary`);
    }
    this.busy = true;
    try {
      const queue = this.ctx.device.queue;
      const B = this.info.maxBatch;
      const ids = this.ids;
      for (let at = 0; at < n; at += B) {
        const count = Math.min(B, n - at);
        const last = at + count === n;
        for (let i = 0; i < count; i++) ids[i] = tokens[at + i]!;
        this.stepData[0] = pos + at;
        this.stepData[1] = count;
        queue.writeBuffer(this.stepBuf, 0, this.stepData);
        queue.writeBuffer(this.tokenBuf, 0, ids.buffer, 0, count * 4);
        const enc = this.ctx.device.createCommandEncoder();
        const pass = enc.beginComputePass();
        for (const op of this.blockOps) op.encode(pass, count);
        if (last) {
          for (const op of this.headOps) op.encode(pass, 1);
          if (want === "argmax") this.argmaxOp.encode(pass, 1);
        }
        pass.end();
        if (last) {
          if (want === "argmax") enc.copyBufferToBuffer(this.result, 0, this.readback, 0, 4);
          else enc.copyBufferToBuffer(this.logits, 0, this.readback, 0, this.config.vocabSize * 4);
        }
        queue.submit([enc.finish()]);
      }
      await mapRead(this.ctx, this.readback, want === "argmax" ? 4 : this.config.vocabSize * 4);
      this.ctx.check();
    } finally {
      this.busy = false;
    }
  }
}

function f16ArrayToF32(bits: Uint16Array): Float32Array {
  return Float32Array.from(bits, f16BitsToF32);
}

async function build(
  ctx: GpuContext,
  arena: GpuArena,
  source: ByteSource,
  header: GgufHeader,
  c: ModelConfig,
  options: GpuModelOptions,
): Promise<GpuModel> {
  const device = ctx.device;
  const env: OpEnv = { arena, pipelines: new PipelineCache(device), packedDot: ctx.packedDot, tuning: ctx.tuning, prefillTile: options.prefillTile ?? 8 };
  const B = options.maxBatch ?? 64;
  const ctxLen = options.contextLength ?? Math.min(c.contextLength, 2048);
  const { dim, heads, kvHeads, headDim: hd, ffnDim, layers } = c;
  const qDim = heads * hd;
  const kvDim = kvHeads * hd;
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  const info = (name: string): GgufTensorInfo => byName.get(name)!; // modelConfigFromGguf checked presence

  // ---- weights ----
  const expectedCols = new Map(expectedTensors(c).map((e) => [e.name, e.dims[0]!]));
  const matrix = async (name: string): Promise<GpuMatrix> => {
    const t = info(name);
    const dlt = dltMatrixInfo(header, byName, t, expectedCols.get(name)!);
    if (dlt) {
      // a fine-tuned DLT matrix: 2-bit codes with per-group α and γ
      const d = await readDltMatrix(source, header, dlt);
      return uploadMatrix(arena, name, hostDlt(d.codes, f16ArrayToF32(d.alpha), f16ArrayToF32(d.gamma), dlt.group, dlt.rows, dlt.cols));
    }
    const data = await readTensorData(source, header, t);
    return uploadMatrix(arena, name, hostMatrix(t.type, data, t.dims[1] ?? 1, t.dims[0]!), options.maxChunkBytes);
  };
  const norm = async (name: string): Promise<GPUBuffer> => {
    const t = info(name);
    const values = new Float32Array(t.dims[0]!);
    tensorTypeTraits(t.type).dequantize(await readTensorData(source, header, t), values);
    return arena.upload(name, values);
  };
  const embedding = await matrix("token_embd.weight");
  if (embedding.kind !== "float") throw new GpuError("UNSUPPORTED_TENSOR", "token_embd.weight must be a float type (F32, F16, BF16, Q8_0) on the GPU");
  interface Layer {
    attnNorm: GPUBuffer;
    q: GpuMatrix;
    k: GpuMatrix;
    v: GpuMatrix;
    attnSub?: GPUBuffer;
    o: GpuMatrix;
    ffnNorm: GPUBuffer;
    gate: GpuMatrix;
    up: GpuMatrix;
    ffnSub?: GPUBuffer;
    down: GpuMatrix;
  }
  const blocks: Layer[] = [];
  for (let l = 0; l < layers; l++) {
    const p = `blk.${l}.`;
    const layer: Layer = {
      attnNorm: await norm(p + "attn_norm.weight"),
      q: await matrix(p + "attn_q.weight"),
      k: await matrix(p + "attn_k.weight"),
      v: await matrix(p + "attn_v.weight"),
      o: await matrix(p + "attn_output.weight"),
      ffnNorm: await norm(p + "ffn_norm.weight"),
      gate: await matrix(p + "ffn_gate.weight"),
      up: await matrix(p + "ffn_up.weight"),
      down: await matrix(p + "ffn_down.weight"),
    };
    if (c.subNorms) {
      layer.attnSub = await norm(p + "attn_sub_norm.weight");
      layer.ffnSub = await norm(p + "ffn_sub_norm.weight");
    }
    blocks.push(layer);
  }
  const outputNorm = await norm("output_norm.weight");
  const head = c.tiedOutput ? embedding : await matrix("output.weight");
  const weightBytes = arena.bytes;

  // ---- KV cache ----
  const kCache: GPUBuffer[] = [];
  const vCache: GPUBuffer[] = [];
  for (let l = 0; l < layers; l++) {
    kCache.push(arena.storage(`k cache ${l}`, ctxLen * kvDim * 4));
    vCache.push(arena.storage(`v cache ${l}`, ctxLen * kvDim * 4));
  }
  const kvCacheBytes = arena.bytes - weightBytes;

  // ---- activations and uniforms ----
  const f32 = (label: string, len: number) => arena.storage(label, len * 4);
  const step = arena.buffer("step", 16, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
  const stepOne = arena.uniform("step (one token)", [0, 1, 0, 0]);
  const tokens = arena.storage("tokens", B * 4);
  const x = f32("x", B * dim);
  const h = f32("h", B * dim);
  const q = f32("q", B * qDim);
  const k = f32("k", B * kvDim);
  const v = f32("v", B * kvDim);
  const att = f32("attention", B * qDim);
  const sub = f32("sub-norm", B * Math.max(qDim, ffnDim));
  const gate = f32("gate", B * ffnDim);
  const up = f32("up", B * ffnDim);
  const xf = f32("final norm", dim);
  const logits = f32("logits", c.vocabSize);
  const result = arena.storage("argmax", 4);
  const readback = arena.buffer("readback", c.vocabSize * 4, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
  const table = arena.upload("rope table", ropeTable(ctxLen, c.rope.dims, c.rope.base, c.rope.freqScale));

  // One quantization scratch per activation kind, sized for the largest input that uses it.
  const scratchNeed = new Map<string, { maxK: number; maxGroups: number }>();
  const need = (m: GpuMatrix) => {
    if (m.kind !== "ternary") return;
    const key = actKey(m.act, m.cols);
    const s = scratchNeed.get(key) ?? { maxK: 0, maxGroups: 0 };
    s.maxK = Math.max(s.maxK, m.cols);
    s.maxGroups = Math.max(s.maxGroups, Math.ceil(m.cols / m.act.group));
    scratchNeed.set(key, s);
  };
  for (const b of blocks) for (const m of [b.q, b.k, b.v, b.o, b.gate, b.up, b.down]) need(m);
  need(head);
  const scratch = new Map<string, QuantScratch>();
  for (const [key, s] of scratchNeed) scratch.set(key, quantScratch(arena, key, B, s.maxK, s.maxGroups));

  // ---- ops ----
  const simple = async (src: ShaderSource, buffers: Record<string, GPUBuffer>, dispatch: (n: number) => readonly [number, number?]) => {
    const p = await env.pipelines.get(src);
    return simpleOp(src.label, p, bindGroup(device, p, src, buffers), dispatch);
  };
  /** y = W·input for each of `outs` (which share the input): one quantization per activation kind, then the matmuls. */
  const linear = async (input: GPUBuffer, kIn: number, outs: { w: GpuMatrix; y: GPUBuffer; place?: OutputPlacement }[], st = step): Promise<GpuOp[]> => {
    const ops: GpuOp[] = [];
    const quantized = new Set<string>();
    for (const { w } of outs) {
      if (w.kind !== "ternary") continue;
      const key = actKey(w.act, w.cols);
      if (quantized.has(key)) continue;
      quantized.add(key);
      ops.push(await quantizeOp(env, w.act, kIn, input, scratch.get(key)!, st));
    }
    for (const { w, y, place } of outs) {
      if (w.cols !== kIn) throw new GpuError("UNSUPPORTED_TENSOR", `matrix ${w.rows}×${w.cols} does not take an input of ${kIn}`);
      if (w.kind === "ternary") ops.push(await ternaryMatmulOp(env, w, scratch.get(actKey(w.act, w.cols))!, y, st, place));
      else ops.push(...(await floatMatmulOps(env, w, input, y, st, place)));
    }
    return ops;
  };
  const rmsNorm = async (input: GPUBuffer, weight: GPUBuffer, out: GPUBuffer, width: number, eps: number, last = false) => {
    const P = arena.uniform("rmsnorm", [width, eps], [1]);
    return simple(rmsNormShader(last, ctx.tuning.reduce), { P, step, x: input, w: weight, y: out }, last ? () => [1] : (n) => [n]);
  };

  const blockOps: GpuOp[] = [];
  for (const chunk of (embedding as GpuFloat).chunks) {
    const P = arena.uniform("embed", [dim, embedding.rowWords, chunk.rowBase, chunk.rows]);
    const buffers: Record<string, GPUBuffer> = { P, step, tokens, w: chunk.w, x };
    if (chunk.wscale) buffers.wscale = chunk.wscale;
    blockOps.push(await simple(embedShader(embedding.format), buffers, (n) => [n]));
  }
  const ropeP = arena.uniform("rope", [heads, kvHeads, hd, c.rope.dims / 2, qDim, kvDim]);
  const attP = arena.uniform("attention", [heads, kvHeads, qDim, kvDim, 1 / Math.sqrt(hd)], [4]);
  const gluP = arena.uniform("glu", [ffnDim]);
  for (const [l, b] of blocks.entries()) {
    blockOps.push(await rmsNorm(x, b.attnNorm, h, dim, c.rmsEps));
    blockOps.push(...(await linear(h, dim, [{ w: b.q, y: q }, { w: b.k, y: k }, { w: b.v, y: v }])));
    blockOps.push(await simple(ropeStoreShader(c.rope.layout === "neox"), { P: ropeP, step, table, q, k, v, kc: kCache[l]!, vc: vCache[l]! }, (n) => [n]));
    blockOps.push(await simple(attentionShader(hd), { P: attP, step, q, kc: kCache[l]!, vc: vCache[l]!, o: att }, (n) => [heads, n]));
    let attnIn = att;
    if (b.attnSub) {
      blockOps.push(await rmsNorm(att, b.attnSub, sub, qDim, c.rmsEps));
      attnIn = sub;
    }
    blockOps.push(...(await linear(attnIn, qDim, [{ w: b.o, y: x, place: { accumulate: true } }])));
    blockOps.push(await rmsNorm(x, b.ffnNorm, h, dim, c.rmsEps));
    blockOps.push(...(await linear(h, dim, [{ w: b.gate, y: gate }, { w: b.up, y: up }])));
    blockOps.push(await simple(gluShader(c.ffnActivation), { P: gluP, step, gate, up }, (n) => fold(Math.ceil((n * ffnDim) / 256))));
    let ffnIn = gate;
    if (b.ffnSub) {
      blockOps.push(await rmsNorm(gate, b.ffnSub, sub, ffnDim, c.rmsEps));
      ffnIn = sub;
    }
    blockOps.push(...(await linear(ffnIn, ffnDim, [{ w: b.down, y: x, place: { accumulate: true } }])));
  }
  // The head sees the last token only: final norm of row n − 1, then a one-token matmul.
  const headOps = [await rmsNorm(x, outputNorm, xf, dim, c.outputNormEps, true), ...(await linear(xf, dim, [{ w: head, y: logits }], stepOne))];
  const argP = arena.uniform("argmax", [c.vocabSize]);
  const argmaxOp = await simple(argmaxShader(ctx.tuning.reduce), { P: argP, logits, result }, () => [1]);

  const dispatchesPerToken = blockOps.length + headOps.length + 1;
  return new GpuModel(
    ctx,
    c,
    arena,
    step,
    tokens,
    blockOps,
    headOps,
    argmaxOp,
    logits,
    result,
    readback,
    {
      weightBytes,
      kvCacheBytes,
      scratchBytes: arena.bytes - weightBytes - kvCacheBytes,
      pipelines: env.pipelines.size,
      dispatchesPerToken,
      contextLength: ctxLen,
      maxBatch: B,
    },
  );
}
