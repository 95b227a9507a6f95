// How float weights sit in a GPU buffer of u32 words, and their WGSL decoders. Rows are word-aligned:
//   f32  one value per word                     rowWords = k
//   f16  two per word (element 2i in the low half) rowWords = k/2 (k even)
//   bf16 two per word, likewise                   rowWords = k/2
//   q8_0 four int8 per word, an f32 scale per 32   rowWords = k/4; scales f32 [rows][k/32] in `wscale`
// `ELEMS` values per word; `wordValues(row, w)` returns them (unused lanes 0).
export type FloatFormat = "f32" | "f16" | "bf16" | "q8_0";

export const ELEMENTS_PER_WORD: Record<FloatFormat, number> = { f32: 1, f16: 2, bf16: 2, q8_0: 4 };

/** Needs bindings `w` (array<u32>) and, for q8_0, `wscale` (array<f32>), and `P.rowWords`, `P.k`. */
export function floatFormatWgsl(format: FloatFormat): string {
  const elems = ELEMENTS_PER_WORD[format];
  const decode: Record<FloatFormat, string> = {
    f32: `return vec4<f32>(bitcast<f32>(v), 0.0, 0.0, 0.0);`,
    f16: `let h = unpack2x16float(v);
  return vec4<f32>(h.x, h.y, 0.0, 0.0);`,
    bf16: `return vec4<f32>(bitcast<f32>(v << 16u), bitcast<f32>(v & 0xffff0000u), 0.0, 0.0);`,
    q8_0: `let s = wscale[row * (P.k / 32u) + wi / 8u];
  let i = bitcast<i32>(v);
  return vec4<f32>(f32(extractBits(i, 0u, 8u)), f32(extractBits(i, 8u, 8u)), f32(extractBits(i, 16u, 8u)), f32(extractBits(i, 24u, 8u))) * s;`,
  };
  return /* wgsl */ `
const ELEMS = ${elems}u;
fn wordValues(row: u32, wi: u32) -> vec4<f32> {
  let v = w[row * P.rowWords + wi];
  ${decode[format]}
}`;
}
