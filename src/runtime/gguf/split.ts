// Split models as llama.cpp's gguf-split writes them: `<prefix>-00001-of-00003.gguf`, …, each part a GGUF with
// its share of the tensors and the keys split.no (u16, from 0), split.count (u16) and split.tensors.count (i32,
// the whole model's); the first part also holds the model's metadata. Loaded as one model: one source over the
// parts end to end and one header whose tensor offsets point into it.
import { ModelError } from "../errors.ts";
import { metaInt } from "./metadata.ts";
import { readGgufHeader } from "./reader.ts";
import type { ByteSource } from "./source.ts";
import { concatSources } from "./sources.ts";
import type { GgufHeader } from "./types.ts";

export const SPLIT_NO_KEY = "split.no";
export const SPLIT_COUNT_KEY = "split.count";
export const SPLIT_TENSORS_COUNT_KEY = "split.tensors.count";

// The part's number at the end of a file name, which may be followed by a URL's query or fragment or a model
// reference's @revision.
const PART_SUFFIX = /-(\d{5})-of-(\d{5})\.gguf(?=$|[?#@])/;

export interface SplitInfo {
  /** This part's index, from 0. */
  no: number;
  count: number;
  /** Tensors in the whole model. */
  tensors: number;
}

/** The split keys of a part, or undefined for a file that is not part of a split model (or is its only part). */
export function splitInfo(header: GgufHeader): SplitInfo | undefined {
  const count = metaInt(header.metadata, SPLIT_COUNT_KEY);
  if (count === undefined || count <= 1) return undefined;
  const no = metaInt(header.metadata, SPLIT_NO_KEY) ?? 0;
  const tensors = metaInt(header.metadata, SPLIT_TENSORS_COUNT_KEY) ?? header.tensors.length;
  return { no, count, tensors };
}

/** The name of part `no` (from 0) of `count`, from any part's name (a path, a URL, a model reference). */
export function splitPartName(name: string, no: number, count: number): string {
  if (!PART_SUFFIX.test(name)) {
    throw new ModelError(
      "SPLIT_PART_MISSING",
      `${name} is part of a split model (${count} parts) but is not named <name>-0000N-of-${pad(count)}.gguf, so the other parts cannot be found`,
    );
  }
  return name.replace(PART_SUFFIX, `-${pad(no + 1)}-of-${pad(count)}.gguf`);
}

function pad(n: number): string {
  return String(n).padStart(5, "0");
}

/** A model's bytes and its header: one file's, or a split model's parts end to end with their merged header. */
export interface GgufModel {
  source: ByteSource;
  header: GgufHeader;
}

/**
 * The model whose file, or first part, is `first`, named `name` (a path, a URL, a model reference): its header
 * and, for the first part of a split model, the other parts found by name (splitPartName) and opened with
 * `openPart`, as one source and header. A split part without a name, or a part `openPart` cannot open, is
 * SPLIT_PART_MISSING naming the part. The parts opened here close with the returned source; `first` is the
 * caller's to close when this throws.
 */
export async function openGgufModel(
  first: ByteSource,
  name: string | undefined,
  openPart: (name: string) => Promise<ByteSource>,
): Promise<GgufModel> {
  const header = await readGgufHeader(first);
  const split = splitInfo(header);
  if (!split) return { source: first, header };
  if (name === undefined) {
    throw new ModelError(
      "SPLIT_PART_MISSING",
      `the model is part ${split.no + 1} of ${split.count} of a split model: pass it by path or URL, so that the other parts can be found by name`,
    );
  }
  return openSplitModel({ source: first, name }, header, async (no) => {
    const part = splitPartName(name, no, split.count);
    try {
      return { source: await openPart(part), name: part };
    } catch (e) {
      throw new ModelError("SPLIT_PART_MISSING", `part ${no + 1} of ${split.count} of ${name} cannot be opened: ${(e as Error).message}`);
    }
  });
}

export interface OpenedPart {
  source: ByteSource;
  /** What to call it in errors (its path or URL). */
  name: string;
}

/**
 * The split model whose first part is `first` (header read already) as one source and header. `openPart` opens
 * the part with the given index (from 0); a part it cannot open, or a part that does not belong (its split.no,
 * split.count, duplicate tensors, a tensor count that does not add up), is a ModelError naming the part. Parts
 * opened here are closed when the returned source is, or at once on an error.
 */
export async function openSplitModel(
  first: OpenedPart,
  firstHeader: GgufHeader,
  openPart: (no: number) => Promise<OpenedPart>,
): Promise<{ source: ByteSource; header: GgufHeader }> {
  const info = splitInfo(firstHeader)!;
  if (info.no !== 0) {
    throw new ModelError("SPLIT_PART_MISMATCH", `${first.name} is part ${info.no + 1} of ${info.count} of a split model: load it by its first part`);
  }
  const parts: OpenedPart[] = [first];
  const headers: GgufHeader[] = [firstHeader];
  try {
    for (let no = 1; no < info.count; no++) {
      const part = await openPart(no);
      parts.push(part);
      const header = await readGgufHeader(part.source);
      const got = splitInfo(header);
      if (got?.no !== no || got.count !== info.count) {
        const was = got ? `part ${got.no + 1} of ${got.count}` : "not a part of a split model";
        throw new ModelError("SPLIT_PART_MISMATCH", `${part.name} should be part ${no + 1} of ${info.count} but is ${was}`);
      }
      headers.push(header);
    }
    const header = mergeHeaders(headers, parts, info);
    return { source: concatSources(parts.map((p) => p.source)), header };
  } catch (e) {
    for (const p of parts.slice(1)) await p.source.close?.();
    throw e;
  }
}

/**
 * One header over the parts end to end: the first part's metadata without the split keys (the merged header is
 * one model's: what is written from it, a fine-tuned student, is not a part), every part's tensors at their place.
 */
function mergeHeaders(headers: GgufHeader[], parts: OpenedPart[], info: SplitInfo): GgufHeader {
  const tensors: GgufHeader["tensors"] = [];
  const seen = new Map<string, string>();
  let base = 0;
  headers.forEach((h, k) => {
    for (const t of h.tensors) {
      const other = seen.get(t.name);
      if (other !== undefined) throw new ModelError("SPLIT_PART_MISMATCH", `tensor "${t.name}" is in both ${other} and ${parts[k]!.name}`);
      seen.set(t.name, parts[k]!.name);
      tensors.push({ ...t, offset: base + h.dataOffset + t.offset });
    }
    base += parts[k]!.source.size;
  });
  if (tensors.length !== info.tensors) {
    throw new ModelError(
      "SPLIT_PART_MISMATCH",
      `the ${info.count} parts of ${parts[0]!.name} hold ${tensors.length} tensors, its ${SPLIT_TENSORS_COUNT_KEY} says ${info.tensors}`,
    );
  }
  const first = headers[0]!;
  const metadata = new Map(first.metadata);
  for (const key of [SPLIT_NO_KEY, SPLIT_COUNT_KEY, SPLIT_TENSORS_COUNT_KEY]) metadata.delete(key);
  return { version: first.version, metadata, tensors, alignment: first.alignment, dataOffset: 0, fileSize: base };
}
