// Addressing of ternary code rows in wasm memory (the byte layout is described in ./layout.ts): T2 code rows of
// 32-byte chunks per 128 weights, held in row quads, and their per-group scales, quad-major.

/** Bytes of one T2 code row of k weights: ceil(k/128) chunks of 32 bytes. */
export function codeRowBytes(k: number): number {
  return Math.ceil(k / 128) * 32;
}

/** Offset in a matrix's row quads of byte B of row r's T2 row (rowBytes: one T2 row). */
export function quadByteOffset(rowBytes: number, r: number, B: number): number {
  return (r >> 2) * 4 * rowBytes + 64 * (B >> 4) + 16 * ((B & 15) >> 2) + 4 * (r & 3) + (B & 3);
}

/** Index (in f32s) of row r's scale (or shift) of group g, in a matrix of `groups` groups a row: quad-major. */
export function scaleIndex(groups: number, r: number, g: number): number {
  return (r >> 2) * 4 * groups + 4 * g + (r & 3);
}

/** Bytes between neighbouring row quads' scales: what the kernels take as `sgs`. */
export function scaleQuadStride(groups: number): number {
  return 16 * groups;
}
