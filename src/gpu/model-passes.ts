// The GPU model's forward pass, recorded once at load as ops with their bind groups (./resources.ts GpuOp):
// a step then only encodes them for its token count. Per block, in the order of the computation:
//
//   h = rmsnorm(x)·attn_norm;  q, k, v = h·Wq, h·Wk, h·Wv;  rope(q, k), k and v into the cache
//   a = attention(q, cache)  [→ rmsnorm·attn_sub_norm]                  x += a·Wo
//   h = rmsnorm(x)·ffn_norm;  g = act(h·Wgate) ⊙ h·Wup  [→ rmsnorm·ffn_sub_norm]   x += g·Wdown
//
// Activations follow the CPU path's convention per weight type (src/runtime/cpu/layout.ts): TQ1_0/TQ2_0
// take Q8_K activations, I2_S int8 per token (absmax), float weights f32 activations.
import { GpuError } from "../runtime/errors.ts";
import type { ModelConfig } from "../runtime/model/config.ts";
import type { GpuContext } from "./device.ts";
import { floatMatmulOps, type OpEnv, type OutputPlacement, type QuantScratch, quantizeOp, ternaryMatmulOp } from "./linear.ts";
import { type Activations, actKey, type KvCacheBuffers } from "./model-buffers.ts";
import type { GpuBlock, GpuModelWeights } from "./model-weights.ts";
import { bindGroup, fold, type GpuOp, simpleOp } from "./resources.ts";
import { salientMatmulOp } from "./salient.ts";
import type { GpuFloat, GpuMatrix } from "./weights.ts";
import { argmaxShader } from "./wgsl/argmax.ts";
import { attentionShader } from "./wgsl/attention.ts";
import { embedShader } from "./wgsl/embed.ts";
import { gluShader } from "./wgsl/glu.ts";
import { rmsNormShader } from "./wgsl/rmsnorm.ts";
import { ropeStoreShader } from "./wgsl/rope.ts";
import type { ShaderSource } from "./wgsl/shader.ts";

export interface ForwardOps {
  /** Embedding and every block, for all tokens of a step. */
  blockOps: GpuOp[];
  /** Final norm and output head, for the step's last token. */
  headOps: GpuOp[];
  /** The greedy token of the logits. */
  argmaxOp: GpuOp;
}

/** Records the whole forward pass over the model's weights `w`, cache `kv`, activations `a` and quantization scratch. */
export async function recordForward(
  ctx: GpuContext,
  env: OpEnv,
  c: ModelConfig,
  w: GpuModelWeights,
  kv: KvCacheBuffers,
  a: Activations,
  scratch: ReadonlyMap<string, QuantScratch>,
): Promise<ForwardOps> {
  const rec = new PassRecorder(ctx, env, c, a, scratch);
  const blockOps = await rec.embedding(w.embedding);
  for (const [l, b] of w.blocks.entries()) blockOps.push(...(await rec.block(b, kv.k[l]!, kv.v[l]!)));
  return { blockOps, headOps: await rec.head(w.outputNorm, w.head), argmaxOp: await rec.argmax() };
}

/** Builds the ops of each part of the pass over one model's buffers. */
class PassRecorder {
  private readonly ropeP: GPUBuffer;
  private readonly attP: GPUBuffer;
  private readonly gluP: GPUBuffer;

  constructor(
    private readonly ctx: GpuContext,
    private readonly env: OpEnv,
    private readonly c: ModelConfig,
    private readonly a: Activations,
    private readonly scratch: ReadonlyMap<string, QuantScratch>,
  ) {
    const { heads, kvHeads, headDim: hd } = c;
    // One set of shape uniforms serves every block.
    this.ropeP = env.arena.uniform("rope", [heads, kvHeads, hd, c.rope.dims / 2, heads * hd, kvHeads * hd]);
    this.attP = env.arena.uniform("attention", [heads, kvHeads, heads * hd, kvHeads * hd, 1 / Math.sqrt(hd)], [4]);
    this.gluP = env.arena.uniform("glu", [c.ffnDim]);
  }

  /** x = the token rows of the embedding, one op per row chunk of the matrix. */
  async embedding(embedding: GpuFloat): Promise<GpuOp[]> {
    const { a } = this;
    const ops: GpuOp[] = [];
    for (const chunk of embedding.chunks) {
      const P = this.env.arena.uniform("embed", [this.c.dim, embedding.rowWords, chunk.rowBase, chunk.rows]);
      const buffers: Record<string, GPUBuffer> = { P, step: a.step, tokens: a.tokens, w: chunk.w, x: a.x };
      if (chunk.wscale) buffers.wscale = chunk.wscale;
      ops.push(await this.simple(embedShader(embedding.format), buffers, (n) => [n]));
    }
    return ops;
  }

  /** One decoder block on the residual stream x, with its layer's KV cache kc, vc. */
  async block(b: GpuBlock, kc: GPUBuffer, vc: GPUBuffer): Promise<GpuOp[]> {
    const { a, c } = this;
    const { dim, heads, ffnDim } = c;
    const qDim = heads * c.headDim;
    const ops: GpuOp[] = [];
    // attention
    ops.push(await this.rmsNorm(a.x, b.attnNorm, a.h, dim, c.rmsEps));
    ops.push(
      ...(await this.linear(a.h, dim, [
        { w: b.q, y: a.q },
        { w: b.k, y: a.k },
        { w: b.v, y: a.v },
      ])),
    );
    const rope = { P: this.ropeP, step: a.step, table: a.ropeTable, q: a.q, k: a.k, v: a.v, kc, vc };
    ops.push(await this.simple(ropeStoreShader(c.rope.layout === "neox"), rope, (n) => [n]));
    ops.push(await this.simple(attentionShader(c.headDim), { P: this.attP, step: a.step, q: a.q, kc, vc, o: a.att }, (n) => [heads, n]));
    let attnOut = a.att;
    if (b.attnSubNorm) {
      ops.push(await this.rmsNorm(a.att, b.attnSubNorm, a.sub, qDim, c.rmsEps));
      attnOut = a.sub;
    }
    ops.push(...(await this.linear(attnOut, qDim, [{ w: b.o, y: a.x, place: { accumulate: true } }])));
    // feed-forward
    ops.push(await this.rmsNorm(a.x, b.ffnNorm, a.h, dim, c.rmsEps));
    ops.push(
      ...(await this.linear(a.h, dim, [
        { w: b.gate, y: a.gate },
        { w: b.up, y: a.up },
      ])),
    );
    const glu = { P: this.gluP, step: a.step, gate: a.gate, up: a.up };
    ops.push(await this.simple(gluShader(c.ffnActivation), glu, (n) => fold(Math.ceil((n * ffnDim) / 256))));
    let ffnOut = a.gate;
    if (b.ffnSubNorm) {
      ops.push(await this.rmsNorm(a.gate, b.ffnSubNorm, a.sub, ffnDim, c.rmsEps));
      ffnOut = a.sub;
    }
    ops.push(...(await this.linear(ffnOut, ffnDim, [{ w: b.down, y: a.x, place: { accumulate: true } }])));
    return ops;
  }

  /** The head sees the last token only: final norm of row n − 1, then a one-token matmul into the logits. */
  async head(outputNorm: GPUBuffer, head: GpuMatrix): Promise<GpuOp[]> {
    const { a, c } = this;
    return [
      await this.rmsNorm(a.x, outputNorm, a.xf, c.dim, c.outputNormEps, true),
      ...(await this.linear(a.xf, c.dim, [{ w: head, y: a.logits }], a.stepOne)),
    ];
  }

  async argmax(): Promise<GpuOp> {
    const P = this.env.arena.uniform("argmax", [this.c.vocabSize]);
    return this.simple(argmaxShader(this.ctx.tuning.reduce), { P, logits: this.a.logits, result: this.a.result }, () => [1]);
  }

  private async simple(src: ShaderSource, buffers: Record<string, GPUBuffer>, dispatch: (n: number) => readonly [number, number?]): Promise<GpuOp> {
    const p = await this.env.pipelines.get(src);
    return simpleOp(src.label, p, bindGroup(this.ctx.device, p, src, buffers), dispatch);
  }

  /** y = W·input for each of `outs` (which share the input): one quantization per activation kind, then the matmuls. */
  private async linear(
    input: GPUBuffer,
    kIn: number,
    outs: { w: GpuMatrix; y: GPUBuffer; place?: OutputPlacement }[],
    step = this.a.step,
  ): Promise<GpuOp[]> {
    const { env, scratch } = this;
    const ops: GpuOp[] = [];
    const quantized = new Set<string>();
    for (const { w } of outs) {
      if (w.kind !== "ternary") continue;
      const key = actKey(w.act, w.cols);
      if (quantized.has(key)) continue;
      quantized.add(key);
      ops.push(await quantizeOp(env, w.act, kIn, input, scratch.get(key)!, step));
    }
    for (const { w, y, place } of outs) {
      if (w.cols !== kIn) throw new GpuError("UNSUPPORTED_TENSOR", `matrix ${w.rows}×${w.cols} does not take an input of ${kIn}`);
      if (w.kind === "ternary") {
        ops.push(await ternaryMatmulOp(env, w, scratch.get(actKey(w.act, w.cols))!, y, step, place));
        // the side matrix reads the f32 input, which the quantize op leaves as it is (./salient.ts)
        if (w.salient) ops.push(await salientMatmulOp(env, w.salient, input, y, step, place));
      } else ops.push(...(await floatMatmulOps(env, w, input, y, step, place)));
    }
    return ops;
  }

  private async rmsNorm(input: GPUBuffer, weight: GPUBuffer, out: GPUBuffer, width: number, eps: number, last = false): Promise<GpuOp> {
    const P = this.env.arena.uniform("rmsnorm", [width, eps], [1]);
    return this.simple(
      rmsNormShader(last, this.ctx.tuning.reduce),
      { P, step: this.a.step, x: input, w: weight, y: out },
      last ? () => [1] : (n) => [n],
    );
  }
}
