// Writes a model as llama.cpp's gguf-split does (tools/gguf-split/gguf-split.cpp in llama.cpp): parts named
// <prefix>-0000N-of-0000M.gguf, tensors in file order split into consecutive runs, the first part with the whole
// metadata, every part with split.no (u16, from 0), split.count (u16) and split.tensors.count (i32).
import { readGgufHeader } from "../../src/runtime/gguf/reader.ts";
import { bytesSource } from "../../src/runtime/gguf/sources.ts";
import { SPLIT_COUNT_KEY, SPLIT_NO_KEY, SPLIT_TENSORS_COUNT_KEY } from "../../src/runtime/gguf/split.ts";
import { type GgufValue, GgufValueType } from "../../src/runtime/gguf/types.ts";
import { ggufInputFromSource, writeGgufToBytes } from "../../src/runtime/gguf/writer.ts";

/** The parts' file names and bytes, in order. */
export async function splitGguf(model: Uint8Array, prefix: string, count: number): Promise<{ name: string; bytes: Uint8Array }[]> {
  const source = bytesSource(model);
  const header = await readGgufHeader(source);
  const { version, metadata, tensors } = ggufInputFromSource(source, header);
  const per = Math.ceil(tensors.length / count);
  const parts = [];
  for (let no = 0; no < count; no++) {
    const split = new Map<string, GgufValue>([
      [SPLIT_NO_KEY, { type: GgufValueType.UINT16, value: no }],
      [SPLIT_COUNT_KEY, { type: GgufValueType.UINT16, value: count }],
      [SPLIT_TENSORS_COUNT_KEY, { type: GgufValueType.INT32, value: tensors.length }],
    ]);
    const bytes = await writeGgufToBytes({
      version,
      metadata: no === 0 ? new Map([...metadata, ...split]) : split,
      tensors: tensors.slice(no * per, (no + 1) * per),
    });
    const pad = (n: number) => String(n).padStart(5, "0");
    parts.push({ name: `${prefix}-${pad(no + 1)}-of-${pad(count)}.gguf`, bytes });
  }
  return parts;
}
