// The FFN gate: m = act(gate) ⊙ up with act = SiLU (SwiGLU, llama) or ReLU² (BitNet b1.58).
// silu(a) = a·σ(a), silu'(a) = σ(a)·(1 + a·(1 − σ(a))); relu²(a) = max(a, 0)², its derivative 2·max(a, 0).
import type { FfnActivation } from "../../runtime/model/config.ts";
import { type Vec, alloc, precisionOf } from "../tensor.ts";

export function gatedForward(gate: Vec, up: Vec, act: FfnActivation): Vec {
  const m = alloc(precisionOf(gate), gate.length);
  for (let i = 0; i < gate.length; i++) {
    const a = gate[i]!;
    const f = act === "silu" ? a / (1 + Math.exp(-a)) : a > 0 ? a * a : 0;
    m[i] = f * up[i]!;
  }
  return m;
}

export function gatedBackward(dm: Vec, gate: Vec, up: Vec, act: FfnActivation): { dGate: Vec; dUp: Vec } {
  const P = precisionOf(gate);
  const dGate = alloc(P, gate.length);
  const dUp = alloc(P, gate.length);
  for (let i = 0; i < gate.length; i++) {
    const a = gate[i]!;
    let f: number;
    let df: number;
    if (act === "silu") {
      const sig = 1 / (1 + Math.exp(-a));
      f = a * sig;
      df = sig * (1 + a * (1 - sig));
    } else {
      f = a > 0 ? a * a : 0;
      df = a > 0 ? 2 * a : 0;
    }
    dGate[i] = dm[i]! * up[i]! * df;
    dUp[i] = dm[i]! * f;
  }
  return { dGate, dUp };
}
