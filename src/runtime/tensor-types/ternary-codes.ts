// The ternary formats' code layouts as bytes: pack (codes 0/1/2 meaning −1/0/+1, row-major, plus scales → the
// tensor's bytes) and unpack. Used by the converters and the fine-tuning export, by the WebGPU upload (DLT codes
// from TQ2_0) and by tests; the CPU backend's own in-memory layout (row quads) is runtime/cpu/layout.ts. The
// formats themselves are described in tq2_0.ts, tq1_0.ts, i2_s.ts and runtime/model/dlt-file.ts.
import { TensorTypeError } from "../errors.ts";
import { f16BitsToF32, f32ToF16Bits } from "./half.ts";

function checkShape(type: string, m: number, k: number, rowMultiple: number): void {
  if (!Number.isInteger(m) || !Number.isInteger(k) || m < 1 || k < 1) throw new TensorTypeError("BAD_TENSOR_SHAPE", `${type}: bad shape ${m}×${k}`);
  if (k % rowMultiple) throw new TensorTypeError("BAD_TENSOR_SHAPE", `${type} needs a row length that is a multiple of ${rowMultiple}, got ${k}`);
}

/** TQ2_0 from codes (0/1/2, m·k row-major) and one d per block (m·k/256 values). */
export function packTq2_0(codes: Uint8Array, d: Float32Array, m: number, k: number): Uint8Array {
  checkShape("TQ2_0", m, k, 256);
  const nb = k / 256;
  const out = new Uint8Array(m * nb * 66);
  const dv = new DataView(out.buffer);
  for (let r = 0; r < m; r++) {
    for (let b = 0; b < nb; b++) {
      const o = (r * nb + b) * 66;
      for (let e = 0; e < 256; e++) {
        const c = codes[r * k + b * 256 + e]!;
        out[o + 32 * (e >> 7) + (e & 31)]! |= c << (2 * ((e & 127) >> 5));
      }
      dv.setUint16(o + 64, f32ToF16Bits(d[r * nb + b]!), true);
    }
  }
  return out;
}

export function unpackTq2_0(data: Uint8Array, m: number, k: number): { codes: Uint8Array; d: Float32Array } {
  const nb = k / 256;
  const codes = new Uint8Array(m * k);
  const d = new Float32Array(m * nb);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let r = 0; r < m; r++) {
    for (let b = 0; b < nb; b++) {
      const o = (r * nb + b) * 66;
      for (let e = 0; e < 256; e++) codes[r * k + b * 256 + e] = (data[o + 32 * (e >> 7) + (e & 31)]! >> (2 * ((e & 127) >> 5))) & 3;
      d[r * nb + b] = f16BitsToF32(dv.getUint16(o + 64, true));
    }
  }
  return { codes, d };
}

/** TQ1_0 from codes and one d per block (the encoding of llama.cpp's quantize_row_tq1_0_ref). */
export function packTq1_0(codes: Uint8Array, d: Float32Array, m: number, k: number): Uint8Array {
  checkShape("TQ1_0", m, k, 256);
  const nb = k / 256;
  const out = new Uint8Array(m * nb * 54);
  const dv = new DataView(out.buffer);
  const enc = (trits: number[]): number => {
    let b = 0;
    for (const t of trits) b = b * 3 + t;
    return Math.ceil((b * 256) / 243) & 0xff; // first trit most significant
  };
  for (let r = 0; r < m; r++) {
    for (let b = 0; b < nb; b++) {
      const o = (r * nb + b) * 54;
      const c = (e: number) => codes[r * k + b * 256 + e]!;
      for (let j = 0; j < 32; j++) out[o + j] = enc([0, 1, 2, 3, 4].map((n) => c(j + 32 * n)));
      for (let j = 0; j < 16; j++) out[o + 32 + j] = enc([0, 1, 2, 3, 4].map((n) => c(160 + j + 16 * n)));
      for (let j = 0; j < 4; j++) out[o + 48 + j] = enc([0, 1, 2, 3, 1].map((n, i) => (i < 4 ? c(240 + j + 4 * n) : 0)));
      dv.setUint16(o + 52, f32ToF16Bits(d[r * nb + b]!), true);
    }
  }
  return out;
}

/** Codes of a TQ1_0 tensor, decoded with the trit formula (for tests). */
export function unpackTq1_0Codes(data: Uint8Array, m: number, k: number): Uint8Array {
  const nb = k / 256;
  const codes = new Uint8Array(m * k);
  const trit = (q: number, n: number) => (((q * 3 ** n) & 0xff) * 3) >> 8;
  for (let r = 0; r < m; r++) {
    for (let b = 0; b < nb; b++) {
      const o = (r * nb + b) * 54;
      for (let e = 0; e < 256; e++) {
        let v: number;
        if (e < 160) v = trit(data[o + (e % 32)]!, Math.floor(e / 32));
        else if (e < 240) v = trit(data[o + 32 + ((e - 160) % 16)]!, Math.floor((e - 160) / 16));
        else v = trit(data[o + 48 + ((e - 240) % 4)]!, Math.floor((e - 240) / 4));
        codes[r * k + b * 256 + e] = v;
      }
    }
  }
  return codes;
}

/** I2_S tensor bytes (codes then the f32 scale, padded to numel/4 + 32). */
export function packI2_S(codes: Uint8Array, scale: number, m: number, k: number): Uint8Array {
  checkShape("I2_S", m, k, 128);
  const numel = m * k;
  const out = new Uint8Array(numel / 4 + 32);
  for (let i = 0; i < numel; i++) {
    const g = Math.floor(i / 128);
    const j = i % 128;
    out[g * 32 + (j % 32)]! |= codes[i]! << (6 - 2 * Math.floor(j / 32));
  }
  new DataView(out.buffer).setFloat32(numel / 4, scale, true);
  return out;
}

export function unpackI2_S(data: Uint8Array, m: number, k: number): { codes: Uint8Array; scale: number } {
  const numel = m * k;
  const codes = new Uint8Array(numel);
  for (let i = 0; i < numel; i++) {
    const g = Math.floor(i / 128);
    const j = i % 128;
    codes[i] = (data[g * 32 + (j % 32)]! >> (6 - 2 * Math.floor(j / 32))) & 3;
  }
  const scale = new DataView(data.buffer, data.byteOffset, data.byteLength).getFloat32(numel / 4, true);
  return { codes, scale };
}

/** DLT codes (m × ceil(k/128)·32 bytes) from codes 0/1/2 (m·k row-major). */
export function packDltCodes(codes: Uint8Array, m: number, k: number): Uint8Array {
  const rowBytes = Math.ceil(k / 128) * 32;
  const out = new Uint8Array(m * rowBytes).fill(0x55); // code 1 everywhere, padding included
  for (let r = 0; r < m; r++) {
    for (let e = 0; e < k; e++) {
      const at = r * rowBytes + 32 * (e >> 7) + (e & 31);
      const sh = 2 * ((e & 127) >> 5);
      out[at] = (out[at]! & ~(3 << sh)) | (codes[r * k + e]! << sh);
    }
  }
  return out;
}

export function unpackDltCodes(data: Uint8Array, m: number, k: number): Uint8Array {
  const rowBytes = Math.ceil(k / 128) * 32;
  const codes = new Uint8Array(m * k);
  for (let r = 0; r < m; r++) {
    for (let e = 0; e < k; e++) codes[r * k + e] = (data[r * rowBytes + 32 * (e >> 7) + (e & 31)]! >> (2 * ((e & 127) >> 5))) & 3;
  }
  return codes;
}

/** A TQ2_0 tensor's codes as DLT codes (drops each block's d; k must be a multiple of 256). */
export function dltCodesFromTq2_0(data: Uint8Array, m: number, k: number): Uint8Array {
  const nb = k / 256;
  const out = new Uint8Array(m * nb * 64);
  for (let i = 0; i < m * nb; i++) out.set(data.subarray(i * 66, i * 66 + 64), i * 64);
  return out;
}
