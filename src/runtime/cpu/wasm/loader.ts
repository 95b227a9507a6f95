// Finds, loads and compiles the kernel module (dist/wasm/ternion-{simd,relaxed}.wasm), picking the build by
// feature detection. Works from the sources (vitest runs src/*.ts; the wasm is in dist/wasm/), from the esbuild
// bundles in dist/ (dist/node.js next to dist/wasm/), in browsers (fetch relative to the module), or with the
// bytes passed in by the caller.
import { TernionError } from "../../errors.ts";
import { relaxedSimdHint, relaxedSimdSupported, simdSupported } from "./features.ts";

export type SimdBuild = "relaxed" | "simd128";

/** Where the wasm comes from: bytes per build, or a base URL/directory holding ternion-{simd,relaxed}.wasm. */
export type WasmSource = { relaxed?: BufferSource; simd128?: BufferSource } | { baseUrl: string | URL };

export interface LoadOptions {
  /** "auto" (default): relaxed when the engine has it, else simd128. */
  simd?: "auto" | SimdBuild;
  wasm?: WasmSource;
  /** false: patch the module to import an unshared memory (no SharedArrayBuffer; single thread). */
  sharedMemory?: boolean;
  /** URLs of the builds tried first when `wasm` is not given (createEngine passes its worker wasmBesideBundle()). */
  wasmUrls?: Partial<Record<SimdBuild, string>>;
}

export interface LoadedKernels {
  module: WebAssembly.Module;
  build: SimdBuild;
  /** Why this build was chosen. */
  reason: string;
  sharedMemory: boolean;
  /** Where the bytes came from (path or URL), or "bytes". */
  from: string;
  /** The compiled bytes (for workers that cannot receive a WebAssembly.Module). */
  bytes: Uint8Array;
}

const FILE: Record<SimdBuild, string> = { relaxed: "ternion-relaxed.wasm", simd128: "ternion-simd.wasm" };

/**
 * The wasm beside the bundle (dist/wasm/ next to dist/*.js), written as literal `new URL("./…", import.meta.url)`
 * expressions: the form bundlers (Vite, webpack, Parcel, Rollup's plugins) find, emit and rewrite.
 */
function besideBundle(build: SimdBuild): URL {
  return build === "relaxed" ? new URL("./wasm/ternion-relaxed.wasm", import.meta.url) : new URL("./wasm/ternion-simd.wasm", import.meta.url);
}

/** Both builds' URLs beside this bundle (what a bundler rewrote them to), for a worker that cannot see them. */
export function wasmBesideBundle(): Record<SimdBuild, string> {
  return { relaxed: besideBundle("relaxed").href, simd128: besideBundle("simd128").href };
}

/** Further candidate locations relative to this module: the sources (src/runtime/cpu/wasm/*.ts) and other layouts. */
const CANDIDATES = ["../../../../dist/wasm/", "../wasm/", "../../wasm/", "../dist/wasm/"];

/** The wasm that ternion/inline embeds (base64 in its bundle): used when no source is passed. */
let embedded: ((build: SimdBuild) => Uint8Array) | undefined;

/** Makes `bytes(build)` the wasm used when no source is passed (ternion/inline: nothing is fetched). */
export function setEmbeddedWasm(bytes: (build: SimdBuild) => Uint8Array): void {
  embedded = bytes;
}

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === "string";
}

async function readUrl(url: URL): Promise<Uint8Array | undefined> {
  if (url.protocol === "file:" && isNode()) {
    const fsName = "node:fs/promises";
    const urlName = "node:url";
    const fs = (await import(/* @vite-ignore */ fsName)) as typeof import("node:fs/promises");
    const { fileURLToPath } = (await import(/* @vite-ignore */ urlName)) as typeof import("node:url");
    try {
      return new Uint8Array(await fs.readFile(fileURLToPath(url)));
    } catch {
      return undefined;
    }
  }
  try {
    const res = await fetch(url);
    if (!res.ok) return undefined;
    return new Uint8Array(await res.arrayBuffer());
  } catch {
    return undefined;
  }
}

function toBytes(b: BufferSource): Uint8Array {
  return b instanceof Uint8Array ? b : ArrayBuffer.isView(b) ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength) : new Uint8Array(b);
}

/** The bytes of one build. */
export async function loadWasmBytes(
  build: SimdBuild,
  source?: WasmSource,
  first?: Partial<Record<SimdBuild, string>>,
): Promise<{ bytes: Uint8Array; from: string }> {
  if (source && !("baseUrl" in source)) {
    const b = source[build];
    if (!b) throw new TernionError("WASM_NOT_FOUND", `no bytes passed for the ${build} build`);
    return { bytes: toBytes(b), from: "bytes" };
  }
  if (!source && embedded) return { bytes: embedded(build), from: "embedded" };
  const tried: string[] = [];
  const urls =
    source && "baseUrl" in source
      ? [new URL(FILE[build], new URL(String(source.baseUrl).replace(/\/?$/, "/"), import.meta.url))]
      : [
          ...(first?.[build] ? [new URL(first[build])] : []),
          besideBundle(build),
          ...CANDIDATES.map((c) => new URL(FILE[build], new URL(c, import.meta.url))),
        ];
  for (const url of urls) {
    tried.push(url.href);
    const bytes = await readUrl(url);
    if (bytes) return { bytes, from: url.href };
  }
  throw new TernionError("WASM_NOT_FOUND", `cannot find ${FILE[build]} (run \`npm run build:wasm\`, or pass the bytes); tried: ${tried.join(", ")}`);
}

function readLeb(b: Uint8Array, p: number): [number, number] {
  let v = 0;
  let shift = 0;
  for (;;) {
    const byte = b[p++]!;
    v += (byte & 0x7f) * 2 ** shift;
    if (!(byte & 0x80)) return [v, p];
    shift += 7;
  }
}

/**
 * A copy of a module whose memory import is made unshared (limits flag 0x03 → 0x01), for environments without
 * SharedArrayBuffer. The kernels use no atomic instructions, so the module stays valid.
 */
export function unshareMemoryImport(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  let p = 8;
  while (p < out.length) {
    const id = out[p++]!;
    let size: number;
    [size, p] = readLeb(out, p);
    const end = p + size;
    if (id === 2) {
      let count: number;
      [count, p] = readLeb(out, p);
      for (let i = 0; i < count; i++) {
        for (let s = 0; s < 2; s++) {
          let len: number;
          [len, p] = readLeb(out, p);
          p += len;
        }
        const kind = out[p++]!;
        if (kind === 0) [, p] = readLeb(out, p);
        else if (kind === 1 || kind === 2) {
          if (kind === 1) p++; // reftype
          const flagsAt = p;
          const flags = out[p++]!;
          [, p] = readLeb(out, p);
          if (flags & 1) [, p] = readLeb(out, p);
          if (kind === 2 && flags & 2) out[flagsAt] = flags & ~2;
        } else if (kind === 3) p += 2;
        else throw new TernionError("WASM_INVALID", `unexpected import kind ${kind}`);
      }
      return out;
    }
    p = end;
  }
  return out;
}

const moduleCache = new Map<string, Promise<LoadedKernels>>();

/** Loads and compiles the kernels (cached per build, source and sharing). */
export function loadKernels(opts: LoadOptions = {}): Promise<LoadedKernels> {
  if (!simdSupported()) {
    return Promise.reject(new TernionError("WASM_UNSUPPORTED", "this engine lacks WebAssembly SIMD, which ternion's CPU kernels need"));
  }
  const want = opts.simd ?? "auto";
  let build: SimdBuild;
  let reason: string;
  if (want === "relaxed") {
    if (!relaxedSimdSupported()) {
      return Promise.reject(new TernionError("WASM_UNSUPPORTED", `relaxed SIMD was asked for but ${relaxedSimdHint()}`));
    }
    build = "relaxed";
    reason = "relaxed SIMD requested";
  } else if (want === "simd128") {
    build = "simd128";
    reason = "simd128 requested";
  } else if (relaxedSimdSupported()) {
    build = "relaxed";
    reason = "relaxed SIMD detected";
  } else {
    build = "simd128";
    reason = `no relaxed SIMD: ${relaxedSimdHint()}`;
  }
  const shared = opts.sharedMemory ?? true;
  // Only modules found by location are cached (bytes passed in are the caller's to keep); the key names the
  // location itself, so two wasm directories never share a module.
  const cacheable = opts.wasm === undefined || "baseUrl" in opts.wasm;
  const location = opts.wasm !== undefined && "baseUrl" in opts.wasm ? String(opts.wasm.baseUrl) : (opts.wasmUrls?.[build] ?? "");
  const key = `${build}|${shared}|${location}`;
  const hit = cacheable ? moduleCache.get(key) : undefined;
  if (hit) return hit;
  const p = (async (): Promise<LoadedKernels> => {
    const { bytes, from } = await loadWasmBytes(build, opts.wasm, opts.wasmUrls);
    const final = shared ? bytes : unshareMemoryImport(bytes);
    const module = await WebAssembly.compile(final as Uint8Array<ArrayBuffer>);
    return { module, build, reason, sharedMemory: shared, from, bytes: final };
  })();
  if (cacheable) {
    moduleCache.set(key, p);
    p.catch(() => moduleCache.delete(key));
  }
  return p;
}
