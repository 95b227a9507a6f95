// GPT-2's reversible byte ↔ character map. Byte-level BPE vocabularies store every token as a string of these
// characters: printable Latin-1 bytes stand for themselves, the other 68 bytes (controls, space, 0x7F–0xA0,
// 0xAD) are shifted to U+0100… so that no token contains whitespace or control characters.

function buildByteToChar(): string[] {
  const map: (string | undefined)[] = new Array(256);
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  for (let b = 0; b < 256; b++) if (printable(b)) map[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (map[b] === undefined) map[b] = String.fromCharCode(256 + n++);
  return map as string[];
}

/** BYTE_TO_CHAR[b] is the one-character string that stands for byte b. */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

/** Code point → byte, the inverse of BYTE_TO_CHAR. */
export const CHAR_TO_BYTE: ReadonlyMap<number, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c.charCodeAt(0), b]));

const encoder = new TextEncoder();

/** The UTF-8 bytes of `text`, each written as its GPT-2 character. */
export function byteEncode(text: string): string {
  const bytes = encoder.encode(text);
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += BYTE_TO_CHAR[bytes[i]!];
  return out;
}
