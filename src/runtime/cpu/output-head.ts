// The output head: logits = the final norm's output · Woutᵀ. As stored, it is a plain projection of the f32
// activations (BitNet quantizes only the ternary layers); with an int8 head (headType "q8_0", ./weights.ts) the
// activations are quantized to int8 per 32 first and the Q8_0 copy of the weights runs in assembly/kernels/head_q8.ts.
import type { CpuKernels, QuantizedActivations } from "./kernels.ts";
import { Projector } from "./projection.ts";
import { OP, type StepProfile } from "./step-profile.ts";
import type { ModelWeights } from "./weights.ts";

/** The int8 head's activation group: one Q8_0 block. */
const INT8_GROUP = 32;

export class OutputHead {
  private readonly stored: Projector;
  private acts: QuantizedActivations | undefined;
  profile: StepProfile | undefined;

  constructor(
    private readonly K: CpuKernels,
    private readonly w: ModelWeights,
    /** Most tokens per call. */
    private readonly capacity: number,
  ) {
    this.stored = new Projector(K, "none", capacity);
  }

  /** Logits of n tokens of f32 x [n][dim] into out [n][vocab]. */
  project(x: number, n: number, out: number): void {
    const head = this.w.int8Head;
    if (!head) {
      this.stored.profile = this.profile;
      this.stored.project(x, n, [this.w.output], [out], OP["output head"]);
      return;
    }
    const p = this.profile;
    const t = p ? p.now() : 0;
    this.acts ??= this.K.allocActivations("group", head.cols, this.capacity, INT8_GROUP);
    this.K.quantize(this.acts, x, n);
    this.K.matmulInt8Head(head, this.acts, out);
    if (p) p.lap(OP["output head"], t);
  }

  free(): void {
    this.stored.free();
    if (this.acts) this.K.freeActivations(this.acts);
    this.acts = undefined;
  }
}
