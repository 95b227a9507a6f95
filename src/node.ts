// Node (and Deno, through its node: compatibility) entry: everything in ./index.ts plus reading a local file and
// the model cache (pulling hf: references and URLs, listing and removing them).
export * from "./index.ts";
export { openFileSource, type FileSource } from "./runtime/gguf/source-node.ts";
export {
  cachedModel,
  cacheDirectory,
  listCachedModels,
  pullModel,
  removeCachedModel,
  type CacheEntry,
  type CacheOptions,
  type PullOptions,
  type PullResult,
} from "./runtime/hub/cache-node.ts";
