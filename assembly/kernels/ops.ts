// Element-wise and per-row operations of the forward pass. Ranges [t0, t1) are tokens (rows) or, for the
// element-wise kernels, element indices, so that the thread pool can split them.
import { ACT_RELU2, ACT_SILU } from "./abi";
import { expF32x4, hsumF32, hmaxF32 } from "./common";

/**
 * RMSNorm over rows of k values: o = x / sqrt(mean(x²) + eps) (· w when w != 0), for tokens [t0, t1).
 * x and o are f32 [n][k] (o may equal x); w: f32 [k] or 0.
 */
export function rmsNorm(x: usize, w: usize, o: usize, k: i32, eps: f32, t0: i32, t1: i32): void {
  const k4 = <usize>(k & ~3);
  for (let t = t0; t < t1; t++) {
    const xr = x + (<usize>t * <usize>k << 2);
    const or = o + (<usize>t * <usize>k << 2);
    let acc = f32x4.splat(0);
    for (let i: usize = 0; i < k4; i += 4) {
      const v = v128.load(xr + (i << 2));
      acc = f32x4.add(acc, f32x4.mul(v, v));
    }
    let ss = hsumF32(acc);
    for (let i = k4; i < <usize>k; i++) {
      const v = load<f32>(xr + (i << 2));
      ss += v * v;
    }
    const scale: f32 = <f32>1.0 / Mathf.sqrt(ss / <f32>k + eps);
    const sv = f32x4.splat(scale);
    if (w) {
      for (let i: usize = 0; i < k4; i += 4) {
        v128.store(or + (i << 2), f32x4.mul(f32x4.mul(v128.load(xr + (i << 2)), sv), v128.load(w + (i << 2))));
      }
      for (let i = k4; i < <usize>k; i++) store<f32>(or + (i << 2), load<f32>(xr + (i << 2)) * scale * load<f32>(w + (i << 2)));
    } else {
      for (let i: usize = 0; i < k4; i += 4) v128.store(or + (i << 2), f32x4.mul(v128.load(xr + (i << 2)), sv));
      for (let i = k4; i < <usize>k; i++) store<f32>(or + (i << 2), load<f32>(xr + (i << 2)) * scale);
    }
  }
}

/**
 * Rotary position embedding, in place, on x: f32 [n][nHeads·headDim], for tokens [t0, t1). The first nRot
 * dims of each head rotate: pair i (0 <= i < nRot/2) is (2i, 2i+1) (adjacent: llama / GGML "normal" mode) or
 * (i, i + nRot/2) (neox != 0). cs: f32 [n][nRot/2][2] = (cos, sin) of each token's angles, computed by the caller
 * (src/runtime/cpu/kernels.ts follows llama.cpp: theta_0 = pos, theta_{i+1} = theta_i · base^(−2/nRot) in f32).
 */
export function rope(x: usize, nHeads: i32, headDim: i32, nRot: i32, cs: usize, neox: i32, t0: i32, t1: i32): void {
  const half = nRot >> 1;
  const rowBytes = <usize>(nHeads * headDim) << 2;
  // a·c − b·s and a·s + b·c, each product rounded and then added, in every path (so vector and scalar lanes agree)
  const sign = f32x4(-1, 1, -1, 1);
  for (let t = t0; t < t1; t++) {
    const xr = x + <usize>t * rowBytes;
    const ct = cs + (<usize>t * <usize>half << 3);
    for (let h = 0; h < nHeads; h++) {
      const hp = xr + (<usize>(h * headDim) << 2);
      let i = 0;
      if (neox) {
        // pairs (i, i + half): four of each half at a time, the table's (cos, sin) pairs split into cos and sin
        for (; i + 4 <= half; i += 4) {
          const p0 = v128.load(ct + (<usize>i << 3)), p1 = v128.load(ct + (<usize>i << 3), 16);
          const c = i32x4.shuffle(p0, p1, 0, 2, 4, 6), s = i32x4.shuffle(p0, p1, 1, 3, 5, 7);
          const pa = hp + (<usize>i << 2), pb = hp + (<usize>(i + half) << 2);
          const a = v128.load(pa), b = v128.load(pb);
          v128.store(pa, f32x4.sub(f32x4.mul(a, c), f32x4.mul(b, s)));
          v128.store(pb, f32x4.add(f32x4.mul(a, s), f32x4.mul(b, c)));
        }
      } else {
        // adjacent pairs (2i, 2i + 1): two pairs (a0 b0 a1 b1) per vector; (b·c) + (a·s) is a·s + b·c exactly
        for (; i + 2 <= half; i += 2) {
          const p = v128.load(ct + (<usize>i << 3));
          const cc = i32x4.shuffle(p, p, 0, 0, 2, 2), ss = i32x4.shuffle(p, p, 1, 1, 3, 3);
          const at = hp + (<usize>i << 3);
          const v = v128.load(at);
          const swapped = i32x4.shuffle(v, v, 1, 0, 3, 2);
          v128.store(at, f32x4.add(f32x4.mul(v, cc), f32x4.mul(f32x4.mul(swapped, ss), sign)));
        }
      }
      for (; i < half; i++) {
        const c = load<f32>(ct + (<usize>i << 3));
        const s = load<f32>(ct + (<usize>i << 3), 4);
        const ia: usize = neox ? <usize>i : <usize>(2 * i);
        const ib: usize = neox ? <usize>(i + half) : <usize>(2 * i + 1);
        const a = load<f32>(hp + (ia << 2));
        const b = load<f32>(hp + (ib << 2));
        store<f32>(hp + (ia << 2), a * c - b * s);
        store<f32>(hp + (ib << 2), a * s + b * c);
      }
    }
  }
}

/** Row-wise softmax of scale·x, in place, on rows [t0, t1) of len values (row stride len). */
export function softmax(x: usize, len: i32, scale: f32, t0: i32, t1: i32): void {
  const l4 = <usize>(len & ~3);
  const sv = f32x4.splat(scale);
  for (let t = t0; t < t1; t++) {
    const xr = x + (<usize>t * <usize>len << 2);
    let mv = f32x4.splat(-Infinity);
    for (let i: usize = 0; i < l4; i += 4) mv = f32x4.pmax(mv, f32x4.mul(v128.load(xr + (i << 2)), sv));
    let m = hmaxF32(mv);
    for (let i = l4; i < <usize>len; i++) m = max(m, load<f32>(xr + (i << 2)) * scale);
    if (m == -Infinity) m = 0; // a row of -inf (fully masked): all-zero output instead of NaN
    const mm = f32x4.splat(m);
    let acc = f32x4.splat(0);
    for (let i: usize = 0; i < l4; i += 4) {
      const e = expF32x4(f32x4.sub(f32x4.mul(v128.load(xr + (i << 2)), sv), mm));
      v128.store(xr + (i << 2), e);
      acc = f32x4.add(acc, e);
    }
    let sum = hsumF32(acc);
    for (let i = l4; i < <usize>len; i++) {
      const e = f32x4.extract_lane(expF32x4(f32x4.splat(load<f32>(xr + (i << 2)) * scale - m)), 0);
      store<f32>(xr + (i << 2), e);
      sum += e;
    }
    const inv: f32 = sum > 0 ? <f32>1.0 / sum : 0;
    const iv = f32x4.splat(inv);
    for (let i: usize = 0; i < l4; i += 4) v128.store(xr + (i << 2), f32x4.mul(v128.load(xr + (i << 2)), iv));
    for (let i = l4; i < <usize>len; i++) store<f32>(xr + (i << 2), load<f32>(xr + (i << 2)) * inv);
  }
}

@inline function act(kind: i32, g: v128): v128 {
  if (kind == ACT_SILU) {
    // g / (1 + e^-g)
    return f32x4.div(g, f32x4.add(f32x4.splat(1), expF32x4(f32x4.neg(g))));
  }
  const r = f32x4.pmax(g, f32x4.splat(0));
  return f32x4.mul(r, r);
}

@inline function gluT(kind: i32, g: usize, u: usize, o: usize, e0: i32, e1: i32): void {
  let i = <usize>e0;
  const end = <usize>e1;
  for (; i + 4 <= end; i += 4) {
    let v = act(kind, v128.load(g + (i << 2)));
    if (u) v = f32x4.mul(v, v128.load(u + (i << 2)));
    v128.store(o + (i << 2), v);
  }
  for (; i < end; i++) {
    let v = f32x4.extract_lane(act(kind, f32x4.splat(load<f32>(g + (i << 2)))), 0);
    if (u) v *= load<f32>(u + (i << 2));
    store<f32>(o + (i << 2), v);
  }
}

/**
 * Gated activation, element-wise on [e0, e1): o = act(g) ⊙ u (u = 0: o = act(g)).
 * kind ACT_SILU: silu(g) = g/(1+e^-g) (SwiGLU); ACT_RELU2: relu(g)² (BitNet b1.58's ReLU²). o may alias g or u.
 */
export function glu(kind: i32, g: usize, u: usize, o: usize, e0: i32, e1: i32): void {
  if (kind == ACT_SILU) gluT(ACT_SILU, g, u, o, e0, e1);
  else gluT(ACT_RELU2, g, u, o, e0, e1);
}

/** x += y element-wise on [e0, e1): the residual stream's adds (f32, one rounding each, as a scalar add). */
export function addInto(x: usize, y: usize, e0: i32, e1: i32): void {
  let i = <usize>e0;
  const end = <usize>e1;
  for (; i + 4 <= end; i += 4) v128.store(x + (i << 2), f32x4.add(v128.load(x + (i << 2)), v128.load(y + (i << 2))));
  for (; i < end; i++) store<f32>(x + (i << 2), load<f32>(x + (i << 2)) + load<f32>(y + (i << 2)));
}
