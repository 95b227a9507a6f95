// Packed int8 arithmetic shared by the ternary kernels.
//
// Codes are 2-bit fields 0/1/2 meaning −1/0/+1. `signedCodes` takes the four fields at `shift` in each byte of a
// code word (four consecutive weights, see ternary-matmul.ts) and turns them into four signed bytes c − 1 with
// a borrow-free per-byte subtraction (the top bit set in every byte first, cleared again after), so that the
// dot product with the int8 activations is directly Σ (c − 1)·q — no activation sums to subtract.

export function intDotWgsl(packedDot: boolean): string {
  const dot = packedDot
    ? /* wgsl */ `
fn dot4(a: u32, b: u32) -> i32 { return dot4I8Packed(a, b); }`
    : /* wgsl */ `
// Polyfill of dot4I8Packed: sign-extend each byte and multiply-add.
fn dot4(a: u32, b: u32) -> i32 {
  let x = vec4<i32>(extractBits(bitcast<i32>(a), 0u, 8u), extractBits(bitcast<i32>(a), 8u, 8u),
                    extractBits(bitcast<i32>(a), 16u, 8u), extractBits(bitcast<i32>(a), 24u, 8u));
  let y = vec4<i32>(extractBits(bitcast<i32>(b), 0u, 8u), extractBits(bitcast<i32>(b), 8u, 8u),
                    extractBits(bitcast<i32>(b), 16u, 8u), extractBits(bitcast<i32>(b), 24u, 8u));
  return dot(x, y);
}`;
  return /* wgsl */ `${dot}
// Four 2-bit codes (one per byte, at bit \`shift\`) as four signed bytes code − 1.
fn signedCodes(w: u32, shift: u32) -> u32 {
  let c = (w >> shift) & 0x03030303u;
  return ((c | 0x80808080u) - 0x01010101u) ^ 0x80808080u;
}`;
}
