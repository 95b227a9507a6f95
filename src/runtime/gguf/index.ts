// The GGUF module's platform-neutral API. Node-only pieces (openFileSource, writeGgufFile) are imported from
// ./source-node.ts and ./writer-node.ts directly, so that browser bundles never see node:fs.
export * from "./types.ts";
export type { ByteSource } from "./source.ts";
export { bytesSource, blobSource, urlSource, type UrlSourceOptions } from "./sources.ts";
export { readGgufHeader, readTensorData, type ReadGgufOptions } from "./reader.ts";
export {
  writeGguf,
  writeGgufToBytes,
  planGguf,
  ggufInputFromSource,
  type ChunkSink,
  type GgufLayout,
  type GgufWriteInput,
  type GgufWriteOptions,
  type GgufWriteTensor,
  type TensorBytes,
} from "./writer.ts";
export { ALIGNMENT_KEY, DEFAULT_ALIGNMENT } from "./format.ts";
