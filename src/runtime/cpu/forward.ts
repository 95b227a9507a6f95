// The forward pass of a decoder-only transformer (llama, and the BitNet b1.58 family with its sub-norms and
// int8 activations), written once for every batch size: prefill runs prompt tokens through the matmul kernels
// `batch` at a time, decode is the same code with n = 1 (the kernels pick their matvec tiles). Every buffer
// lives in wasm memory and is allocated once, here.
//
//   x = embed(tokens)
//   for each layer:
//     h = rmsnorm(x)·attn_norm;  q, k, v = h·Wq, h·Wk, h·Wv;  rope(q), rope(k);  cache ← k, v
//     a = attention(q, cache)  [· attn_sub_norm]          x += a·Wo
//     h = rmsnorm(x)·ffn_norm;   f = act(h·Wgate) ⊙ h·Wup  [· ffn_sub_norm]   x += f·Wdown
//   logits = (rmsnorm(x)·output_norm)·Woutᵀ
import { ContextError } from "../errors.ts";
import type { ModelConfig } from "../model/config.ts";
import { attend, storeKv, type AttentionShape } from "./attention.ts";
import { embed } from "./embedding.ts";
import type { CpuKernels } from "./kernels.ts";
import type { KvCache } from "./kv-cache.ts";
import { OutputHead } from "./output-head.ts";
import { Projector } from "./projection.ts";
import { OP, type StepProfile } from "./step-profile.ts";
import type { ModelWeights } from "./weights.ts";

/** Floats of attention-score scratch: large batches over a long cache are attended in token slices. */
const SCORE_SCRATCH_FLOATS = 1 << 20;
/** Tokens whose logits are computed at once for "all": a batch × vocabulary buffer would dwarf a small model. */
const LOGIT_ROWS = 16;

export type LogitsMode = "last" | "all" | "none";

/** Receives the logits of token `index` of the evaluated sequence (a view, valid only during the call). */
export type LogitsSink = (index: number, logits: Float32Array) => void;

export class Forward {
  readonly batch: number;
  private readonly proj: Projector;
  private readonly head: OutputHead;
  private readonly attn: AttentionShape;
  private readonly positions: Float64Array;
  private readonly scoreFloats: number;
  private readonly buf: { x: number; h: number; q: number; k: number; v: number; a: number; o: number; g: number; u: number; scores: number };
  private logitRows = 0;
  private logits = 0;
  private stepProfile: StepProfile | undefined;

  constructor(
    private readonly K: CpuKernels,
    readonly config: ModelConfig,
    private readonly w: ModelWeights,
    private readonly cache: KvCache,
    batch: number,
  ) {
    const c = config;
    this.batch = batch;
    this.proj = new Projector(K, c.activationQuant, batch);
    this.head = new OutputHead(K, w, Math.min(batch, LOGIT_ROWS));
    this.attn = { heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, type: cache.type };
    this.positions = new Float64Array(batch);
    this.scoreFloats = Math.max(c.heads * cache.capacity, Math.min(SCORE_SCRATCH_FLOATS, batch * c.heads * cache.capacity));
    const f = (floats: number) => K.heap.alloc(batch * floats * 4);
    const qDim = c.heads * c.headDim;
    const kvDim = c.kvHeads * c.headDim;
    this.buf = {
      x: f(c.dim),
      h: f(c.dim),
      q: f(qDim),
      k: f(kvDim),
      v: f(kvDim),
      a: f(qDim),
      o: f(c.dim),
      g: f(c.ffnDim),
      u: f(c.ffnDim),
      scores: K.heap.alloc(this.scoreFloats * 4),
    };
  }

  /** Per-op times of the following runs go to `p` (undefined: no clock reads at all). */
  set profile(p: StepProfile | undefined) {
    this.stepProfile = p;
    this.proj.profile = p;
    this.head.profile = p;
  }

  /** wasm bytes the forward pass allocates for a batch size (an estimate for the memory plan, on the high side). */
  static scratchBytes(c: ModelConfig, batch: number, capacity: number): number {
    const qDim = c.heads * c.headDim;
    const kvDim = c.kvHeads * c.headDim;
    const floats = batch * (3 * c.dim + 2 * qDim + 2 * kvDim + 2 * c.ffnDim) + Math.min(batch, LOGIT_ROWS) * c.vocabSize;
    const scores = Math.max(c.heads * capacity, Math.min(SCORE_SCRATCH_FLOATS, batch * c.heads * capacity));
    // quantized activations: i8 + i16 copies of the inputs of every matmul kind, and their scales
    const acts = batch * (2 * c.dim + qDim + c.ffnDim) * 3 + (1 << 20);
    return (floats + scores) * 4 + acts;
  }

  /**
   * Runs `tokens` at positions cache.length, cache.length + 1, … and appends them to the cache. Returns a copy
   * of the last token's logits for "last"; "all" hands every token's logits to `sink` in order.
   */
  run(tokens: ArrayLike<number>, mode: LogitsMode, sink?: LogitsSink): Float32Array | undefined {
    const n = tokens.length;
    const pos0 = this.cache.length;
    if (pos0 + n > this.cache.capacity) {
      throw new ContextError(
        "CONTEXT_FULL",
        `${pos0 + n} tokens do not fit the context of ${this.cache.capacity} (${pos0} already in it, ${n} more)`,
      );
    }
    let last: Float32Array | undefined;
    for (let start = 0; start < n; start += this.batch) {
      const m = Math.min(this.batch, n - start);
      const ids = Array.from({ length: m }, (_, i) => tokens[start + i]!);
      this.layers(ids, pos0 + start);
      this.cache.length = pos0 + start + m;
      if (this.stepProfile) this.stepProfile.tokens += m;
      if (mode === "all") {
        const vocab = this.config.vocabSize;
        for (let first = 0; first < m; first += LOGIT_ROWS) {
          const count = Math.min(LOGIT_ROWS, m - first);
          const rows = this.outputLogits(first, count);
          for (let t = 0; t < count; t++) sink?.(start + first + t, rows.subarray(t * vocab, (t + 1) * vocab));
        }
      } else if (mode === "last" && start + m === n) {
        last = this.outputLogits(m - 1, 1).slice();
      }
    }
    return last;
  }

  /** All layers for m tokens at positions pos0 …; leaves the residual stream in buf.x. */
  private layers(tokens: number[], pos0: number): void {
    const { K, config: c, w, buf: b } = this;
    const m = tokens.length;
    const qDim = c.heads * c.headDim;
    for (let t = 0; t < m; t++) this.positions[t] = pos0 + t;
    const rope = { base: c.rope.base, neox: c.rope.layout === "neox", nRot: c.rope.dims, freqScale: c.rope.freqScale };

    const p = this.stepProfile;
    let t = p ? p.now() : 0;
    embed(K, w.embedding, tokens, b.x);
    for (let l = 0; l < c.layers; l++) {
      const L = w.layers[l]!;
      // attention
      K.rmsNorm(b.x, L.attnNorm, b.h, m, c.dim, c.rmsEps);
      if (p) t = p.lap(OP.norms, t);
      this.proj.project(b.h, m, [L.q, L.k, L.v], [b.q, b.k, b.v], OP["matmul q/k/v"]);
      if (p) t = p.now();
      K.rope(b.q, m, c.heads, c.headDim, this.positions, rope);
      K.rope(b.k, m, c.kvHeads, c.headDim, this.positions, rope);
      if (p) t = p.lap(OP.rope, t);
      storeKv(K, this.cache.layers[l]!, b.k, b.v, m, pos0, this.attn);
      if (p) t = p.lap(OP["kv store"], t);
      this.attention(l, m, pos0);
      if (p) t = p.lap(OP.attention, t);
      if (L.attnSubNorm) K.rmsNorm(b.a, L.attnSubNorm, b.a, m, qDim, c.rmsEps);
      if (p) t = p.lap(OP.norms, t);
      this.proj.project(b.a, m, [L.o], [b.o], OP["matmul o"]);
      if (p) t = p.now();
      this.addResidual(m);
      // feed-forward
      if (p) t = p.lap(OP["residual add"], t);
      K.rmsNorm(b.x, L.ffnNorm, b.h, m, c.dim, c.rmsEps);
      if (p) t = p.lap(OP.norms, t);
      this.proj.project(b.h, m, [L.gate, L.up], [b.g, b.u], OP["matmul gate/up"]);
      if (p) t = p.now();
      if (c.ffnActivation === "relu2") K.relu2glu(b.g, b.u, b.g, m * c.ffnDim);
      else K.swiglu(b.g, b.u, b.g, m * c.ffnDim);
      if (p) t = p.lap(OP.glu, t);
      if (L.ffnSubNorm) K.rmsNorm(b.g, L.ffnSubNorm, b.g, m, c.ffnDim, c.rmsEps);
      if (p) t = p.lap(OP.norms, t);
      this.proj.project(b.g, m, [L.down], [b.o], OP["matmul down"]);
      if (p) t = p.now();
      this.addResidual(m);
      if (p) t = p.lap(OP["residual add"], t);
    }
  }

  /** buf.a = attention of the m queries in buf.q, in token slices that fit the score scratch. */
  private attention(layer: number, m: number, pos0: number): void {
    const { K, buf: b, attn } = this;
    const rowBytes = attn.heads * attn.headDim * 4;
    const perToken = attn.heads * (pos0 + m);
    const slice = Math.max(1, Math.floor(this.scoreFloats / perToken));
    for (let t0 = 0; t0 < m; t0 += slice) {
      const t1 = Math.min(m, t0 + slice);
      attend(K, this.cache.layers[layer]!, b.q + t0 * rowBytes, b.a + t0 * rowBytes, b.scores, t1 - t0, pos0 + t0, attn);
    }
  }

  private addResidual(m: number): void {
    this.K.addInto(this.buf.x, this.buf.o, m * this.config.dim);
  }

  /** Logits of `rows` tokens of the batch from token `first` on, as a view of wasm memory. */
  private outputLogits(first: number, rows: number): Float32Array {
    const { K, config: c, buf: b } = this;
    if (this.logitRows < rows) {
      if (this.logits) K.heap.free(this.logits);
      this.logits = K.heap.alloc(rows * c.vocabSize * 4);
      this.logitRows = rows;
    }
    const p = this.stepProfile;
    const t = p ? p.now() : 0;
    K.rmsNorm(b.x + first * c.dim * 4, this.w.outputNorm, b.h, rows, c.dim, c.outputNormEps);
    if (p) p.lap(OP.norms, t);
    this.head.project(b.h, rows, this.logits);
    return K.heap.f32View(this.logits, rows * c.vocabSize);
  }

  free(): void {
    this.proj.free();
    this.head.free();
    for (const p of Object.values(this.buf)) this.K.heap.free(p);
    if (this.logits) this.K.heap.free(this.logits);
    this.logits = 0;
  }
}
