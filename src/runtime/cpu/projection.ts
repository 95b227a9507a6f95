// Linear layers that share an input (q/k/v, gate/up): the input is quantized once per activation convention
// and every matrix reads the same quantized copy. Ternary matrices that read the same copy run as one kernel call
// (CpuKernels.matmulQuantizedSet): in decode the thread pool splits them with one barrier, and a batch's Vec-LUT
// tables are built once for all of them. A salient side matrix's product (it reads the f32 x) goes in the same call,
// or, for the tokens the Vec-LUT matmul took, in one of its own after it.
//
// Which quantization a ternary matmul sees is the weight type's, as in llama.cpp and bitnet.cpp: TQ1_0/TQ2_0
// take Q8_K (int8 per 256 values), I2_S takes int8 per token (absmax, BitNet b1.58's rule). Float weights
// take f32 activations, except in a model whose config asks for int8-per-token activations (a bitnet
// architecture stored in float): their input is rounded to the per-token int8 grid first, so the float file
// computes what its ternary form would.
import type { ActivationQuant } from "../model/config.ts";
import type { CpuKernels, Matrix, QuantizedActivations } from "./kernels.ts";
import type { ActivationKind } from "./layout.ts";
import { OP, type StepProfile } from "./step-profile.ts";

export class Projector {
  private readonly acts = new Map<string, QuantizedActivations>();
  private fakeQuant = 0;
  private fakeQuantFloats = 0;
  /** Where the quantization and matmul times go when the step is profiled. */
  profile: StepProfile | undefined;

  constructor(
    private readonly K: CpuKernels,
    private readonly activationQuant: ActivationQuant,
    /** Most tokens per call. */
    private readonly capacity: number,
  ) {}

  /**
   * outs[i] = x · ws[i]ᵀ for n tokens of f32 x [n][cols] (every matrix has the same cols). `op`: the OP index
   * the matmuls' time goes to when profiled.
   */
  project(x: number, n: number, ws: readonly Matrix[], outs: readonly number[], op: number): void {
    const p = this.profile;
    let t = p ? p.now() : 0;
    const shared = ws.length > 1 ? this.sharedActivations(ws) : undefined;
    if (shared) {
      // one quantization, one thread-pool call for all the matrices (one barrier, one set of tables)
      this.K.quantize(shared, x, n);
      if (p) t = p.lap(OP["activation quant"], t);
      // x: a salient side matrix's product reads the f32 input (./salient.ts)
      this.K.matmulQuantizedSet(ws, shared, outs, x);
      if (p) p.lap(op, t);
      return;
    }
    let quantizedKey = "";
    let floatInput = 0;
    for (let i = 0; i < ws.length; i++) {
      const w = ws[i]!;
      const act = this.K.activationFor(w);
      if (!act) {
        if (this.activationQuant === "int8-per-token" && !floatInput) {
          floatInput = this.roundPerToken(x, n, w.cols);
          if (p) t = p.lap(OP["activation quant"], t);
        }
        this.K.matmulFloat(w, floatInput || x, n, outs[i]!);
        if (p) t = p.lap(op, t);
        continue;
      }
      const key = activationKey(act, w.cols);
      const a = this.activations(key, act, w.cols);
      if (key !== quantizedKey) {
        this.K.quantize(a, x, n);
        quantizedKey = key;
        if (p) t = p.lap(OP["activation quant"], t);
      }
      // x: a salient side matrix's product reads the f32 input, not its quantized copy (./salient.ts)
      this.K.matmulQuantized(w, a, outs[i]!, w.rows, x);
      if (p) t = p.lap(op, t);
    }
  }

  /** The activation buffer of `key`, allocated on first use. */
  private activations(key: string, act: { kind: ActivationKind; group: number }, cols: number): QuantizedActivations {
    let a = this.acts.get(key);
    if (!a) {
      a = this.K.allocActivations(act.kind, cols, this.capacity, act.group);
      this.acts.set(key, a);
    }
    return a;
  }

  /** The one activation buffer every matrix of `ws` reads, where all are ternary with the same quantization. */
  private sharedActivations(ws: readonly Matrix[]): QuantizedActivations | undefined {
    const act = this.K.activationFor(ws[0]!);
    if (!act) return undefined;
    const key = activationKey(act, ws[0]!.cols);
    for (let i = 1; i < ws.length; i++) {
      const other = this.K.activationFor(ws[i]!);
      if (!other || activationKey(other, ws[i]!.cols) !== key) return undefined;
    }
    return this.activations(key, act, ws[0]!.cols);
  }

  /** A copy of x rounded to int8 per token: a = max|x|/127, x' = round(x/a)·a. Returns its address. */
  private roundPerToken(x: number, n: number, k: number): number {
    if (this.fakeQuantFloats < n * k) {
      if (this.fakeQuant) this.K.heap.free(this.fakeQuant);
      this.fakeQuant = this.K.heap.alloc(this.capacity * k * 4);
      this.fakeQuantFloats = this.capacity * k;
    }
    const f = this.K.heap.f32;
    for (let t = 0; t < n; t++) {
      const src = (x >> 2) + t * k;
      const dst = (this.fakeQuant >> 2) + t * k;
      let amax = 0;
      for (let i = 0; i < k; i++) amax = Math.max(amax, Math.abs(f[src + i]!));
      const a = amax / 127;
      for (let i = 0; i < k; i++) f[dst + i] = a > 0 ? Math.round(f[src + i]! / a) * a : 0;
    }
    return this.fakeQuant;
  }

  free(): void {
    for (const a of this.acts.values()) this.K.freeActivations(a);
    this.acts.clear();
    if (this.fakeQuant) this.K.heap.free(this.fakeQuant);
    this.fakeQuant = 0;
  }
}

/** Matrices with the same key read the same quantized activations. */
function activationKey(act: { kind: ActivationKind; group: number }, cols: number): string {
  return `${act.kind}:${cols}:${act.group}`;
}
